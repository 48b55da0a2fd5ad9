'use strict';
// The serializer-level golden frame set shared by both rsocket-js lines.
//
// Both lines expose the same frame-object shape and the same composite-metadata helper
// names, so one catalog drives both; each generator passes an adapter holding its
// line's own `serializeFrame`, flag/type/error constants and extension encoders.
// The catalog only chooses values; every byte comes from the adapter's peer code.

const CUSTOM_MIME = 'application/x.aiorsocket-test';

const b = (s) => Buffer.from(s, 'utf8');
const hex = (buf) => (buf == null ? null : Buffer.from(buf).toString('hex'));

function buildCatalog(api) {
  const {FLAGS, TYPES, ERRORS, md} = api;
  const COMPOSITE = api.COMPOSITE_MIME;
  const ROUTING = api.ROUTING.string;
  const AUTH = api.AUTH.string;
  const frames = [];

  function add(name, frame, expect, extra) {
    frames.push(Object.assign({name, hex: hex(api.serialize(frame)), expect}, extra || {}));
  }

  // Composite metadata blobs, each built by the peer's extension encoders.
  const mdRouteEcho = md.encodeCompositeMetadata([[api.ROUTING, md.encodeRoute('echo')]]);
  const mdSetup = md.encodeCompositeMetadata([
    [api.ROUTING, md.encodeRoute('setup.route')],
    [api.AUTH, md.encodeSimpleAuthMetadata('user', 'pass')],
  ]);
  const mdSimpleAuth = md.encodeCompositeMetadata([
    [api.ROUTING, md.encodeRoute('secure.echo')],
    [api.AUTH, md.encodeSimpleAuthMetadata('alice', 's3cr3t')],
  ]);
  const mdBearer = md.encodeCompositeMetadata([[api.AUTH, md.encodeBearerAuthMetadata('eyJhbGciOi.token')]]);
  const mdCustomMime = md.encodeCompositeMetadata([
    [api.ROUTING, md.encodeRoute('numbers')],
    [CUSTOM_MIME, b('custom-entry')],
  ]);
  const mdMultiRoute = md.encodeCompositeMetadata([
    [api.ROUTING, md.encodeRoutes('chat.room', 'tag-2', 'third tag')],
  ]);
  const mdCustomAuth = md.encodeCompositeMetadata([
    [api.AUTH, md.encodeCustomAuthMetadata('x-api-key', b('k-123'))],
  ]);
  const mdPush = md.encodeCompositeMetadata([[api.AUTH, md.encodeBearerAuthMetadata('refreshed-token')]]);

  const route = (...tags) => ({mime: ROUTING, routes: tags});
  const simple = (username, password) => ({mime: AUTH, auth: {type: 'simple', username, password}});
  const bearer = (token) => ({mime: AUTH, auth: {type: 'bearer', token}});

  // --- SETUP -------------------------------------------------------------
  function setup(name, flags, extra) {
    const frame = Object.assign(
      {
        type: TYPES.SETUP,
        streamId: 0,
        flags,
        majorVersion: 1,
        minorVersion: 0,
        keepAlive: 30000,
        lifetime: 90000,
        metadataMimeType: COMPOSITE,
        dataMimeType: 'application/json',
        resumeToken: null,
        metadata: null,
        data: null,
      },
      extra.frame
    );
    add(
      name,
      frame,
      Object.assign(
        {
          type: 'SETUP',
          stream_id: 0,
          flags,
          major: 1,
          minor: 0,
          keepalive_interval: 30000,
          max_lifetime: 90000,
          metadata_mime: COMPOSITE,
          data_mime: 'application/json',
          resume_token: null,
          lease: false,
          metadata: null,
          data: '',
        },
        extra.expect
      )
    );
  }

  setup('setup_composite_route_auth', FLAGS.METADATA, {
    frame: {metadata: mdSetup, data: b('{"client":"golden"}')},
    expect: {
      metadata: hex(mdSetup),
      data: hex(b('{"client":"golden"}')),
      composite: [route('setup.route'), simple('user', 'pass')],
    },
  });
  setup('setup_resume_token', FLAGS.RESUME_ENABLE, {
    frame: {resumeToken: b('resume-token-01')},
    expect: {resume_token: hex(b('resume-token-01'))},
  });
  setup('setup_lease', FLAGS.LEASE, {frame: {}, expect: {lease: true}});
  setup('setup_resume_lease_metadata', FLAGS.RESUME_ENABLE | FLAGS.LEASE | FLAGS.METADATA, {
    frame: {resumeToken: b('tok-2'), metadata: mdRouteEcho, data: b('hello')},
    expect: {
      resume_token: hex(b('tok-2')),
      lease: true,
      metadata: hex(mdRouteEcho),
      data: hex(b('hello')),
      composite: [route('echo')],
    },
  });

  // --- Requests ----------------------------------------------------------
  function request(name, typeName, streamId, flags, metadata, data, extra) {
    const frame = {type: TYPES[typeName], streamId, flags, metadata, data};
    const expect = {
      type: typeName,
      stream_id: streamId,
      flags,
      metadata: flags & FLAGS.METADATA ? hex(metadata || Buffer.alloc(0)) : null,
      data: hex(data || Buffer.alloc(0)),
      follows: Boolean(flags & FLAGS.FOLLOWS),
    };
    if (extra && extra.requestN !== undefined) {
      frame.requestN = extra.requestN;
      expect.initial_request_n = extra.requestN;
    }
    if (typeName === 'REQUEST_CHANNEL') {
      expect.complete = Boolean(flags & FLAGS.COMPLETE);
    }
    if (extra && extra.composite) {
      expect.composite = extra.composite;
    }
    add(name, frame, expect);
  }

  request('request_response_route', 'REQUEST_RESPONSE', 1, FLAGS.METADATA, mdRouteEcho, b('ping'), {
    composite: [route('echo')],
  });
  request('request_response_no_metadata', 'REQUEST_RESPONSE', 3, 0, null, b('ping'));
  request('request_response_follows', 'REQUEST_RESPONSE', 5, FLAGS.METADATA | FLAGS.FOLLOWS, b('md'), b('first-part'));
  request('request_response_simple_auth', 'REQUEST_RESPONSE', 7, FLAGS.METADATA, mdSimpleAuth, b('{}'), {
    composite: [route('secure.echo'), simple('alice', 's3cr3t')],
  });
  request('request_response_bearer_auth', 'REQUEST_RESPONSE', 9, FLAGS.METADATA, mdBearer, b('{}'), {
    composite: [bearer('eyJhbGciOi.token')],
  });
  request('request_fnf', 'REQUEST_FNF', 11, FLAGS.METADATA, mdRouteEcho, b('fire'), {composite: [route('echo')]});
  request('request_fnf_custom_auth', 'REQUEST_FNF', 13, FLAGS.METADATA, mdCustomAuth, b('x'), {
    composite: [{mime: AUTH, auth: {type: 'x-api-key', payload: hex(b('k-123'))}}],
  });
  request('request_stream_route', 'REQUEST_STREAM', 15, FLAGS.METADATA, mdRouteEcho, b('count'), {
    requestN: 16,
    composite: [route('echo')],
  });
  request('request_stream_unbounded', 'REQUEST_STREAM', 17, 0, null, b('all'), {requestN: 0x7fffffff});
  request('request_stream_custom_mime', 'REQUEST_STREAM', 19, FLAGS.METADATA, mdCustomMime, b('n'), {
    requestN: 4,
    composite: [route('numbers'), {mime: CUSTOM_MIME, content: hex(b('custom-entry'))}],
  });
  request('request_channel', 'REQUEST_CHANNEL', 21, FLAGS.METADATA, mdMultiRoute, b('hi'), {
    requestN: 8,
    composite: [route('chat.room', 'tag-2', 'third tag')],
  });
  request('request_channel_complete', 'REQUEST_CHANNEL', 23, FLAGS.COMPLETE, null, b('only'), {requestN: 1});

  add(
    'request_n',
    {type: TYPES.REQUEST_N, streamId: 15, flags: 0, requestN: 32},
    {type: 'REQUEST_N', stream_id: 15, flags: 0, request_n: 32}
  );
  add('cancel', {type: TYPES.CANCEL, streamId: 15, flags: 0}, {type: 'CANCEL', stream_id: 15, flags: 0});

  // --- PAYLOAD -----------------------------------------------------------
  function payload(name, streamId, flags, metadata, data) {
    add(
      name,
      {type: TYPES.PAYLOAD, streamId, flags, metadata, data},
      {
        type: 'PAYLOAD',
        stream_id: streamId,
        flags,
        metadata: flags & FLAGS.METADATA ? hex(metadata || Buffer.alloc(0)) : null,
        data: hex(data || Buffer.alloc(0)),
        follows: Boolean(flags & FLAGS.FOLLOWS),
        complete: Boolean(flags & FLAGS.COMPLETE),
        next: Boolean(flags & FLAGS.NEXT),
      }
    );
  }

  payload('payload_next_complete', 1, FLAGS.NEXT | FLAGS.COMPLETE, null, b('pong'));
  payload('payload_next', 15, FLAGS.NEXT, null, b('item-1'));
  payload('payload_complete', 15, FLAGS.COMPLETE, null, null);
  payload('payload_metadata', 21, FLAGS.NEXT | FLAGS.METADATA, b('meta'), b('with-md'));
  payload('payload_empty_metadata', 21, FLAGS.NEXT | FLAGS.METADATA, Buffer.alloc(0), b('empty-md'));
  payload('payload_next_empty_data', 15, FLAGS.NEXT, null, null);
  payload('payload_follows', 5, FLAGS.FOLLOWS | FLAGS.NEXT, null, b('continued'));

  // --- ERROR -------------------------------------------------------------
  function error(name, streamId, code, message) {
    add(
      name,
      {type: TYPES.ERROR, streamId, flags: 0, code, message},
      {type: 'ERROR', stream_id: streamId, flags: 0, error_code: code, data: hex(b(message))}
    );
  }

  error('error_application', 1, ERRORS.APPLICATION_ERROR, 'boom: handler failed ✗');
  error('error_connection', 0, ERRORS.CONNECTION_ERROR, 'connection broken');
  error('error_rejected_setup', 0, ERRORS.REJECTED_SETUP, 'no thanks');
  error('error_rejected', 3, ERRORS.REJECTED, '');
  error('error_application_defined_0x301', 7, 0x00000301, 'custom app error');
  error('error_application_defined_max', 9, 0xfffffffe, 'max app code');

  // --- Connection-level --------------------------------------------------
  add(
    'keepalive_respond',
    {type: TYPES.KEEPALIVE, streamId: 0, flags: FLAGS.RESPOND, lastReceivedPosition: 0, data: null},
    {type: 'KEEPALIVE', stream_id: 0, flags: FLAGS.RESPOND, respond: true, last_received_position: 0, data: ''}
  );
  add(
    'keepalive_reply_with_data',
    {type: TYPES.KEEPALIVE, streamId: 0, flags: 0, lastReceivedPosition: 0x123456789a, data: b('ka')},
    {
      type: 'KEEPALIVE',
      stream_id: 0,
      flags: 0,
      respond: false,
      last_received_position: 0x123456789a,
      data: hex(b('ka')),
    }
  );
  add(
    'lease',
    {type: TYPES.LEASE, streamId: 0, flags: 0, ttl: 30000, requestCount: 100, metadata: null},
    {type: 'LEASE', stream_id: 0, flags: 0, ttl: 30000, number_of_requests: 100, metadata: null}
  );
  add(
    'lease_metadata',
    {type: TYPES.LEASE, streamId: 0, flags: FLAGS.METADATA, ttl: 5000, requestCount: 0x7fffffff, metadata: b('lease-md')},
    {
      type: 'LEASE',
      stream_id: 0,
      flags: FLAGS.METADATA,
      ttl: 5000,
      number_of_requests: 0x7fffffff,
      metadata: hex(b('lease-md')),
    }
  );
  add(
    'metadata_push',
    {type: TYPES.METADATA_PUSH, streamId: 0, flags: FLAGS.METADATA, metadata: mdPush},
    {
      type: 'METADATA_PUSH',
      stream_id: 0,
      flags: FLAGS.METADATA,
      metadata: hex(mdPush),
      composite: [bearer('refreshed-token')],
    }
  );
  add(
    'resume',
    {
      type: TYPES.RESUME,
      streamId: 0,
      flags: 0,
      majorVersion: 1,
      minorVersion: 0,
      resumeToken: b('resume-token-01'),
      serverPosition: 1234,
      clientPosition: 567,
    },
    {
      type: 'RESUME',
      stream_id: 0,
      flags: 0,
      major: 1,
      minor: 0,
      resume_token: hex(b('resume-token-01')),
      last_received_server_position: 1234,
      first_available_client_position: 567,
    }
  );
  add(
    'resume_ok',
    {type: TYPES.RESUME_OK, streamId: 0, flags: 0, clientPosition: 98765},
    {type: 'RESUME_OK', stream_id: 0, flags: 0, last_received_client_position: 98765}
  );

  return {frames, blobs: {mdSetup, mdRouteEcho, mdPush}, helpers: {route, simple, bearer}};
}

// A loopback TCP server that hands every length-prefixed frame it receives to onFrame.
// Lets a generator record what a real client of the peer library puts on the wire.
function captureServer(onFrame) {
  const net = require('net');
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 3) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 3 + length) {
            break;
          }
          const frame = Buffer.from(pending.subarray(3, 3 + length));
          pending = pending.subarray(3 + length);
          onFrame(frame, socket);
        }
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function peerRequireFrom(modulesDir, generator) {
  const path = require('path');
  return (name) => {
    try {
      return require(path.join(modulesDir, name));
    } catch (err) {
      process.stderr.write(
        `${generator}: cannot load ${name} from ${modulesDir} (${err.message}); ` +
          `run \`npm ci\` in ${path.dirname(modulesDir)}\n`
      );
      process.exit(3);
    }
  };
}

function emit(result) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

module.exports = {buildCatalog, captureServer, peerRequireFrom, emit, hex, b, CUSTOM_MIME};
