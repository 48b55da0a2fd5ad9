'use strict';
// rsocket-js 0.0.27 client with leasing on (SETUP with L), for tests/interop/test_lease_js_legacy.py.
//
//   node tests/interop/peers/js_legacy/lease_client.js --port P --scenario NAME [--timeout-ms MS]
//        [--grant N] [--grant-ttl-ms T] [--grant-at-once]
//
// Prints one JSON line: {"ok": true, ...facts} once the scenario ran, {"ok": false, "error": ...}
// if it could not. The facts are judged by the Python test, not here. Scenarios:
//
// * honour   - wait for the server's first LEASE; then one request of each type (request/response,
//              stream, fire-and-forget, channel), then one request/response more, which this
//              library should refuse locally once the lease is used up.
// * overdraw - wait for the first LEASE (N requests); switch off this library's own lease check
//              and send N+1 request/responses at once, to see how the server answers the extra one.
// * serve    - grant the server one LEASE of --grant requests for --grant-ttl-ms and answer its
//              request/responses with "pong:" + data; then ask the server for "report" (its view of
//              requesting us) and print the answer.
//
// This library subscribes to the lease sender before it writes SETUP, so a sender that emits at
// once puts the LEASE ahead of the SETUP on the wire. The grant therefore waits for the next turn
// of the event loop, unless --grant-at-once asks to show that ordering. A connection-level ERROR
// is reported as {"ok": false, "code": ..., "error": ...}.
// Every wait is bounded by --timeout-ms.

const {RSocketClient, BufferEncoders, Lease, Leases} = require('rsocket-core');
const {Flowable, Single} = require('rsocket-flowable');
const RSocketTcpClient = require('rsocket-tcp-client').default;
const common = require('../common.js');

const SCENARIOS = ['honour', 'overdraw', 'serve'];

function parseArgs(argv) {
  const out = {host: '127.0.0.1', timeoutMs: 10000, grant: 1, grantTtlMs: 30000, grantAtOnce: false};
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
    } else if (arg === '--grant') {
      out.grant = Number.parseInt(value(), 10);
    } else if (arg === '--grant-ttl-ms') {
      out.grantTtlMs = Number.parseInt(value(), 10);
    } else if (arg === '--grant-at-once') {
      out.grantAtOnce = true;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(out.port) || out.port <= 0 || out.port > 65535) {
    throw new Error('--port must be an integer in 1..65535');
  }
  if (!SCENARIOS.includes(out.scenario)) {
    throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  }
  return out;
}

function singleToPromise(single) {
  return new Promise((resolve, reject) => {
    single.subscribe({onComplete: resolve, onError: reject, onSubscribe: () => {}});
  });
}

function collect(flowable, n) {
  return new Promise((resolve, reject) => {
    const items = [];
    flowable.subscribe({
      onSubscribe: s => s.request(n),
      onNext: p => items.push(common.text(p.data)),
      onComplete: () => resolve(items),
      onError: reject,
    });
  });
}

function outcome(promise) {
  return promise.then(
    r => ({ok: true, data: common.text(r.data)}),
    err => ({ok: false, code: common.errorCode(err), message: common.errorMessage(err)}),
  );
}

// A sender of one lease that never completes: a completed sender would stop the library's lease
// bookkeeping, and one grant is all the scenarios need.
function oneLease(ttlMs, requests, atOnce) {
  return () =>
    new Flowable(subscriber => {
      subscriber.onSubscribe({cancel: () => {}, request: () => {}});
      const grant = () => subscriber.onNext(new Lease(ttlMs, requests));
      if (atOnce) {
        grant();
      } else {
        setImmediate(grant);
      }
    });
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    process.exit(2);
  }
  const t = args.timeoutMs;
  const firstLease = common.deferred();
  const serverRequests = [];
  const leases = new Leases().receiver(received =>
    received.subscribe({
      onSubscribe: s => s.request(Number.MAX_SAFE_INTEGER),
      onNext: lease => firstLease.resolve({ttl: lease.timeToLiveMillis, requests: lease.allowedRequests}),
    }),
  );
  if (args.scenario === 'serve') {
    leases.sender(oneLease(args.grantTtlMs, args.grant, args.grantAtOnce));
  }
  const connectionError = common.deferred();
  const client = new RSocketClient({
    setup: {dataMimeType: common.PLAIN_MIME, metadataMimeType: common.PLAIN_MIME, keepAlive: 1000, lifetime: 30000},
    transport: new RSocketTcpClient({host: args.host, port: args.port, noDelay: true}, BufferEncoders),
    leases: () => leases,
    errorHandler: err => connectionError.reject(err),
    responder: {
      requestResponse: p => {
        serverRequests.push(common.text(p.data));
        return Single.of({data: Buffer.from(`pong:${common.text(p.data)}`), metadata: null});
      },
    },
  });
  const socket = await common.withTimeout(singleToPromise(client.connect()), t, 'connect');
  socket.connectionStatus().subscribe({
    onSubscribe: s => s.request(Number.MAX_SAFE_INTEGER),
    onNext: status => {
      if (status.kind === 'ERROR') {
        connectionError.reject(status.error);
      } else if (status.kind === 'CLOSED') {
        connectionError.reject(new Error('connection closed'));
      }
    },
  });
  const rr = body => socket.requestResponse({data: Buffer.from(body), metadata: null});
  const lease = await common.withTimeout(
    Promise.race([firstLease.promise, connectionError.promise]),
    t,
    'first LEASE from the server',
  );

  if (args.scenario === 'honour') {
    const response = await common.withTimeout(singleToPromise(rr('one')), t, 'request/response');
    const stream = await common.withTimeout(
      collect(socket.requestStream({data: Buffer.from('2'), metadata: null}), 2),
      t,
      'request/stream',
    );
    socket.fireAndForget({data: Buffer.from('fnf'), metadata: null});
    const channel = await common.withTimeout(
      collect(socket.requestChannel(Flowable.just({data: Buffer.from('ch'), metadata: null})), 1),
      t,
      'request/channel',
    );
    const extra = await common.withTimeout(outcome(singleToPromise(rr('extra'))), t, 'request beyond the lease');
    return {
      ok: true,
      lease,
      response: common.text(response.data),
      stream,
      channel,
      extra,
      availability: socket.availability(),
    };
  }
  if (args.scenario === 'overdraw') {
    // Pretend the lease has room: the only way to make this library exceed what it was granted.
    socket._machine._requesterLeaseHandler.use = () => true;
    const results = await common.withTimeout(
      Promise.all(Array.from({length: lease.requests + 1}, (_, i) => outcome(singleToPromise(rr(`r${i}`))))),
      t,
      'requests',
    );
    return {ok: true, lease, results};
  }
  const report = await common.withTimeout(singleToPromise(rr('report')), t, 'report');
  return {ok: true, lease, report: JSON.parse(common.text(report.data)), server_requests: serverRequests};
}

main()
  .catch(err => ({
    ok: false,
    error: `${err && err.name ? err.name : 'Error'}: ${common.errorMessage(err)}`,
    code: common.errorCode(err),
  }))
  .then(result => {
    setTimeout(() => process.exit(0), 2000);
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  });
