'use strict';
// rsocket-js 1.0.0-alpha.3 scenario runner (TCP client).
//
//   node tests/interop/peers/js_v1/client.js --port P --scenario NAME [--route-mode] [--timeout-ms MS]
//
// Prints one JSON line; exit code 0 whenever the scenario ran (see ../common.js).
// Outbound payloads are fragmented at 64 KiB (maxOutboundFragmentSize counts payload bytes, not
// the frame header). RSocketRequester.metadataPush throws "Method not implemented." in this
// version, which the metadata_push scenario reports as unsupported.

const {RSocketConnector, FrameTypes, Flags} = require('rsocket-core');
const {TcpClientTransport} = require('rsocket-tcp-client');
const {WellKnownMimeType, encodeCompositeMetadata, encodeRoute} = require('rsocket-composite-metadata');
const common = require('../common.js');

// Counts KEEPALIVE answers by observing inbound frames at the multiplexer.
class CountingTransport {
  constructor(inner) {
    this.inner = inner;
    this.keepaliveAcks = 0;
  }

  connect(multiplexerDemultiplexerFactory) {
    return this.inner.connect(outbound => {
      const mux = multiplexerDemultiplexerFactory(outbound);
      const handle = mux.handle.bind(mux);
      mux.handle = frame => {
        if (frame.type === FrameTypes.KEEPALIVE && !Flags.hasRespond(frame.flags)) {
          this.keepaliveAcks += 1;
        }
        handle(frame);
      };
      return mux;
    });
  }
}

function norm(p) {
  return {data: p.data, metadata: p.metadata === null || p.metadata === undefined ? undefined : p.metadata};
}

function makeAdapter(args) {
  return {
    encodeRoute: route => encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoute(route)]]),
    connect: async ({routeMode, keepAlive, lifetime}) => {
      const transport = new CountingTransport(
        new TcpClientTransport({connectionOptions: {host: args.host, port: args.port, noDelay: true}}),
      );
      const connector = new RSocketConnector({
        setup: {
          dataMimeType: common.PLAIN_MIME,
          metadataMimeType: routeMode ? common.COMPOSITE_MIME : common.PLAIN_MIME,
          keepAlive,
          lifetime,
        },
        fragmentation: {maxOutboundFragmentSize: common.FRAGMENT_SIZE},
        transport,
      });
      const rsocket = await connector.connect();
      const closed = common.deferred();
      rsocket.onClose(err => closed.resolve({error: err}));
      // An ERROR[0] (e.g. REJECTED_SETUP) closes the connection with an RSocketError carrying the
      // code; a plain socket close gives an Error without one.
      const setupError = closed.promise.then(c => c.error || new Error('connection closed without an error'));
      return {
        setupError,
        closed: closed.promise,
        keepaliveAcks: () => transport.keepaliveAcks,
        close: () => rsocket.close(),
        requestResponse: p =>
          new Promise((resolve, reject) => {
            rsocket.requestResponse(norm(p), {
              onNext: payload => resolve(payload),
              onComplete: () => resolve({data: null, metadata: null}),
              onError: reject,
              onExtension: () => {},
            });
          }),
        fireAndForget: p => {
          rsocket.fireAndForget(norm(p), {onComplete: () => {}, onError: () => {}});
        },
        metadataPush: metadata =>
          new Promise((resolve, reject) => {
            rsocket.metadataPush(metadata, {onComplete: resolve, onError: reject});
          }),
        requestStream: (p, initialN, sink) =>
          rsocket.requestStream(norm(p), initialN, {
            // This version signals completion with isComplete on the last item (PAYLOAD N|C).
            onNext: (payload, isComplete) => {
              sink.onNext(payload);
              if (isComplete) {
                sink.onComplete();
              }
            },
            onComplete: sink.onComplete,
            onError: sink.onError,
            onExtension: () => {},
          }),
        requestChannel: (payloads, initialN, sink) => {
          let next = 1;
          let credit = 0;
          let requester = null;
          let pendingCredit = 0;
          const pump = () => {
            while (credit > 0 && next < payloads.length) {
              credit -= 1;
              const last = next === payloads.length - 1;
              requester.onNext(norm(payloads[next]), last); // C on the last payload
              next += 1;
            }
          };
          requester = rsocket.requestChannel(norm(payloads[0]), initialN, payloads.length === 1, {
            // This version signals completion with isComplete on the last item (PAYLOAD N|C).
            onNext: (payload, isComplete) => {
              sink.onNext(payload);
              if (isComplete) {
                sink.onComplete();
              }
            },
            onComplete: sink.onComplete,
            onError: sink.onError,
            onExtension: () => {},
            // The responder's REQUEST_N: credit for our outbound payloads.
            request: n => {
              if (requester === null) {
                pendingCredit += n;
                return;
              }
              credit += n;
              pump();
            },
            cancel: () => {
              credit = 0;
              next = payloads.length;
            },
          });
          if (pendingCredit > 0) {
            credit += pendingCredit;
            pump();
          }
          return {request: n => requester.request(n), cancel: () => requester.cancel()};
        },
      };
    },
  };
}

common.runClientMain('js_v1', makeAdapter);
