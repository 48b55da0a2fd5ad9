'use strict';
// rsocket-js 1.0.0-alpha.3 calling a routed (Spring @MessageMapping-style) server the way its
// users do: rsocket-messaging's RSocketRequester for route + metadata, rsocket-composite-metadata
// for the composite, routing and auth encodings, JSON bodies.
//
//   node routed_client.js --port P --scenario NAME
//
// Scenarios (see tests/interop/test_interop_app.py for the server side and the expectations):
//   composite      SETUP: composite metadata (route connect.js + simple auth alice/secret), JSON data.
//                  Calls every interaction model, per-request bearer auth, the error cases, and
//                  answers the server's call back to route client.name.
//   bearer_setup   SETUP with a bearer token; calls a route that needs the admin role.
//   bad_setup      SETUP with a wrong password; reports the ERROR it gets.
//   routing_mime   SETUP metadata MIME message/x.rsocket.routing.v0; requests carry bare routing tags.
//
// Prints exactly one JSON line on stdout: {"ok": true, "results": {...}} once the scenario ran
// (each result is {"value": ...} or {"error": {"code": N, "message": "..."}}), or
// {"ok": false, "error": "..."} when it could not run. Exit code 0 unless the arguments are bad.

const {RSocketConnector} = require('rsocket-core');
const {TcpClientTransport} = require('rsocket-tcp-client');
const {
  WellKnownMimeType,
  encodeCompositeMetadata,
  encodeRoutes,
  encodeSimpleAuthMetadata,
  encodeBearerAuthMetadata,
  decodeCompositeMetadata,
  decodeRoutes,
} = require('rsocket-composite-metadata');
const {RSocketRequester} = require('rsocket-messaging');

const COMPOSITE_MIME = WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string;
const ROUTING_MIME = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.string;
const AUTH = WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION;
const ROUTING = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING;
const STEP_TIMEOUT_MS = 10000;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--port') {
      out.port = Number.parseInt(argv[i + 1], 10);
    } else if (argv[i] === '--scenario') {
      out.scenario = argv[i + 1];
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!Number.isInteger(out.port) || !out.scenario) {
    throw new Error('usage: routed_client.js --port P --scenario NAME');
  }
  return out;
}

function withTimeout(promise, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${STEP_TIMEOUT_MS} ms: ${label}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const json = value => Buffer.from(JSON.stringify(value));
const parse = buffer => (buffer && buffer.length ? JSON.parse(buffer.toString('utf8')) : null);

// Exchange functions for rsocket-messaging's RequestSpec.request(): they receive the raw RSocket
// and the metadata map (routing entry first) and perform one interaction.
function requestResponse(data) {
  return (rsocket, metadata) =>
    new Promise((resolve, reject) => {
      rsocket.requestResponse(
        {data: data === undefined ? Buffer.alloc(0) : json(data), metadata: encodeCompositeMetadata(metadata)},
        {
          onNext: payload => resolve(parse(payload.data)),
          onComplete: () => resolve(null),
          onError: reject,
          onExtension: () => {},
        },
      );
    });
}

function requestStream(data, batch) {
  // Asks for `batch` items at a time, the next batch once the previous one has arrived.
  return (rsocket, metadata) =>
    new Promise((resolve, reject) => {
      const items = [];
      let outstanding = batch;
      const payload = {data: json(data), metadata: encodeCompositeMetadata(metadata)};
      const requestable = rsocket.requestStream(payload, batch, {
        onNext: (item, isComplete) => {
          items.push(parse(item.data));
          outstanding -= 1;
          if (isComplete) {
            resolve(items);
          } else if (outstanding === 0) {
            outstanding = batch;
            requestable.request(batch);
          }
        },
        onComplete: () => resolve(items),
        onError: reject,
        onExtension: () => {},
      });
    });
}

function requestChannel(values) {
  // Sends `values` as the responder grants credit (the first travels with REQUEST_CHANNEL).
  return (rsocket, metadata) =>
    new Promise((resolve, reject) => {
      const items = [];
      let next = 1;
      let credit = 0;
      let requester = null;
      const pump = () => {
        while (requester !== null && credit > 0 && next < values.length) {
          credit -= 1;
          const last = next === values.length - 1;
          requester.onNext({data: json(values[next])}, last);
          next += 1;
        }
      };
      requester = rsocket.requestChannel(
        {data: json(values[0]), metadata: encodeCompositeMetadata(metadata)},
        64,
        values.length === 1,
        {
          onNext: (payload, isComplete) => {
            items.push(parse(payload.data));
            if (isComplete) {
              resolve(items);
            }
          },
          onComplete: () => resolve(items),
          onError: reject,
          onExtension: () => {},
          request: n => {
            credit += n;
            pump();
          },
          cancel: () => {
            next = values.length;
          },
        },
      );
      pump();
    });
}

function fireAndForget(data) {
  return async (rsocket, metadata) => {
    rsocket.fireAndForget(
      {data: json(data), metadata: encodeCompositeMetadata(metadata)},
      {onComplete: () => {}, onError: () => {}},
    );
  };
}

async function step(results, name, run) {
  try {
    results[name] = {value: await withTimeout(run(), name)};
  } catch (err) {
    results[name] = {error: {code: err.code === undefined ? null : err.code, message: String(err.message)}};
  }
}

// Serves the server's calls to this client: route client.name answers with our name.
function clientResponder() {
  const cancellable = {cancel: () => {}, onExtension: () => {}};
  return {
    requestResponse: (payload, sink) => {
      let route = null;
      for (const entry of decodeCompositeMetadata(payload.metadata || Buffer.alloc(0))) {
        if (entry.mimeType === ROUTING_MIME) {
          route = decodeRoutes(entry.content).next().value;
        }
      }
      if (route === 'client.name') {
        sink.onNext({data: json('rsocket-js')}, true);
      } else {
        sink.onError(new Error(`client has no route ${route}`));
      }
      return cancellable;
    },
  };
}

async function connect(port, {metadataMimeType, setupMetadata, responder}) {
  const connector = new RSocketConnector({
    setup: {
      dataMimeType: 'application/json',
      metadataMimeType,
      keepAlive: 5000,
      lifetime: 30000,
      payload: {data: json({client: 'rsocket-js'}), metadata: setupMetadata},
    },
    responder,
    transport: new TcpClientTransport({connectionOptions: {host: '127.0.0.1', port, noDelay: true}}),
  });
  const rsocket = await connector.connect();
  const closed = new Promise(resolve => rsocket.onClose(err => resolve(err)));
  return {rsocket, closed, requester: RSocketRequester.wrap(rsocket)};
}

async function scenarioComposite(port) {
  const {rsocket, requester} = await connect(port, {
    metadataMimeType: COMPOSITE_MIME,
    setupMetadata: encodeCompositeMetadata([
      [ROUTING, encodeRoutes('connect.js')],
      [AUTH, encodeSimpleAuthMetadata('alice', 'secret')],
    ]),
    responder: clientResponder(),
  });
  const results = {};
  const route = name => requester.route(name);
  await step(results, 'user', () => route('users.7').request(requestResponse()));
  await step(results, 'echo', () => route('echo').request(requestResponse({hello: 'world'})));
  await step(results, 'numbers', () => route('numbers').request(requestStream({count: 10}, 3)));
  await step(results, 'sum', () => route('sum').request(requestChannel([1, 2, 3, 4])));
  await step(results, 'audit', () => route('audit').request(fireAndForget({event: 'js'})));
  await step(results, 'audit_count', () => route('audit.count').request(requestResponse()));
  await step(results, 'unknown', () => route('no.such.route').request(requestResponse()));
  await step(results, 'rejected', () => route('admin.stats').request(requestResponse()));
  await step(results, 'bearer_stats', () =>
    route('admin.stats').metadata(AUTH, encodeBearerAuthMetadata('token-123')).request(requestResponse()),
  );
  await step(results, 'invalid', () => route('users.create').request(requestResponse({name: 'Eve', email: 5})));
  await step(results, 'created', () =>
    route('users.create').request(requestResponse({name: 'Eve', email: 'eve@example.com'})),
  );
  await step(results, 'callback', () => route('callback').request(requestResponse()));
  rsocket.close();
  return results;
}

async function scenarioBearerSetup(port) {
  const {rsocket, requester} = await connect(port, {
    metadataMimeType: COMPOSITE_MIME,
    setupMetadata: encodeCompositeMetadata([[AUTH, encodeBearerAuthMetadata('token-123')]]),
  });
  const results = {};
  await step(results, 'stats', () => requester.route('admin.stats').request(requestResponse()));
  await step(results, 'echo', () => requester.route('echo').request(requestResponse({via: 'bearer'})));
  rsocket.close();
  return results;
}

async function scenarioBadSetup(port) {
  const {rsocket, closed} = await connect(port, {
    metadataMimeType: COMPOSITE_MIME,
    setupMetadata: encodeCompositeMetadata([[AUTH, encodeSimpleAuthMetadata('alice', 'wrong')]]),
  });
  const error = await withTimeout(closed, 'the server refusing the SETUP');
  rsocket.close();
  return {setup: {error: {code: error && error.code !== undefined ? error.code : null, message: String(error && error.message)}}};
}

async function scenarioRoutingMime(port) {
  // Bare routing tags as the metadata of every request (no composite, so no credentials either).
  const {rsocket} = await connect(port, {metadataMimeType: ROUTING_MIME, setupMetadata: undefined});
  const rr = (routeName, data) =>
    new Promise((resolve, reject) => {
      rsocket.requestResponse(
        {data: data === undefined ? Buffer.alloc(0) : json(data), metadata: encodeRoutes(routeName)},
        {onNext: p => resolve(parse(p.data)), onComplete: () => resolve(null), onError: reject, onExtension: () => {}},
      );
    });
  const results = {};
  await step(results, 'user', () => rr('users.8'));
  await step(results, 'echo', () => rr('echo', {plain: 'routing'}));
  await step(results, 'unknown', () => rr('missing.route'));
  rsocket.close();
  return results;
}

const SCENARIOS = {
  composite: scenarioComposite,
  bearer_setup: scenarioBearerSetup,
  bad_setup: scenarioBadSetup,
  routing_mime: scenarioRoutingMime,
};

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (!(args.scenario in SCENARIOS)) {
      throw new Error(`unknown scenario ${args.scenario}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  let out;
  try {
    out = {ok: true, results: await SCENARIOS[args.scenario](args.port)};
  } catch (err) {
    out = {ok: false, error: String(err && err.stack ? err.stack : err)};
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

main();
