'use strict';
// Golden frames from rsocket-js 1.0.0-alpha.3: rsocket-core's `serializeFrame`
// (Codecs) with rsocket-composite-metadata's encoders, the library's own Fragmenter,
// and frames a real RSocketConnector (with resumption) sends over loopback TCP.
//
// Prints one JSON object: {peer, version, frames: [{name, hex, expect, quirk?}], unsupported: [{name, reason}]}.
// `hex` is the frame without the TCP length prefix; `expect` is documented in
// tests/interop/test_golden_frames.py.

const path = require('path');
const {buildCatalog, captureServer, peerRequireFrom, emit, hex, b} = require('./js_catalog');

const MODULES = path.join(__dirname, '..', 'peers', 'js_v1', 'node_modules');
const peerRequire = peerRequireFrom(MODULES, 'gen_js_v1');

const core = peerRequire('rsocket-core');
const fragmenter = peerRequire('rsocket-core/dist/Fragmenter');
const composite = peerRequire('rsocket-composite-metadata');
const {TcpClientTransport} = peerRequire('rsocket-tcp-client');
const corePackage = peerRequire('rsocket-core/package.json');

const {Flags, FrameTypes, ErrorCodes, serializeFrame} = core;
const {WellKnownMimeType} = composite;
const COMPOSITE_MIME = WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string;

const catalog = buildCatalog({
  serialize: serializeFrame,
  FLAGS: Flags,
  TYPES: FrameTypes,
  ERRORS: ErrorCodes,
  COMPOSITE_MIME,
  ROUTING: WellKnownMimeType.MESSAGE_RSOCKET_ROUTING,
  AUTH: WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION,
  md: composite,
});
const {frames} = catalog;
const {mdSetup, mdRouteEcho} = catalog.blobs;
const {route, simple} = catalog.helpers;

const unsupported = [
  {name: 'ext', reason: 'rsocket-core 1.0.0-alpha.3 serializeFrame has no EXT case (returns undefined)'},
  {
    name: 'wire_metadata_push',
    reason: 'RSocketRequester.metadataPush throws "Method not implemented." (serializer-level METADATA_PUSH is included)',
  },
];

const FRAME_TYPE_NAMES = Object.fromEntries(
  Object.entries(FrameTypes).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])
);

// Expectations for fragments come from the frame objects the Fragmenter yields: the
// point is to pin how this library splits a message, so its choices are the truth.
function addFragments(prefix, generator) {
  let index = 0;
  for (const frame of generator) {
    const typeName = FRAME_TYPE_NAMES[frame.type];
    const expect = {
      type: typeName,
      stream_id: frame.streamId,
      flags: frame.flags,
      metadata: frame.flags & Flags.METADATA ? hex(frame.metadata || Buffer.alloc(0)) : null,
      data: hex(frame.data || Buffer.alloc(0)),
      follows: Boolean(frame.flags & Flags.FOLLOWS),
    };
    if (frame.requestN !== undefined) {
      expect.initial_request_n = frame.requestN;
    }
    if (typeName === 'PAYLOAD') {
      expect.complete = Boolean(frame.flags & Flags.COMPLETE);
      expect.next = Boolean(frame.flags & Flags.NEXT);
    }
    if (typeName === 'REQUEST_CHANNEL') {
      expect.complete = Boolean(frame.flags & Flags.COMPLETE);
    }
    frames.push({name: `${prefix}_${index}`, hex: hex(serializeFrame(frame)), expect});
    index += 1;
  }
}

const bigMetadata = Buffer.from('m'.repeat(40));
const bigData = Buffer.from('d'.repeat(100));
addFragments(
  'fragment_request_response',
  fragmenter.fragment(25, {data: bigData, metadata: bigMetadata}, 64, FrameTypes.REQUEST_RESPONSE)
);
addFragments(
  'fragment_request_stream',
  fragmenter.fragmentWithRequestN(27, {data: bigData, metadata: bigMetadata}, 64, FrameTypes.REQUEST_STREAM, 10)
);
addFragments(
  'fragment_payload_complete',
  fragmenter.fragment(25, {data: bigData}, 64, FrameTypes.PAYLOAD, true)
);

// The connector builds the RESUME frame itself (with the version fields swapped), so
// only a real reconnect shows it: the server drops the first connection once the
// requests arrive and records what the client sends on the second.
function captureFromConnector() {
  const firstConnectionFrames = 3;
  const captured = [];
  let server = null;
  let rsocket = null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`captured ${captured.length}/${firstConnectionFrames + 1} frames before the timeout`)),
      10000
    );
    captureServer((frame, socket) => {
      captured.push(frame);
      if (captured.length === firstConnectionFrames) {
        socket.destroy();
      } else if (captured.length === firstConnectionFrames + 1) {
        clearTimeout(timer);
        socket.destroy();
        server.close();
        resolve(captured);
      }
    }).then(async (srv) => {
      server = srv;
      const connector = new core.RSocketConnector({
        setup: {
          keepAlive: 60000,
          lifetime: 180000,
          metadataMimeType: COMPOSITE_MIME,
          dataMimeType: 'application/json',
          payload: {data: b('{"wire":true}'), metadata: mdSetup},
        },
        resume: {
          tokenGenerator: () => b('v1-resume-token'),
          reconnectFunction: () => new Promise((r) => setTimeout(r, 20)),
        },
        transport: new TcpClientTransport({connectionOptions: {host: '127.0.0.1', port: srv.address().port}}),
      });
      rsocket = await connector.connect();
      const ignore = {onNext: () => {}, onError: () => {}, onComplete: () => {}, onExtension: () => {}};
      rsocket.requestResponse({data: b('ping')}, ignore);
      rsocket.requestStream({data: b('count'), metadata: mdRouteEcho}, 5, ignore);
    }).catch(reject);
  }).finally(() => {
    if (rsocket) {
      try {
        rsocket.close();
      } catch (err) {
        // The session is mid-resume; closing it may throw, and the capture is done anyway.
      }
    }
  });
}

async function main() {
  const [setupBytes, rrBytes, streamBytes, resumeBytes] = await captureFromConnector();
  frames.push({
    name: 'wire_setup_resume',
    hex: hex(setupBytes),
    expect: {
      type: 'SETUP',
      stream_id: 0,
      flags: Flags.METADATA | Flags.RESUME_ENABLE,
      major: 1,
      minor: 0,
      keepalive_interval: 60000,
      max_lifetime: 180000,
      metadata_mime: COMPOSITE_MIME,
      data_mime: 'application/json',
      resume_token: hex(b('v1-resume-token')),
      lease: false,
      metadata: hex(mdSetup),
      data: hex(b('{"wire":true}')),
      composite: [route('setup.route'), simple('user', 'pass')],
    },
  });
  frames.push({
    name: 'wire_request_response_no_metadata',
    hex: hex(rrBytes),
    expect: {type: 'REQUEST_RESPONSE', stream_id: 1, flags: 0, metadata: null, data: hex(b('ping')), follows: false},
  });
  frames.push({
    name: 'wire_request_stream',
    hex: hex(streamBytes),
    expect: {
      type: 'REQUEST_STREAM',
      stream_id: 3,
      flags: Flags.METADATA,
      initial_request_n: 5,
      metadata: hex(mdRouteEcho),
      data: hex(b('count')),
      follows: false,
      composite: [route('echo')],
    },
  });
  // The server never sent a frame (last received server position 0) and nothing
  // acknowledged the client's frames, so it still holds them all (first available 0).
  frames.push({
    name: 'wire_resume',
    hex: hex(resumeBytes),
    expect: {
      type: 'RESUME',
      stream_id: 0,
      flags: 0,
      major: 0,
      minor: 1,
      resume_token: hex(b('v1-resume-token')),
      last_received_server_position: 0,
      first_available_client_position: 0,
    },
    told: {major: 1, minor: 0},
    quirk: 'js_v1_resume_version_swapped',
  });
  emit({peer: 'js_v1', version: corePackage.version, frames, unsupported});
}

main().catch((err) => {
  process.stderr.write(`gen_js_v1: ${err.stack || err}\n`);
  process.exit(1);
});
