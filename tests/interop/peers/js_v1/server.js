'use strict';
// rsocket-js 1.0.0-alpha.3 conformance server (TCP).
//
//   node tests/interop/peers/js_v1/server.js --port P [--reject-setup]
//
// Prints exactly one line `READY <port>` on stdout once listening on 127.0.0.1 (port 0 picks a
// free port). Everything else goes to stderr.
//
// Peer limitations (not worked around; see the report / peers.md):
// * METADATA_PUSH: the frame decoder references an undefined variable, so receiving one throws
//   inside TcpDuplexConnection.handleData and the connection is closed; dispatch to
//   responder.metadataPush is commented out in the library. `pushcount` therefore stays 0.
// * RSocketServer ignores `fragmentation` (rsocket-js#306): responses are never fragmented,
//   whatever is configured below. Inbound fragments are reassembled.
// * The server takes the first TCP chunk as a whole SETUP frame; a SETUP split across chunks or
//   a stray byte before SETUP kills the process (TypeError).

const net = require('net');
const {RSocketServer} = require('rsocket-core');
const {TcpServerTransport} = require('rsocket-tcp-server');
const {WellKnownMimeType, decodeCompositeMetadata, decodeRoutes} = require('rsocket-composite-metadata');
const common = require('../common.js');

function decodeRoute(metadata) {
  for (const entry of decodeCompositeMetadata(metadata)) {
    if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.string) {
      const first = decodeRoutes(entry.content).next();
      return first.done ? null : first.value;
    }
  }
  return null;
}

function streamResponder(count, initialRequestN, sink) {
  // Generates items lazily: only as many as have been requested, never more.
  let next = 0;
  let credit = 0;
  let cancelled = false;
  let done = false;
  const pump = () => {
    while (!cancelled && !done && credit > 0 && next < count) {
      const last = next === count - 1;
      credit -= 1;
      const item = {data: Buffer.from(String(next))};
      next += 1;
      if (last) {
        done = true;
      }
      sink.onNext(item, last); // C on the last item, as this library does
    }
    if (!cancelled && !done && next >= count) {
      done = true;
      sink.onComplete();
    }
  };
  const receiver = {
    request: n => {
      credit = Math.min(common.MAX_REQUEST_N, credit + n);
      pump();
    },
    cancel: () => {
      cancelled = true;
    },
    onExtension: () => {},
  };
  receiver.request(initialRequestN);
  return receiver;
}

function channelResponder(first, initialRequestN, isCompleted, sink) {
  // Echo: inbound demand mirrors outbound demand, so the buffer never holds more than the
  // requester has asked for.
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
      if (last) {
        outboundDone = true;
      }
      sink.onNext({data: p.data, metadata: p.metadata || undefined}, last);
    }
    if (!cancelled && !outboundDone && inboundDone && buffer.length === 0) {
      outboundDone = true;
      sink.onComplete();
    }
  };
  const grant = n => {
    credit = Math.min(common.MAX_REQUEST_N, credit + n);
    // The first payload arrived with REQUEST_CHANNEL and uses one unit of demand.
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
      if (isComplete) {
        inboundDone = true;
      }
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

function makeResponder(state) {
  const cancellable = {cancel: () => {}, onExtension: () => {}};
  return {
    requestResponse: (payload, sink) => {
      const r = common.requestResponseResult(state, payload.data, payload.metadata, decodeRoute);
      if (r.error !== undefined) {
        sink.onError(new Error(r.error));
      } else {
        sink.onNext({data: r.data, metadata: r.metadata || undefined}, true);
      }
      return cancellable;
    },
    requestStream: (payload, initialRequestN, sink) => {
      const r = common.streamLength(state, payload.data, payload.metadata, decodeRoute);
      if (r.error !== undefined) {
        sink.onError(new Error(r.error));
        return {request: () => {}, ...cancellable};
      }
      return streamResponder(r.count, initialRequestN, sink);
    },
    requestChannel: (payload, initialRequestN, isCompleted, sink) => {
      const r = common.channelAllowed(state, payload.metadata, decodeRoute);
      if (r.error !== undefined) {
        throw new Error(r.error); // the library answers with ERROR[APPLICATION_ERROR]
      }
      return channelResponder(payload, initialRequestN, isCompleted, sink);
    },
    fireAndForget: (payload, _sink) => {
      common.countFireAndForget(state, payload.metadata, decodeRoute);
      return cancellable;
    },
    // Never called by rsocket-js 1.0.0-alpha.3 (dispatch is commented out in the library).
    metadataPush: (_metadata, _sink) => {
      state.pushes += 1;
    },
  };
}

async function main() {
  let args;
  try {
    args = common.parseArgs(process.argv.slice(2), []);
  } catch (err) {
    common.usageExit(err);
  }
  const transport = new TcpServerTransport({
    listenOptions: {host: args.host, port: args.port},
    serverOptions: {noDelay: true},
    socketCreator: options => {
      const server = new net.Server(options);
      server.on('connection', socket => socket.setNoDelay(true));
      return server;
    },
  });
  const server = new RSocketServer({
    transport,
    fragmentation: {maxOutboundFragmentSize: common.FRAGMENT_SIZE}, // ignored by this version
    acceptor: {
      accept: async setup => {
        if (args.rejectSetup) {
          throw new Error('go away');
        }
        return makeResponder(new common.ConformanceState(setup.metadataMimeType === common.COMPOSITE_MIME));
      },
    },
  });
  const closeable = await server.bind();
  process.stdout.write(`READY ${closeable.server.address().port}\n`);
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
