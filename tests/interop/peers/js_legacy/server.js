'use strict';
// rsocket-js 0.0.27 conformance server (TCP).
//
//   node tests/interop/peers/js_legacy/server.js --port P [--reject-setup] [--no-metadata-shim]
//
// Prints exactly one line `READY <port>` on stdout once listening on 127.0.0.1 (port 0 picks a
// free port). Everything else goes to stderr.
//
// Peer limitations worked around here (see the report / peers.md):
// * RSocketServer hands getRequestHandler() only the SETUP payload, not its MIME types, so the
//   SETUP frame is observed on the way in (transport wrapper below) to learn whether the
//   connection uses composite metadata.
// * RSocketMachine._sendStreamPayload never sets the M flag, so response metadata is silently
//   dropped by the frame encoder. Unless --no-metadata-shim is given, the transport wrapper sets
//   M on outgoing PAYLOAD frames that carry metadata so that request/response can echo metadata.
// * This version cannot fragment outbound frames (it only reassembles inbound ones): a 1 MiB
//   echo goes out as one frame.

const net = require('net');
const {
  RSocketServer,
  BufferEncoders,
  FRAME_TYPES,
  FLAGS,
  MESSAGE_RSOCKET_ROUTING,
  decodeCompositeMetadata,
  decodeRoutes,
} = require('rsocket-core');
const {Flowable, Single} = require('rsocket-flowable');
const RSocketTCPServer = require('rsocket-tcp-server').default;
const common = require('../common.js');

function decodeRoute(metadata) {
  for (const entry of decodeCompositeMetadata(metadata)) {
    if (entry.mimeType === MESSAGE_RSOCKET_ROUTING.string) {
      const first = decodeRoutes(entry.content).next();
      return first.done ? null : first.value;
    }
  }
  return null;
}

function streamFlowable(count) {
  // Emits lazily: only as many items as have been requested, never more.
  return new Flowable(subscriber => {
    let next = 0;
    let cancelled = false;
    let completed = false;
    subscriber.onSubscribe({
      cancel: () => {
        cancelled = true;
      },
      request: n => {
        let budget = n;
        while (!cancelled && budget > 0 && next < count) {
          subscriber.onNext({data: Buffer.from(String(next)), metadata: null});
          next += 1;
          budget -= 1;
        }
        if (!cancelled && !completed && next >= count) {
          completed = true;
          subscriber.onComplete();
        }
      },
    });
  }, common.MAX_REQUEST_N);
}

function echoChannel(inbound) {
  // Every inbound payload is echoed; inbound demand is exactly the outbound demand, so nothing is
  // ever buffered and request-n is honoured in both directions.
  return new Flowable(subscriber => {
    let inSub = null;
    inbound.subscribe({
      onSubscribe: s => {
        inSub = s;
      },
      onNext: p => subscriber.onNext({data: p.data, metadata: p.metadata}),
      onComplete: () => subscriber.onComplete(),
      onError: err => subscriber.onError(err),
    });
    subscriber.onSubscribe({
      cancel: () => inSub && inSub.cancel(),
      request: n => inSub && inSub.request(n),
    });
  }, common.MAX_REQUEST_N);
}

function makeHandler(state) {
  return {
    requestResponse: payload => {
      const r = common.requestResponseResult(state, payload.data, payload.metadata, decodeRoute);
      if (r.error !== undefined) {
        return Single.error(new Error(r.error));
      }
      return Single.of({data: r.data, metadata: r.metadata});
    },
    requestStream: payload => {
      const r = common.streamLength(state, payload.data, payload.metadata, decodeRoute);
      if (r.error !== undefined) {
        return Flowable.error(new Error(r.error));
      }
      return streamFlowable(r.count);
    },
    requestChannel: payloads => {
      // The first payload (and its routing metadata) is only visible inside the flowable; the
      // route is checked there.
      let checked = false;
      const gated = payloads.map(p => {
        if (!checked) {
          checked = true;
          const r = common.channelAllowed(state, p.metadata, decodeRoute);
          if (r.error !== undefined) {
            throw new Error(r.error);
          }
        }
        return p;
      });
      return echoChannel(gated);
    },
    fireAndForget: payload => {
      common.countFireAndForget(state, payload.metadata, decodeRoute);
    },
    metadataPush: _payload => {
      state.pushes += 1;
      return Single.of(undefined);
    },
  };
}

function main() {
  let args;
  try {
    args = common.parseArgs(process.argv.slice(2), ['--no-metadata-shim']);
  } catch (err) {
    common.usageExit(err);
  }
  const shim = !args.flags['--no-metadata-shim'];
  let listening = null;
  // The SETUP frame seen most recently on any connection. RSocketServer handles SETUP
  // synchronously inside the receive() onNext that observed it, so getRequestHandler reads the
  // frame of its own connection.
  let currentSetup = null;

  const tcp = new RSocketTCPServer(
    {
      host: args.host,
      port: args.port,
      serverFactory: onConnect => {
        const server = net.createServer({noDelay: true}, socket => {
          socket.setNoDelay(true);
          onConnect(socket);
        });
        server.on('listening', () => {
          process.stdout.write(`READY ${server.address().port}\n`);
        });
        server.on('error', err => {
          process.stderr.write(`listen error: ${err.stack || err}\n`);
          process.exit(1);
        });
        listening = server;
        return server;
      },
    },
    BufferEncoders,
  );

  const transport = {
    start: () =>
      tcp.start().map(connection => {
        const receive = connection.receive.bind(connection);
        connection.receive = () =>
          receive().map(frame => {
            if (frame.type === FRAME_TYPES.SETUP) {
              currentSetup = frame;
            }
            return frame;
          });
        if (shim) {
          const sendOne = connection.sendOne.bind(connection);
          connection.sendOne = frame => {
            if (
              frame.type === FRAME_TYPES.PAYLOAD &&
              frame.metadata !== null &&
              frame.metadata !== undefined &&
              (frame.flags & FLAGS.METADATA) === 0
            ) {
              sendOne({...frame, flags: frame.flags | FLAGS.METADATA});
            } else {
              sendOne(frame);
            }
          };
        }
        return connection;
      }),
    stop: () => tcp.stop(),
  };

  const server = new RSocketServer({
    transport,
    getRequestHandler: (_socket, _setupPayload) => {
      if (args.rejectSetup) {
        // The library wraps this as "Application rejected setup, reason: go away".
        throw new Error('go away');
      }
      const composite = currentSetup !== null && currentSetup.metadataMimeType === common.COMPOSITE_MIME;
      currentSetup = null;
      return makeHandler(new common.ConformanceState(composite));
    },
    serializers: undefined,
    errorHandler: err => process.stderr.write(`connection error: ${err.message}\n`),
  });
  server.start();

  const stop = () => {
    if (listening) {
      listening.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
