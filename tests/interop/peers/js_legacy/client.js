'use strict';
// rsocket-js 0.0.27 scenario runner (TCP client).
//
//   node tests/interop/peers/js_legacy/client.js --port P --scenario NAME [--route-mode] [--timeout-ms MS]
//
// Prints one JSON line; exit code 0 whenever the scenario ran (see ../common.js).
// This version never fragments outbound frames: the 1 MiB request goes out as one frame.

const {
  RSocketClient,
  BufferEncoders,
  FRAME_TYPES,
  MESSAGE_RSOCKET_ROUTING,
  encodeCompositeMetadata,
  encodeRoute,
  isRespond,
} = require('rsocket-core');
const {Flowable} = require('rsocket-flowable');
const RSocketTcpClient = require('rsocket-tcp-client').default;
const common = require('../common.js');

class CountingTcpClient extends RSocketTcpClient {
  constructor(options, encoders) {
    super(options, encoders);
    this.keepaliveAcks = 0;
  }

  receive() {
    return super.receive().map(frame => {
      if (frame.type === FRAME_TYPES.KEEPALIVE && !isRespond(frame.flags)) {
        this.keepaliveAcks += 1;
      }
      return frame;
    });
  }
}

function singleToPromise(single) {
  return new Promise((resolve, reject) => {
    single.subscribe({onComplete: resolve, onError: reject, onSubscribe: () => {}});
  });
}

function makeAdapter(args) {
  return {
    encodeRoute: route => encodeCompositeMetadata([[MESSAGE_RSOCKET_ROUTING, encodeRoute(route)]]),
    connect: async ({routeMode, keepAlive, lifetime}) => {
      const transport = new CountingTcpClient({host: args.host, port: args.port, noDelay: true}, BufferEncoders);
      const setupError = common.deferred();
      const closed = common.deferred();
      const client = new RSocketClient({
        setup: {
          dataMimeType: common.PLAIN_MIME,
          metadataMimeType: routeMode ? common.COMPOSITE_MIME : common.PLAIN_MIME,
          keepAlive,
          lifetime,
        },
        transport,
        errorHandler: err => setupError.resolve(err),
      });
      const socket = await singleToPromise(client.connect());
      socket.connectionStatus().subscribe({
        onNext: status => {
          if (status.kind === 'CLOSED' || status.kind === 'ERROR') {
            closed.resolve(status);
          }
        },
        onSubscribe: sub => sub.request(Number.MAX_SAFE_INTEGER),
      });
      // Payload metadata is passed as null when absent, as most applications do; this version
      // then still sets the M flag with a zero-length metadata field.
      const norm = p => ({data: p.data, metadata: p.metadata === undefined ? null : p.metadata});
      return {
        setupError: setupError.promise,
        closed: closed.promise,
        keepaliveAcks: () => transport.keepaliveAcks,
        close: () => client.close(),
        requestResponse: p => singleToPromise(socket.requestResponse(norm(p))),
        fireAndForget: p => socket.fireAndForget(norm(p)),
        metadataPush: metadata => singleToPromise(socket.metadataPush({data: null, metadata})),
        requestStream: (p, initialN, sink) => {
          let sub = null;
          socket.requestStream(norm(p)).subscribe({
            onSubscribe: s => {
              sub = s;
              s.request(initialN);
            },
            onNext: sink.onNext,
            onComplete: sink.onComplete,
            onError: sink.onError,
          });
          return {request: n => sub.request(n), cancel: () => sub.cancel()};
        },
        requestChannel: (payloads, initialN, sink) => {
          // Outbound payloads are produced only as the responder requests them.
          const outbound = new Flowable(subscriber => {
            let next = 0;
            let cancelled = false;
            let completed = false;
            subscriber.onSubscribe({
              cancel: () => {
                cancelled = true;
              },
              request: n => {
                let budget = n;
                while (!cancelled && budget > 0 && next < payloads.length) {
                  subscriber.onNext(norm(payloads[next]));
                  next += 1;
                  budget -= 1;
                }
                if (!cancelled && !completed && next >= payloads.length) {
                  completed = true;
                  subscriber.onComplete();
                }
              },
            });
          }, common.MAX_REQUEST_N);
          let sub = null;
          socket.requestChannel(outbound).subscribe({
            onSubscribe: s => {
              sub = s;
              s.request(initialN);
            },
            onNext: sink.onNext,
            onComplete: sink.onComplete,
            onError: sink.onError,
          });
          return {request: n => sub.request(n), cancel: () => sub.cancel()};
        },
      };
    },
  };
}

common.runClientMain('js_legacy', makeAdapter);
