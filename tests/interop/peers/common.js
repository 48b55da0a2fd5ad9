'use strict';
// Shared helpers for the rsocket-js peer processes (0.0.27 "js_legacy" and 1.0.0-alpha.3 "js_v1").
//
// Library-neutral on purpose: it only touches Node built-ins. Each peer directory supplies an
// "adapter" built on its own rsocket-js version; the scenario runner below drives that adapter so
// both rsocket-js clients run byte-for-byte the same scenarios as the rsocket-py client.

const COMPOSITE_MIME = 'message/x.rsocket.composite-metadata.v0';
const ROUTING_MIME = 'message/x.rsocket.routing.v0';
const PLAIN_MIME = 'application/octet-stream';
const LARGE_SIZE = 1 << 20;
const FRAGMENT_SIZE = 65536;
const MAX_REQUEST_N = 0x7fffffff;
const ERROR_CODES = {REJECTED_SETUP: 0x003, APPLICATION_ERROR: 0x201};
const SCENARIOS = [
  'rr', 'stream', 'stream_cancel', 'channel', 'fnf_count', 'metadata_push', 'error', 'large',
  'concurrent', 'keepalive', 'reject_setup',
];

// ---------------------------------------------------------------------------------------------
// command line

function parseArgs(argv, allowed) {
  const out = {host: '127.0.0.1', routeMode: false, rejectSetup: false, timeoutMs: 30000, flags: {}};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        throw new Error(`missing value for ${arg}`);
      }
      return argv[++i];
    };
    if (arg === '--port') {
      out.port = Number.parseInt(value(), 10);
    } else if (arg === '--scenario') {
      out.scenario = value();
    } else if (arg === '--timeout-ms') {
      out.timeoutMs = Number.parseInt(value(), 10);
    } else if (arg === '--route-mode') {
      out.routeMode = true;
    } else if (arg === '--reject-setup') {
      out.rejectSetup = true;
    } else if (allowed.includes(arg)) {
      out.flags[arg] = true;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  return out;
}

function usageExit(err) {
  process.stderr.write(`usage error: ${err.message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// small async helpers (every wait is bounded)

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {promise, resolve, reject};
}

class TimeoutError extends Error {}

function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timeout after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// payload helpers

function buf(value) {
  if (value === null || value === undefined) {
    return null;
  }
  return Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
}

function text(value) {
  return value === null || value === undefined ? null : Buffer.from(value).toString('utf8');
}

function largePattern(size) {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) {
    out[i] = i % 251;
  }
  return out;
}

function sameBytes(a, b) {
  const left = a === null || a === undefined ? Buffer.alloc(0) : Buffer.from(a);
  const right = b === null || b === undefined ? Buffer.alloc(0) : Buffer.from(b);
  return left.equals(right);
}

function errorCode(err) {
  if (err && typeof err.code === 'number') {
    return err.code; // rsocket-js 1.0 RSocketError
  }
  if (err && err.source && typeof err.source.code === 'number') {
    return err.source.code; // rsocket-js 0.0.x createErrorFromFrame
  }
  return null;
}

function errorMessage(err) {
  if (err && err.source && typeof err.source.message === 'string') {
    return err.source.message; // the wire message; err.message is decorated in 0.0.x
  }
  return err && err.message !== undefined ? String(err.message) : String(err);
}

// ---------------------------------------------------------------------------------------------
// server side: the conformance semantics, shared by both rsocket-js servers
//
// Counters are per connection (one ConformanceState per accepted connection) so that scenarios
// running in parallel on one server process do not see each other's fire-and-forgets.

class ConformanceState {
  constructor(composite) {
    this.composite = composite;
    this.fnf = 0;
    this.pushes = 0;
  }
}

class RouteError extends Error {}

// decodeRoute(metadataBuffer) -> first route string or null; supplied by each peer from its own
// rsocket-js composite/routing decoders.
function routeOf(state, metadata, decodeRoute) {
  if (!state.composite || metadata === null || metadata === undefined || metadata.length === 0) {
    return null;
  }
  try {
    return decodeRoute(Buffer.from(metadata));
  } catch (err) {
    throw new RouteError(`bad composite metadata: ${err.message}`);
  }
}

// Returns {error: message} or {data: Buffer, metadata: Buffer|null}.
function requestResponseResult(state, data, metadata, decodeRoute) {
  let route;
  try {
    route = routeOf(state, metadata, decodeRoute);
  } catch (err) {
    return {error: err.message};
  }
  const body = data === null || data === undefined ? '' : Buffer.from(data).toString('utf8');
  let action;
  if (route === null) {
    action = ['error', 'count', 'pushcount'].includes(body) ? body : 'echo';
  } else if (['echo', 'count', 'pushcount', 'error'].includes(route)) {
    action = route;
  } else {
    return {error: `no request-response handler for route '${route}'`};
  }
  switch (action) {
    case 'error':
      return {error: 'boom'};
    case 'count':
      return {data: Buffer.from(String(state.fnf)), metadata: null};
    case 'pushcount':
      return {data: Buffer.from(String(state.pushes)), metadata: null};
    default: {
      const raw = data === null || data === undefined ? Buffer.alloc(0) : Buffer.from(data);
      const meta = metadata === null || metadata === undefined ? null : Buffer.from(metadata);
      return {data: Buffer.concat([Buffer.from('echo:'), raw]), metadata: meta};
    }
  }
}

// Returns {error} or {count: N}.
function streamLength(state, data, metadata, decodeRoute) {
  let route;
  try {
    route = routeOf(state, metadata, decodeRoute);
  } catch (err) {
    return {error: err.message};
  }
  if (route !== null && route !== 'stream') {
    return {error: `no request-stream handler for route '${route}'`};
  }
  const body = data === null || data === undefined ? '' : Buffer.from(data).toString('utf8');
  if (!/^[0-9]{1,9}$/.test(body)) {
    return {error: `stream length must be a decimal integer, got '${body.slice(0, 32)}'`};
  }
  return {count: Number.parseInt(body, 10)};
}

function channelAllowed(state, metadata, decodeRoute) {
  let route;
  try {
    route = routeOf(state, metadata, decodeRoute);
  } catch (err) {
    return {error: err.message};
  }
  if (route !== null && route !== 'channel') {
    return {error: `no request-channel handler for route '${route}'`};
  }
  return {};
}

function countFireAndForget(state, metadata, decodeRoute) {
  let route = null;
  try {
    route = routeOf(state, metadata, decodeRoute);
  } catch (err) {
    process.stderr.write(`fire-and-forget ignored: ${err.message}\n`);
    return;
  }
  if (route !== null && route !== 'fnf') {
    process.stderr.write(`fire-and-forget ignored: no handler for route '${route}'\n`);
    return;
  }
  state.fnf += 1;
}

// ---------------------------------------------------------------------------------------------
// client side: scenario runner over a per-library adapter
//
// adapter.connect({routeMode, keepAlive, lifetime}) -> Promise<conn> where conn has:
//   requestResponse({data, metadata}) -> Promise<{data, metadata}> (rejects with the library error)
//   fireAndForget({data, metadata}) -> void
//   metadataPush(metadataBuffer) -> Promise<void> (rejects/throws if unsupported)
//   requestStream(payload, initialN, {onNext, onComplete, onError}) -> {request(n), cancel()}
//   requestChannel(payloads[], initialN, {onNext, onComplete, onError}) -> {request(n), cancel()}
//       the adapter sends payloads[0] in REQUEST_CHANNEL and the rest only as the responder grants
//       credit, then completes its outbound side.
//   keepaliveAcks() -> number of KEEPALIVE frames without R received
//   closed -> Promise resolved with {error} when the connection closes or fails
//   close()
// adapter.encodeRoute(route) -> composite metadata buffer holding one routing entry.

function requestMetadata(adapter, routeMode, route, plain) {
  return routeMode ? adapter.encodeRoute(route) : buf(plain);
}

// Pull a stream in batches: request `batch`, and request the next batch only once the previous
// batch has fully arrived, so there are never more than `batch` items in flight. With `take`,
// cancel after that many items.
function pullStream(conn, payload, {batch, take, timeoutMs}) {
  const done = deferred();
  const items = [];
  const beforeHandle = [];
  const afterTerminal = [];
  let outstanding = batch;
  let requested = batch;
  let requestFrames = 1;
  let violations = 0;
  let finished = false;
  let handle = null;
  const finish = result => {
    if (!finished) {
      finished = true;
      done.resolve(result);
    }
  };
  const onNext = p => {
    if (finished) {
      afterTerminal.push(text(p.data));
      return;
    }
    items.push(text(p.data));
    if (outstanding <= 0) {
      violations += 1;
    }
    outstanding -= 1;
    if (take !== undefined && items.length >= take) {
      handle.cancel();
      finish({items, requested, requestFrames, violations, completed: false, cancelled: true});
      return;
    }
    if (outstanding === 0) {
      const next = take === undefined ? batch : Math.min(batch, take - items.length);
      outstanding += next;
      requested += next;
      requestFrames += 1;
      handle.request(next);
    }
  };
  handle = conn.requestStream(payload, batch, {
    // Some libraries can deliver before requestStream() has returned the handle.
    onNext: p => (handle === null ? beforeHandle.push(p) : onNext(p)),
    onComplete: () => finish({items, requested, requestFrames, violations, completed: true, cancelled: false}),
    onError: err => (finished ? undefined : done.reject(err)),
  });
  for (const p of beforeHandle.splice(0)) {
    onNext(p);
  }
  return withTimeout(done.promise, timeoutMs, 'request-stream').then(result => {
    result.itemsAfterTerminal = afterTerminal;
    return result;
  });
}

async function scenarioRun(name, adapter, opts) {
  const t = opts.timeoutMs;
  const routeMode = opts.routeMode;
  const md = (route, plain) => requestMetadata(adapter, routeMode, route, plain);
  const echo = async (conn, body, route = 'echo') => {
    const r = await withTimeout(conn.requestResponse({data: buf(body), metadata: md(route, null)}), t, `rr ${route}`);
    return text(r.data);
  };

  if (name === 'reject_setup') {
    const conn = await withTimeout(adapter.connect({routeMode, keepAlive: 1000, lifetime: 10000}), t, 'connect');
    // A request makes libraries that only notice errors on traffic notice it; its own outcome is
    // reported but not judged.
    let rrOutcome = 'pending';
    conn
      .requestResponse({data: buf('hello'), metadata: md('echo', null)})
      .then(r => {
        rrOutcome = `answered: ${text(r.data)}`;
      })
      .catch(err => {
        rrOutcome = `error ${errorCode(err)}: ${errorMessage(err)}`;
      });
    let seen;
    try {
      seen = await withTimeout(conn.setupError, Math.min(t, 5000), 'connection-level ERROR after SETUP');
    } catch (err) {
      conn.close();
      return {ok: false, error: err.message, code: null, rr_outcome: rrOutcome};
    }
    let closed = false;
    try {
      await withTimeout(conn.closed, 1500, 'server closing the connection');
      closed = true;
    } catch (_err) {
      closed = false;
    }
    conn.close();
    const code = errorCode(seen);
    const message = errorMessage(seen);
    const ok = code === ERROR_CODES.REJECTED_SETUP;
    const out = {ok, code, message, connection_ended: closed, rr_outcome: rrOutcome};
    if (!ok) {
      out.error = `expected REJECTED_SETUP (3), got ${code}: ${message}`;
    }
    return out;
  }

  const keepaliveOpts = name === 'keepalive' ? {keepAlive: 200, lifetime: 2000} : {keepAlive: 5000, lifetime: 30000};
  const conn = await withTimeout(adapter.connect({routeMode, ...keepaliveOpts}), t, 'connect');
  try {
    switch (name) {
      case 'rr': {
        const meta = md('echo', 'meta');
        const r = await withTimeout(conn.requestResponse({data: buf('hello'), metadata: meta}), t, 'rr');
        const data = text(r.data);
        const echoed = sameBytes(r.metadata, meta);
        const out = {
          ok: data === 'echo:hello' && echoed,
          data,
          metadata: r.metadata ? Buffer.from(r.metadata).toString(routeMode ? 'hex' : 'utf8') : null,
          metadata_echoed: echoed,
        };
        if (!out.ok) {
          out.error = `expected data 'echo:hello' and metadata echoed, got data ${JSON.stringify(data)}, metadata ${JSON.stringify(out.metadata)}`;
          out.code = null;
        }
        return out;
      }
      case 'stream': {
        const started = Date.now();
        const r = await pullStream(conn, {data: buf('100'), metadata: md('stream', null)}, {batch: 10, timeoutMs: t});
        const expected = Array.from({length: 100}, (_, i) => String(i));
        const ok = r.completed && r.violations === 0 && JSON.stringify(r.items) === JSON.stringify(expected);
        const out = {
          ok,
          items: r.items,
          count: r.items.length,
          request_n_batches: r.requestFrames,
          credit_violations: r.violations,
          elapsed_ms: Date.now() - started,
        };
        if (!ok) {
          out.error = `expected 100 items '0'..'99' in batches of 10, completed=${r.completed}, violations=${r.violations}`;
          out.code = null;
        }
        return out;
      }
      case 'stream_cancel': {
        const r = await pullStream(conn, {data: buf('1000'), metadata: md('stream', null)}, {batch: 5, take: 25, timeoutMs: t});
        const after = await echo(conn, 'after');
        const expected = Array.from({length: 25}, (_, i) => String(i));
        const ok =
          r.cancelled && r.violations === 0 && JSON.stringify(r.items) === JSON.stringify(expected) && after === 'echo:after';
        const out = {
          ok,
          items: r.items,
          requested: r.requested,
          credit_violations: r.violations,
          items_after_cancel: r.itemsAfterTerminal.length,
          after,
        };
        if (!ok) {
          out.error = `expected items '0'..'24' then cancel and rr 'echo:after'; got ${r.items.length} items, after=${JSON.stringify(after)}`;
          out.code = null;
        }
        return out;
      }
      case 'channel': {
        const payloads = Array.from({length: 50}, (_, i) => ({data: buf(`c${i}`), metadata: i === 0 ? md('channel', null) : null}));
        const done = deferred();
        const echoes = [];
        let outstanding = 10;
        let violations = 0;
        let handle = null;
        const pending = [];
        const onNext = p => {
          echoes.push(text(p.data));
          if (outstanding <= 0) {
            violations += 1;
          }
          outstanding -= 1;
          if (outstanding === 0 && echoes.length < 50) {
            outstanding += 10;
            handle.request(10);
          }
        };
        handle = conn.requestChannel(payloads, 10, {
          onNext: p => (handle === null ? pending.push(p) : onNext(p)),
          onComplete: () => done.resolve(),
          onError: err => done.reject(err),
        });
        for (const p of pending.splice(0)) {
          onNext(p);
        }
        await withTimeout(done.promise, t, 'request-channel');
        const expected = payloads.map(p => text(p.data));
        const ok = violations === 0 && JSON.stringify(echoes) === JSON.stringify(expected);
        const out = {ok, echoes, count: echoes.length, credit_violations: violations};
        if (!ok) {
          out.error = `expected the 50 payloads echoed in order, got ${echoes.length}`;
          out.code = null;
        }
        return out;
      }
      case 'fnf_count': {
        for (let i = 0; i < 3; i++) {
          conn.fireAndForget({data: buf(`f${i}`), metadata: md('fnf', null)});
        }
        const count = await echo(conn, 'count', 'count');
        return count === '3' ? {ok: true, count} : {ok: false, count, error: `expected count '3', got ${JSON.stringify(count)}`, code: null};
      }
      case 'metadata_push': {
        for (let i = 0; i < 2; i++) {
          const pushMeta = routeMode ? adapter.encodeRoute('push') : buf(`push${i}`);
          try {
            await withTimeout(Promise.resolve().then(() => conn.metadataPush(pushMeta)), t, 'metadata push');
          } catch (err) {
            return {ok: false, error: `unsupported by peer: ${errorMessage(err)}`, code: errorCode(err)};
          }
        }
        const count = await echo(conn, 'pushcount', 'pushcount');
        return count === '2' ? {ok: true, count} : {ok: false, count, error: `expected pushcount '2', got ${JSON.stringify(count)}`, code: null};
      }
      case 'error': {
        try {
          const r = await withTimeout(conn.requestResponse({data: buf('error'), metadata: md('error', null)}), t, 'rr error');
          return {ok: false, error: `expected an ERROR frame, got payload ${JSON.stringify(text(r.data))}`, code: null};
        } catch (err) {
          if (err instanceof TimeoutError) {
            throw err;
          }
          const code = errorCode(err);
          const message = errorMessage(err);
          const ok = code === ERROR_CODES.APPLICATION_ERROR && message === 'boom';
          const out = {ok, code, message};
          if (!ok) {
            out.error = `expected APPLICATION_ERROR (0x201) 'boom', got ${code}: ${message}`;
          }
          return out;
        }
      }
      case 'large': {
        const data = largePattern(LARGE_SIZE);
        const started = Date.now();
        const r = await withTimeout(conn.requestResponse({data, metadata: md('echo', null)}), t, 'rr large');
        const expected = Buffer.concat([Buffer.from('echo:'), data]);
        const got = r.data ? Buffer.from(r.data) : Buffer.alloc(0);
        const ok = got.equals(expected);
        const out = {ok, sent_bytes: data.length, received_bytes: got.length, elapsed_ms: Date.now() - started};
        if (!ok) {
          out.error = `1 MiB echo mismatch (received ${got.length} bytes, expected ${expected.length})`;
          out.code = null;
        }
        return out;
      }
      case 'concurrent': {
        const started = Date.now();
        const results = await withTimeout(
          Promise.all(
            Array.from({length: 200}, (_, i) =>
              conn.requestResponse({data: buf(`c${i}`), metadata: md('echo', null)}).then(r => text(r.data)),
            ),
          ),
          t,
          '200 concurrent rr',
        );
        const wrong = results.filter((r, i) => r !== `echo:c${i}`).length;
        const out = {ok: wrong === 0, answered: results.length, wrong, elapsed_ms: Date.now() - started};
        if (wrong) {
          out.error = `${wrong} of 200 answers were wrong`;
          out.code = null;
        }
        return out;
      }
      case 'keepalive': {
        // Idle on purpose: the point is to let >= 3 keepalive intervals (200 ms) pass with no
        // request traffic, and to prove the connection is still usable afterwards.
        await delay(1000);
        const acks = conn.keepaliveAcks();
        const after = await echo(conn, 'alive');
        const ok = after === 'echo:alive' && acks >= 3;
        const out = {ok, keepalive_acks: acks, after};
        if (!ok) {
          out.error = `expected >= 3 KEEPALIVE acks and rr 'echo:alive', got ${acks} acks and ${JSON.stringify(after)}`;
          out.code = null;
        }
        return out;
      }
      default:
        throw new Error(`unknown scenario ${name}`);
    }
  } finally {
    conn.close();
  }
}

async function runClientMain(peer, makeAdapter) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), []);
    if (!SCENARIOS.includes(args.scenario)) {
      throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}`);
    }
  } catch (err) {
    usageExit(err);
  }
  const adapter = makeAdapter(args);
  let result;
  try {
    result = await scenarioRun(args.scenario, adapter, args);
  } catch (err) {
    result = {ok: false, error: `${err && err.name ? err.name : 'Error'}: ${errorMessage(err)}`, code: errorCode(err)};
  }
  // Exit once the line is flushed; do not wait for lingering library timers (keepalive
  // intervals) to drain. The fallback timer bounds the wait for the flush.
  setTimeout(() => process.exit(0), 2000);
  process.stdout.write(`${JSON.stringify({peer, scenario: args.scenario, route_mode: args.routeMode, ...result})}\n`, () =>
    process.exit(0),
  );
}

module.exports = {
  COMPOSITE_MIME,
  ROUTING_MIME,
  PLAIN_MIME,
  FRAGMENT_SIZE,
  MAX_REQUEST_N,
  ERROR_CODES,
  ConformanceState,
  parseArgs,
  usageExit,
  deferred,
  withTimeout,
  buf,
  text,
  errorCode,
  errorMessage,
  requestResponseResult,
  streamLength,
  channelAllowed,
  countFireAndForget,
  runClientMain,
};
