'use strict';
// rsocket-js 1.0.0-alpha.3 resumable server (TCP), for the resumption interop tests.
//
//   node tests/interop/peers/js_v1/resume_server.js --port P [--session-timeout-ms MS] [--gate-at K1,K2,...]
//
// stdout, one event per line (everything else goes to stderr):
//   READY <port>               once listening on 127.0.0.1 (port 0 picks a free port); always first
//   GATE <k>                   the stream has just emitted item k and holds until stdin says `GO <k>`
//   RESUME <json>              a RESUME arrived: {major, minor, client_position, server_position, token}
//   RESUME_OK <json>           the library answered it: {client_position, resent}, resent = the
//                              stream frames it sent again right after RESUME_OK
//   REFUSED <json>             the library answered a RESUME with ERROR: {code, message}
//   SESSION_CLOSED <hex token> a resumable session ended (sessionTimeout expired, or an ERROR)
//
// Interactions (one client per process; data is UTF-8 text):
// * request/stream `{"count": N, "pad": P}` -> items `i|` + P dots, i = 0 .. N-1, produced only as
//   request-n credit arrives. With --gate-at the stream stops right after emitting each listed item
//   until the test releases it, so that the test can cut the connection at a known point of the
//   stream while the requester still has credit: the items that follow are then produced into a
//   detached session and can only arrive by retransmission.
// * request/response `d` -> `echo:d#c`, c = how many times this server has seen `d`. A request that a
//   resuming requester delivers twice therefore answers `#2`: the requester checks exactly-once.
// * request/channel: echoes every payload, in order; inbound demand mirrors outbound demand.
//
// Resumption is rsocket-js's own: RSocketServer `resume: {sessionTimeout}` keeps a session store
// keyed by the token (as `Buffer.toString()`, i.e. lossy UTF-8: distinct binary tokens can collide;
// one client per process never meets that). sessionTimeout must be given: left undefined, a
// detached session is dropped at once (setTimeout(close, undefined)).
// Peer bug: a session closed by sessionTimeout stays in the store, so a RESUME that comes later is
// answered RESUME_OK on a dead session (its streams are gone and never answer) instead of
// ERROR[REJECTED_RESUME]. Only a token this process never saw is refused.

const net = require('net');
const readline = require('readline');
const {RSocketServer, FrameTypes} = require('rsocket-core');
const {TcpServerTransport} = require('rsocket-tcp-server');

const MAX_REQUEST_N = 0x7fffffff;

function parseArgs(argv) {
  const out = {host: '127.0.0.1', port: null, sessionTimeoutMs: 60000, gates: []};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (i + 1 >= argv.length) {
      throw new Error(`missing value for ${arg}`);
    }
    const value = argv[++i];
    if (arg === '--port') {
      out.port = Number.parseInt(value, 10);
    } else if (arg === '--session-timeout-ms') {
      out.sessionTimeoutMs = Number.parseInt(value, 10);
    } else if (arg === '--gate-at') {
      out.gates = value === '' ? [] : value.split(',').map(v => Number.parseInt(v, 10));
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  if (!Number.isInteger(out.sessionTimeoutMs) || out.sessionTimeoutMs <= 0) {
    throw new Error('--session-timeout-ms must be a positive integer');
  }
  if (out.gates.some(g => !Number.isInteger(g) || g < 0)) {
    throw new Error('--gate-at takes non-negative item indices');
  }
  return out;
}

function emit(line) {
  process.stdout.write(`${line}\n`);
}

function item(i, pad) {
  return Buffer.from(`${i}|${'.'.repeat(pad)}`, 'utf8');
}

// Gates: the stream parks at a gate until the matching `GO <k>` line arrives on stdin.
class Gates {
  constructor(indices) {
    this.pending = new Set(indices);
    this.waiters = new Map();
    readline.createInterface({input: process.stdin}).on('line', line => {
      const match = /^GO (\d+)$/.exec(line.trim());
      if (!match) {
        process.stderr.write(`ignoring stdin line ${JSON.stringify(line)}\n`);
        return;
      }
      const k = Number.parseInt(match[1], 10);
      this.pending.delete(k);
      const waiter = this.waiters.get(k);
      this.waiters.delete(k);
      if (waiter) {
        waiter();
      }
    });
  }

  // True when item k is a closed gate; `then` runs once it opens.
  hold(k, then) {
    if (!this.pending.has(k)) {
      return false;
    }
    this.waiters.set(k, then);
    emit(`GATE ${k}`);
    return true;
  }
}

function streamResponder(count, pad, initialRequestN, sink, gates) {
  let next = 0;
  let credit = 0;
  let parked = false;
  let done = false;
  const pump = () => {
    while (!done && !parked && credit > 0 && next < count) {
      const i = next;
      next += 1;
      credit -= 1;
      const last = next === count;
      done = last;
      sink.onNext({data: item(i, pad)}, last); // C on the last item, as this library does
      if (!last && gates.hold(i, () => {
        parked = false;
        pump();
      })) {
        parked = true;
      }
    }
    if (!done && count === 0) {
      done = true;
      sink.onComplete();
    }
  };
  const receiver = {
    request: n => {
      credit = Math.min(MAX_REQUEST_N, credit + n);
      pump();
    },
    cancel: () => {
      done = true;
    },
    onExtension: () => {},
  };
  receiver.request(initialRequestN);
  return receiver;
}

function channelResponder(first, initialRequestN, isCompleted, sink) {
  const buffer = [first];
  let credit = 0;
  let inboundDone = isCompleted;
  let outboundDone = false;
  let cancelled = false;
  let firstCredit = true;
  const flush = () => {
    while (!cancelled && !outboundDone && credit > 0 && buffer.length > 0) {
      credit -= 1;
      const p = buffer.shift();
      const last = inboundDone && buffer.length === 0;
      outboundDone = last;
      sink.onNext({data: p.data}, last);
    }
    if (!cancelled && !outboundDone && inboundDone && buffer.length === 0) {
      outboundDone = true;
      sink.onComplete();
    }
  };
  const grant = n => {
    credit = Math.min(MAX_REQUEST_N, credit + n);
    // The first payload came with REQUEST_CHANNEL and used one unit of the requester's demand.
    const ask = firstCredit ? n - 1 : n;
    firstCredit = false;
    if (ask > 0 && !inboundDone) {
      sink.request(ask);
    }
    flush();
  };
  const receiver = {
    onNext: (payload, isComplete) => {
      buffer.push(payload);
      inboundDone = inboundDone || isComplete;
      flush();
    },
    onComplete: () => {
      inboundDone = true;
      flush();
    },
    onError: err => {
      process.stderr.write(`channel inbound error: ${err.message}\n`);
      cancelled = true;
    },
    onExtension: () => {},
    request: n => grant(n),
    cancel: () => {
      cancelled = true;
    },
  };
  grant(initialRequestN);
  return receiver;
}

function makeResponder(gates, seen) {
  const cancellable = {cancel: () => {}, onExtension: () => {}};
  return {
    requestResponse: (payload, sink) => {
      const d = payload.data ? payload.data.toString('utf8') : '';
      const c = (seen.get(d) || 0) + 1;
      seen.set(d, c);
      sink.onNext({data: Buffer.from(`echo:${d}#${c}`, 'utf8')}, true);
      return cancellable;
    },
    requestStream: (payload, initialRequestN, sink) => {
      let spec;
      try {
        spec = JSON.parse(payload.data.toString('utf8'));
      } catch (err) {
        sink.onError(new Error(`bad stream request: ${err.message}`));
        return {request: () => {}, ...cancellable};
      }
      return streamResponder(spec.count, spec.pad || 0, initialRequestN, sink, gates);
    },
    requestChannel: (payload, initialRequestN, isCompleted, sink) =>
      channelResponder(payload, initialRequestN, isCompleted, sink),
    fireAndForget: () => cancellable,
  };
}

// Reports the resume handshake as the library performs it, by watching the first frame of each
// connection and what the library answers on that connection.
class ObservedServerTransport {
  constructor(inner) {
    this.inner = inner;
  }

  bind(connectionAcceptor, multiplexerDemultiplexerFactory) {
    return this.inner.bind(connectionAcceptor, (frame, outbound) => {
      if (frame.type === FrameTypes.RESUME) {
        emit(
          `RESUME ${JSON.stringify({
            major: frame.majorVersion,
            minor: frame.minorVersion,
            client_position: frame.clientPosition,
            server_position: frame.serverPosition,
            token: frame.resumeToken.toString('hex'),
          })}`,
        );
        // The library answers and retransmits inside the factory call below; report once it is done.
        let resumeOk = null;
        let resent = 0;
        let handshaking = true;
        const send = outbound.send.bind(outbound);
        outbound.send = f => {
          if (f.type === FrameTypes.RESUME_OK) {
            resumeOk = {client_position: f.clientPosition};
          } else if (f.type === FrameTypes.ERROR && f.streamId === 0) {
            emit(`REFUSED ${JSON.stringify({code: f.code, message: f.message})}`);
          } else if (handshaking && f.streamId !== 0) {
            resent += 1;
          }
          send(f);
        };
        const mux = multiplexerDemultiplexerFactory(frame, outbound);
        handshaking = false;
        if (resumeOk !== null) {
          emit(`RESUME_OK ${JSON.stringify({...resumeOk, resent})}`);
        }
        return mux;
      }
      const mux = multiplexerDemultiplexerFactory(frame, outbound);
      if (frame.type === FrameTypes.SETUP && frame.resumeToken) {
        const token = frame.resumeToken.toString('hex');
        mux.onClose(() => emit(`SESSION_CLOSED ${token}`));
      }
      return mux;
    });
  }
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    process.exit(2);
  }
  const gates = new Gates(args.gates);
  const seen = new Map();
  const transport = new ObservedServerTransport(
    new TcpServerTransport({
      listenOptions: {host: args.host, port: args.port},
      serverOptions: {noDelay: true},
      socketCreator: options => {
        const server = new net.Server(options);
        server.on('connection', socket => socket.setNoDelay(true));
        return server;
      },
    }),
  );
  const server = new RSocketServer({
    transport,
    resume: {sessionTimeout: args.sessionTimeoutMs},
    acceptor: {accept: async () => makeResponder(gates, seen)},
  });
  const closeable = await server.bind();
  emit(`READY ${closeable.server.address().port}`);
  const stop = () => {
    closeable.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(err => {
  process.stderr.write(`server failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
