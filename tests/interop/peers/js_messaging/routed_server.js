'use strict';
// A routed rsocket-js 1.0.0-alpha.3 server: rsocket-messaging's RSocketResponder maps routes from
// composite metadata (routing entry) to handlers, as a Spring @MessageMapping service does.
//
//   node routed_server.js --port P
//
// Prints `READY <port>` once listening on 127.0.0.1 (port 0 picks one). SETUP: data MIME
// application/json, metadata MIME composite, simple auth alice/secret in the SETUP metadata
// (anything else is refused with REJECTED_SETUP "bad credentials"). Routes (JSON bodies):
//   greet        request/response  {"name": N}          -> {"greeting": "Hello, N!"}
//   count        request/stream    {"count": N}         -> {"n": 0} .. {"n": N-1}, as request-n allows
//   sum          request/channel   1, 2, 3 ...          -> running totals, completes with the requester
//   log          fire-and-forget   anything             -> remembered
//   log.count    request/response                       -> how many logs this connection sent
//   whoami       request/response                       -> {"client": <what our route client.name answers>}
//   mime         request/response  any JSON, with a per-stream mime-type entry -> {"declared": <that MIME>}
// An unknown route gets rsocket-messaging's own ERROR[APPLICATION_ERROR] "Route not found".

const net = require('net');
const {RSocketServer, FrameTypes} = require('rsocket-core');
const {TcpServerTransport} = require('rsocket-tcp-server');
const {
  WellKnownMimeType,
  encodeCompositeMetadata,
  encodeRoute,
  decodeCompositeMetadata,
  decodeAuthMetadata,
  decodeSimpleAuthPayload,
} = require('rsocket-composite-metadata');
const {RSocketResponder} = require('rsocket-messaging');

const MAX_REQUEST_N = 0x7fffffff;
const json = value => Buffer.from(JSON.stringify(value));
const parse = buffer => (buffer && buffer.length ? JSON.parse(buffer.toString('utf8')) : null);

function parseArgs(argv) {
  if (argv.length !== 2 || argv[0] !== '--port') {
    process.stderr.write('usage: routed_server.js --port P\n');
    process.exit(2);
  }
  return {port: Number.parseInt(argv[1], 10)};
}

function checkCredentials(setup) {
  if (setup.metadataMimeType !== WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string) {
    return false;
  }
  for (const entry of decodeCompositeMetadata(setup.metadata || Buffer.alloc(0))) {
    if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION.string) {
      const auth = decodeAuthMetadata(entry.content);
      const {username, password} = decodeSimpleAuthPayload(auth.payload);
      return username.toString() === 'alice' && password.toString() === 'secret';
    }
  }
  return false;
}

function declaredMime(metadata) {
  for (const entry of decodeCompositeMetadata(metadata || Buffer.alloc(0))) {
    if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE.string) {
      const first = entry.content.readUInt8(0);
      // bit 7: a well-known id follows in the low bits; else length-1 of an ASCII string (D-1).
      if (first & 0x80) {
        return WellKnownMimeType.fromIdentifier(first & 0x7f).string;
      }
      return entry.content.subarray(1, 2 + first).toString('ascii');
    }
  }
  return null;
}

const cancellable = {cancel: () => {}, onExtension: () => {}};

function handler(requestType, fn) {
  return Object.assign(fn, {requestType});
}

function buildResponder(peer) {
  const state = {logs: 0};
  return RSocketResponder.builder()
    .route(
      'greet',
      handler(FrameTypes.REQUEST_RESPONSE, (payload, sink) => {
        sink.onNext({data: json({greeting: `Hello, ${parse(payload.data).name}!`})}, true);
        return cancellable;
      }),
    )
    .route(
      'count',
      handler(FrameTypes.REQUEST_STREAM, (payload, initialRequestN, sink) => {
        const total = parse(payload.data).count;
        let next = 0;
        let credit = 0;
        let cancelled = false;
        const pump = () => {
          while (!cancelled && credit > 0 && next < total) {
            credit -= 1;
            const last = next === total - 1;
            sink.onNext({data: json({n: next})}, last);
            next += 1;
          }
          if (total === 0 && !cancelled) {
            sink.onComplete();
          }
        };
        const receiver = {
          request: n => {
            credit = Math.min(MAX_REQUEST_N, credit + n);
            pump();
          },
          cancel: () => {
            cancelled = true;
          },
          onExtension: () => {},
        };
        receiver.request(initialRequestN);
        return receiver;
      }),
    )
    .route(
      'sum',
      handler(FrameTypes.REQUEST_CHANNEL, (payload, initialRequestN, isCompleted, sink) => {
        // Totals go out only as the requester's credit allows; the values come in unthrottled,
        // which is bounded here because the requester sends a handful.
        let total = parse(payload.data);
        let credit = initialRequestN;
        const pending = [total];
        let inboundDone = isCompleted;
        let finished = false;
        const flush = () => {
          while (!finished && credit > 0 && pending.length > 0) {
            credit -= 1;
            const value = pending.shift();
            finished = inboundDone && pending.length === 0;
            sink.onNext({data: json(value)}, finished);
          }
          if (!finished && inboundDone && pending.length === 0) {
            finished = true;
            sink.onComplete();
          }
        };
        const receiver = {
          onNext: (item, isComplete) => {
            total += parse(item.data);
            pending.push(total);
            inboundDone = inboundDone || isComplete;
            flush();
          },
          onComplete: () => {
            inboundDone = true;
            flush();
          },
          onError: () => {
            finished = true;
          },
          onExtension: () => {},
          request: n => {
            credit = Math.min(MAX_REQUEST_N, credit + n);
            flush();
          },
          cancel: () => {
            finished = true;
          },
        };
        if (!isCompleted) {
          sink.request(MAX_REQUEST_N);
        }
        flush();
        return receiver;
      }),
    )
    .route(
      'log',
      handler(FrameTypes.REQUEST_FNF, () => {
        state.logs += 1;
        return cancellable;
      }),
    )
    .route(
      'log.count',
      handler(FrameTypes.REQUEST_RESPONSE, (payload, sink) => {
        sink.onNext({data: json(state.logs)}, true);
        return cancellable;
      }),
    )
    .route(
      'whoami',
      handler(FrameTypes.REQUEST_RESPONSE, (payload, sink) => {
        // A call back to the client, routed like any other request.
        const metadata = encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoute('client.name')]]);
        peer.requestResponse({data: Buffer.alloc(0), metadata}, {
          onNext: answer => sink.onNext({data: json({client: parse(answer.data)})}, true),
          onComplete: () => sink.onNext({data: json({client: null})}, true),
          onError: err => sink.onError(err),
          onExtension: () => {},
        });
        return cancellable;
      }),
    )
    .route(
      'mime',
      handler(FrameTypes.REQUEST_RESPONSE, (payload, sink) => {
        sink.onNext({data: json({declared: declaredMime(payload.metadata)})}, true);
        return cancellable;
      }),
    )
    .build();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const transport = new TcpServerTransport({
    listenOptions: {host: '127.0.0.1', port: args.port},
    serverOptions: {noDelay: true},
    socketCreator: options => {
      const server = new net.Server(options);
      server.on('connection', socket => socket.setNoDelay(true));
      return server;
    },
  });
  const server = new RSocketServer({
    transport,
    acceptor: {
      accept: async (setup, peer) => {
        if (!checkCredentials(setup)) {
          throw new Error('bad credentials');
        }
        return buildResponder(peer);
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
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
