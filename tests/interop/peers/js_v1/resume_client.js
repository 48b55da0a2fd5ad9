'use strict';
// rsocket-js 1.0.0-alpha.3 resumable client (TCP), for the resumption interop tests.
//
//   node tests/interop/peers/js_v1/resume_client.js --port P [--count N] [--batch B] [--pad P]
//        [--every E] [--timeout-ms MS] [--keepalive-ms MS] [--lifetime-ms MS] [--reconnect-ms MS]
//        [--reconnect-on-stdin]
//
// The scenario, against a server with the semantics of resume_server.js:
// * one request/stream `{"count": N, "pad": P}` pulled in request-n batches of B: every item
//   `i|<P dots>` must arrive exactly once, in order, and the stream must complete after item N-1;
// * every E stream items, one request/response `rr-<i>` (its answer must be `echo:rr-<i>#1`: the
//   server saw it exactly once) and one channel payload `ch-<i>` on a single echo channel opened
//   at the start; the channel completes after the stream and must echo every payload once, in order.
// The extra requests are driven by stream progress, so they interleave with the stream's frames
// in both directions; the `RR` command below adds one exactly where the test wants it.
//
// stdin: a line `RR <tag>` sends one more request/response `<tag>` at once (checked like the
// others) and answers `SENT <tag>` on stdout once the library has written it to the socket: the
// test uses it to have a request in flight when it cuts the connection. With --reconnect-on-stdin
// each reconnection waits (after --reconnect-ms) for a line `RECONNECT`, so that the test decides
// when the RESUME goes out.
//
// stdout: `RESUMED <k>` each time RESUME_OK has been handled (k = 1, 2, ...), after the library
// has re-armed its reconnect-on-close for the new connection; `SENT <tag>` (see stdin); then one
// JSON result line. `resumes[].resent` counts the stream frames the library sent again right
// after each RESUME_OK; `connection_errors` lists the ERROR frames received on stream 0.
// Exit code 0 whenever the scenario ran. stderr: diagnostics.
//
// Peer limitations this runner lives with (see peers.md and the interop test):
// * the RESUME frame carries majorVersion/minorVersion swapped (it says 0.1);
// * a connection that dies before RESUME_OK is never replaced (reconnect-on-close is re-armed only
//   by RESUME_OK), so whoever cuts must wait for `RESUMED <k>` before cutting again;
// * its keepalive sender and checker are closed with the first connection and never restarted, so
//   from the first disconnect on no KEEPALIVE (and no position acknowledgement) leaves it: the
//   `keepalives_sent` list below shows it. --lifetime-ms must therefore outlast the whole run, or a
//   server that enforces the lifetime closes the session for lack of keepalives.

const crypto = require('crypto');
const readline = require('readline');
const {RSocketConnector, FrameTypes} = require('rsocket-core');
const {TcpClientTransport} = require('rsocket-tcp-client');

function parseArgs(argv) {
  const out = {
    host: '127.0.0.1',
    port: null,
    count: 1000,
    batch: 64,
    pad: 100,
    every: 50,
    timeoutMs: 30000,
    keepaliveMs: 1000,
    lifetimeMs: 120000,
    reconnectMs: 20,
    reconnectOnStdin: false,
  };
  const names = {
    '--port': 'port',
    '--count': 'count',
    '--batch': 'batch',
    '--pad': 'pad',
    '--every': 'every',
    '--timeout-ms': 'timeoutMs',
    '--keepalive-ms': 'keepaliveMs',
    '--lifetime-ms': 'lifetimeMs',
    '--reconnect-ms': 'reconnectMs',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--reconnect-on-stdin') {
      out.reconnectOnStdin = true;
      continue;
    }
    const key = names[argv[i]];
    if (key === undefined) {
      throw new Error(`unknown argument ${argv[i]}`);
    }
    if (i + 1 >= argv.length) {
      throw new Error(`missing value for ${argv[i]}`);
    }
    out[key] = Number.parseInt(argv[++i], 10);
    if (!Number.isInteger(out[key]) || out[key] < 0) {
      throw new Error(`${argv[i - 1]} takes a non-negative integer`);
    }
  }
  if (out.port === null || out.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  if (out.batch < 1 || out.every < 1 || out.count < 1) {
    throw new Error('--count, --batch and --every must be >= 1');
  }
  return out;
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {promise, resolve, reject};
}

function delay(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

const text = b => (b === null || b === undefined ? '' : Buffer.from(b).toString('utf8'));

// Watches the library's connections: RESUME frames it sends, KEEPALIVEs it sends per connection,
// and RESUME_OK frames it receives (reported once the library has handled them).
class ObservingTransport {
  constructor(inner) {
    this.inner = inner;
    this.connections = 0;
    this.keepalivesSent = [];
    this.resumes = [];
    this.resumed = 0;
    this.retransmitting = false;
    this.connectionErrors = [];
  }

  connect(multiplexerDemultiplexerFactory) {
    return this.inner.connect(outbound => {
      const index = this.connections++;
      this.keepalivesSent.push(0);
      const send = outbound.send.bind(outbound);
      outbound.send = frame => {
        if (frame.type === FrameTypes.KEEPALIVE) {
          this.keepalivesSent[index] += 1;
        } else if (frame.type === FrameTypes.RESUME) {
          this.resumes.push({
            connection: index + 1,
            major: frame.majorVersion,
            minor: frame.minorVersion,
            client_position: frame.clientPosition,
            server_position: frame.serverPosition,
            resume_ok_client_position: null,
            resent: 0,
          });
        }
        if (this.retransmitting && frame.streamId !== 0) {
          this.resumes[this.resumes.length - 1].resent += 1;
        }
        send(frame);
      };
      const mux = multiplexerDemultiplexerFactory(outbound);
      const handle = mux.handle.bind(mux);
      mux.handle = frame => {
        // The library retransmits from inside its RESUME_OK handling.
        this.retransmitting = frame.type === FrameTypes.RESUME_OK;
        try {
          handle(frame);
        } finally {
          this.retransmitting = false;
        }
        if (frame.type === FrameTypes.RESUME_OK) {
          this.resumed += 1;
          this.resumes[this.resumes.length - 1].resume_ok_client_position = frame.clientPosition;
          process.stdout.write(`RESUMED ${this.resumed}\n`);
        } else if (frame.type === FrameTypes.ERROR && frame.streamId === 0) {
          this.connectionErrors.push({code: frame.code, message: frame.message});
          process.stderr.write(`connection ERROR 0x${frame.code.toString(16)}: ${frame.message}\n`);
        }
      };
      return mux;
    });
  }
}

// One reader for stdin commands: `RR <tag>` and `RECONNECT` (see the header).
class Commands {
  constructor() {
    this.onRequest = () => {};
    this.reconnects = 0;
    this.reconnectWaiters = [];
    readline.createInterface({input: process.stdin}).on('line', line => {
      const words = line.trim().split(/\s+/);
      if (words.length === 2 && words[0] === 'RR') {
        this.onRequest(words[1]);
      } else if (words.length === 1 && words[0] === 'RECONNECT') {
        const waiter = this.reconnectWaiters.shift();
        if (waiter) {
          waiter();
        } else {
          this.reconnects += 1;
        }
      } else {
        process.stderr.write(`ignoring stdin line ${JSON.stringify(line)}\n`);
      }
    });
  }

  reconnectAllowed() {
    if (this.reconnects > 0) {
      this.reconnects -= 1;
      return Promise.resolve();
    }
    return new Promise(resolve => this.reconnectWaiters.push(resolve));
  }
}

async function run(args) {
  const commands = new Commands();
  const transport = new ObservingTransport(
    new TcpClientTransport({connectionOptions: {host: args.host, port: args.port, noDelay: true}}),
  );
  const token = crypto.randomBytes(16);
  const connector = new RSocketConnector({
    setup: {
      dataMimeType: 'text/plain',
      metadataMimeType: 'text/plain',
      keepAlive: args.keepaliveMs,
      lifetime: args.lifetimeMs,
    },
    transport,
    resume: {
      tokenGenerator: () => token,
      reconnectFunction: async attempt => {
        process.stderr.write(`reconnect attempt ${attempt}\n`);
        await delay(args.reconnectMs);
        if (args.reconnectOnStdin) {
          await commands.reconnectAllowed();
        }
      },
    },
  });
  const rsocket = await connector.connect();
  const closed = deferred();
  // rsocket.onClose would report the first TCP connection's end; the session is the resumable
  // multiplexer, which closes only when resumption gives up (an ERROR, a rejected RESUME).
  rsocket.connection.multiplexerDemultiplexer.onClose(err =>
    closed.reject(new Error(`session closed: ${err ? err.message : 'no error'}`)),
  );

  const problems = [];
  const problem = message => {
    if (problems.length < 20) {
      problems.push(message);
    }
  };

  // The channel: opened with `ch-start`; later payloads go out as the server grants credit.
  const channel = {sent: ['ch-start'], queue: [], credit: 0, echoed: 0, completed: false, done: deferred()};
  let channelRequester = null;
  const channelPump = () => {
    while (channelRequester !== null && channel.queue.length > 0) {
      if (channel.queue[0] === null) {
        channel.queue.shift();
        channelRequester.onComplete(); // completion needs no credit
        return;
      }
      if (channel.credit === 0) {
        return;
      }
      const entry = channel.queue.shift();
      channel.credit -= 1;
      channel.sent.push(entry);
      channelRequester.onNext({data: Buffer.from(entry, 'utf8')}, false);
    }
  };
  const channelFinish = () => {
    if (!channel.completed) {
      channel.completed = true;
      if (channel.echoed !== channel.sent.length) {
        problem(`channel completed after ${channel.echoed} of ${channel.sent.length} echoes`);
      }
      channel.done.resolve();
    }
  };
  channelRequester = rsocket.requestChannel({data: Buffer.from('ch-start', 'utf8')}, 0x7fffffff, false, {
    onNext: (payload, isComplete) => {
      const got = text(payload.data);
      const want = channel.sent[channel.echoed];
      if (got !== want) {
        problem(`channel echo #${channel.echoed} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
      channel.echoed += 1;
      if (isComplete) {
        channelFinish();
      }
    },
    onComplete: channelFinish,
    onError: err => channel.done.reject(new Error(`channel failed: ${err.message}`)),
    onExtension: () => {},
    request: n => {
      channel.credit += n;
      channelPump();
    },
    cancel: () => channel.done.reject(new Error('channel cancelled by the server')),
  });

  // Request/responses, each checked for exactly-once execution on the server.
  const rrs = [];
  const requestResponse = d => {
    const reply = deferred();
    rsocket.requestResponse({data: Buffer.from(d, 'utf8')}, {
      onNext: payload => {
        const got = text(payload.data);
        if (got !== `echo:${d}#1`) {
          problem(`request/response ${d} answered ${JSON.stringify(got)}`);
        }
        reply.resolve();
      },
      onComplete: () => {
        problem(`request/response ${d} completed empty`);
        reply.resolve();
      },
      onError: err => reply.reject(new Error(`request/response ${d} failed: ${err.message}`)),
      onExtension: () => {},
    });
    rrs.push(reply.promise);
  };

  commands.onRequest = tag => {
    requestResponse(tag);
    process.stdout.write(`SENT ${tag}\n`);
  };

  // The stream, pulled in batches.
  const stream = {received: 0, completed: false, done: deferred()};
  const wantItem = i => `${i}|${'.'.repeat(args.pad)}`;
  const streamFinish = () => {
    if (!stream.completed) {
      stream.completed = true;
      if (stream.received !== args.count) {
        problem(`stream completed after ${stream.received} of ${args.count} items`);
      }
      stream.done.resolve();
    }
  };
  const streamRequester = rsocket.requestStream(
    {data: Buffer.from(JSON.stringify({count: args.count, pad: args.pad}), 'utf8')},
    args.batch,
    {
      onNext: (payload, isComplete) => {
        const got = text(payload.data);
        const i = stream.received;
        if (got !== wantItem(i)) {
          problem(`stream item #${i} is ${JSON.stringify(got.slice(0, 40))}, expected ${i}|...`);
        }
        stream.received += 1;
        if (stream.received % args.every === 0) {
          requestResponse(`rr-${stream.received}`);
          channel.queue.push(`ch-${stream.received}`);
          channelPump();
        }
        if (isComplete) {
          streamFinish();
        } else if (stream.received % args.batch === 0 && stream.received < args.count) {
          streamRequester.request(args.batch);
        }
      },
      onComplete: streamFinish,
      onError: err => stream.done.reject(new Error(`stream failed: ${err.message}`)),
      onExtension: () => {},
    },
  );

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${args.timeoutMs} ms`)), args.timeoutMs);
  });
  const report = () => ({
    stream: {received: stream.received, completed: stream.completed},
    request_responses: {sent: rrs.length},
    channel: {sent: channel.sent.length, echoed: channel.echoed, completed: channel.completed},
    connections: transport.connections,
    resumes: transport.resumes,
    connection_errors: transport.connectionErrors,
    keepalives_sent: transport.keepalivesSent,
  });
  try {
    await Promise.race([
      (async () => {
        await stream.done.promise;
        channel.queue.push(null);
        channelPump();
        await channel.done.promise;
        await Promise.all(rrs);
      })(),
      closed.promise,
      timeout,
    ]);
  } catch (err) {
    return {ok: false, error: err.message, problems, ...report()};
  } finally {
    clearTimeout(timer);
  }
  return {ok: problems.length === 0, problems, ...report()};
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    process.exit(2);
  }
  let result;
  try {
    result = await run(args);
  } catch (err) {
    result = {ok: false, error: `${err && err.name ? err.name : 'Error'}: ${err && err.message}`};
  }
  // Exit once the line is flushed, without waiting for the library's timers; the fallback timer
  // bounds the wait for the flush.
  setTimeout(() => process.exit(0), 2000);
  process.stdout.write(`${JSON.stringify({peer: 'js_v1', ...result})}\n`, () => process.exit(0));
}

main();
