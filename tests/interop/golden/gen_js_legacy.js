'use strict';
// Golden frames from rsocket-js 0.0.27: rsocket-core's `serializeFrame` with
// BufferEncoders, plus frames a real RSocketClient sends over loopback TCP.
//
// Prints one JSON object: {peer, version, frames: [{name, hex, expect, quirk?}], unsupported: [{name, reason}]}.
// `hex` is the frame without the TCP length prefix; `expect` is documented in
// tests/interop/test_golden_frames.py.

const path = require('path');
const {buildCatalog, captureServer, peerRequireFrom, emit, hex, b} = require('./js_catalog');

const MODULES = path.join(__dirname, '..', 'peers', 'js_legacy', 'node_modules');
const peerRequire = peerRequireFrom(MODULES, 'gen_js_legacy');

const core = peerRequire('rsocket-core');
const RSocketTcpClient = peerRequire('rsocket-tcp-client').default;
const corePackage = peerRequire('rsocket-core/package.json');

const {FLAGS, FRAME_TYPES, ERROR_CODES, BufferEncoders} = core;

const catalog = buildCatalog({
  serialize: (frame) => core.serializeFrame(frame, BufferEncoders),
  FLAGS,
  TYPES: FRAME_TYPES,
  ERRORS: ERROR_CODES,
  COMPOSITE_MIME: core.MESSAGE_RSOCKET_COMPOSITE_METADATA.string,
  ROUTING: core.MESSAGE_RSOCKET_ROUTING,
  AUTH: core.MESSAGE_RSOCKET_AUTHENTICATION,
  md: core,
});
const {frames} = catalog;
const {mdSetup, mdRouteEcho, mdPush} = catalog.blobs;
const {route, simple, bearer} = catalog.helpers;

const unsupported = [
  {name: 'ext', reason: 'rsocket-core 0.0.27 serializeFrame has no EXT case (throws "Unsupported frame type")'},
  {name: 'fragments', reason: 'rsocket-js 0.0.27 never fragments outbound frames (no fragmenter exists)'},
];

// The state machine decides the flags, and this line's quirks live there, so these
// frames come from a real client rather than from hand-built frame objects.
function captureFromClient() {
  const wanted = 5;
  const captured = [];
  let client = null;
  let server = null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`captured ${captured.length}/${wanted} frames before the timeout`)),
      10000
    );
    captureServer((frame) => {
      captured.push(frame);
      if (captured.length === wanted) {
        clearTimeout(timer);
        client.close();
        server.close();
        resolve(captured);
      }
    }).then((srv) => {
      server = srv;
      client = new core.RSocketClient({
        setup: {
          keepAlive: 60000,
          lifetime: 180000,
          metadataMimeType: core.MESSAGE_RSOCKET_COMPOSITE_METADATA.string,
          dataMimeType: 'application/json',
          payload: {data: b('{"wire":true}'), metadata: mdSetup},
        },
        transport: new RSocketTcpClient({host: '127.0.0.1', port: srv.address().port}, BufferEncoders),
      });
      client.connect().subscribe({
        onComplete: (socket) => {
          const ignore = () => {};
          socket
            .requestResponse({data: b('ping'), metadata: null})
            .subscribe({onComplete: ignore, onError: ignore, onSubscribe: ignore});
          socket.fireAndForget({data: b('fire')});
          socket.metadataPush({metadata: mdPush}).subscribe({onComplete: ignore, onError: ignore});
          socket.requestStream({data: b('count'), metadata: mdRouteEcho}).subscribe({
            onSubscribe: (sub) => sub.request(5),
            onNext: ignore,
            onError: ignore,
            onComplete: ignore,
          });
        },
        onError: reject,
      });
    });
  });
}

async function main() {
  const [setupBytes, rrBytes, fnfBytes, pushBytes, streamBytes] = await captureFromClient();
  frames.push({
    name: 'wire_setup',
    hex: hex(setupBytes),
    expect: {
      type: 'SETUP',
      stream_id: 0,
      flags: FLAGS.METADATA,
      major: 1,
      minor: 0,
      keepalive_interval: 60000,
      max_lifetime: 180000,
      metadata_mime: core.MESSAGE_RSOCKET_COMPOSITE_METADATA.string,
      data_mime: 'application/json',
      resume_token: null,
      lease: false,
      metadata: hex(mdSetup),
      data: hex(b('{"wire":true}')),
      composite: [route('setup.route'), simple('user', 'pass')],
    },
  });
  frames.push({
    name: 'wire_request_response_null_metadata',
    hex: hex(rrBytes),
    // The app passed `metadata: null`; RSocketMachine tests `!== undefined`, so the
    // frame carries M and a zero metadata length although the app sent no metadata.
    expect: {type: 'REQUEST_RESPONSE', stream_id: 1, flags: FLAGS.METADATA, metadata: '', data: hex(b('ping')), follows: false},
    told: {metadata: null},
    quirk: 'js_legacy_m_flag_empty_metadata',
  });
  frames.push({
    name: 'wire_request_fnf_no_metadata',
    hex: hex(fnfBytes),
    expect: {type: 'REQUEST_FNF', stream_id: 3, flags: 0, metadata: null, data: hex(b('fire')), follows: false},
  });
  frames.push({
    name: 'wire_metadata_push',
    hex: hex(pushBytes),
    // RSocketMachine.metadataPush sends `flags: 0`, against MP-1.
    expect: {type: 'METADATA_PUSH', stream_id: 0, flags: 0, metadata: hex(mdPush), composite: [bearer('refreshed-token')]},
    quirk: 'js_legacy_metadata_push_without_m_flag',
  });
  frames.push({
    name: 'wire_request_stream',
    hex: hex(streamBytes),
    expect: {
      type: 'REQUEST_STREAM',
      stream_id: 5,
      flags: FLAGS.METADATA,
      initial_request_n: 5,
      metadata: hex(mdRouteEcho),
      data: hex(b('count')),
      follows: false,
      composite: [route('echo')],
    },
  });
  emit({peer: 'js_legacy', version: corePackage.version, frames, unsupported});
}

main().catch((err) => {
  process.stderr.write(`gen_js_legacy: ${err.stack || err}\n`);
  process.exit(1);
});
