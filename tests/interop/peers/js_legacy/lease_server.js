'use strict';
// rsocket-js 0.0.27 server with leasing on, for tests/interop/test_lease_js_legacy.py.
//
//   node tests/interop/peers/js_legacy/lease_server.js --port P --grant N [--grant-ttl-ms T] [--overdraw]
//
// Prints exactly one line `READY <port>` on stdout once listening on 127.0.0.1 (port 0 picks a
// free port). Everything else goes to stderr.
//
// Per connection:
// * grants one LEASE of --grant requests for --grant-ttl-ms (default 30000) right after SETUP;
// * serves request/response (echo: + data, or "report", below), request/stream (N -> items 0..N-1),
//   request/channel (echo) and fire-and-forget;
// * once the client's first LEASE arrives, requests the client as many times as it allows
//   (request/response "q0", "q1", ...) and, with --overdraw, once more with this library's own
//   lease check switched off, to see how the client answers;
// * "report" answers, once those requests are done, with JSON {client_lease, results, fnf}: what
//   the client granted and what became of each request.

const net = require('net');
const {RSocketServer, BufferEncoders, Lease, Leases} = require('rsocket-core');
const {Flowable, Single} = require('rsocket-flowable');
const RSocketTCPServer = require('rsocket-tcp-server').default;
const common = require('../common.js');

function parseArgs(argv) {
  const out = {host: '127.0.0.1', grantTtlMs: 30000, overdraw: false};
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
    } else if (arg === '--grant') {
      out.grant = Number.parseInt(value(), 10);
    } else if (arg === '--grant-ttl-ms') {
      out.grantTtlMs = Number.parseInt(value(), 10);
    } else if (arg === '--overdraw') {
      out.overdraw = true;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  if (!Number.isInteger(out.grant) || out.grant < 1) {
    throw new Error('--grant must be a positive integer');
  }
  return out;
}

function outcome(single) {
  return new Promise(resolve => {
    single.subscribe({
      onSubscribe: () => {},
      onComplete: r => resolve({ok: true, data: common.text(r.data)}),
      onError: err => resolve({ok: false, code: common.errorCode(err), message: common.errorMessage(err)}),
    });
  });
}

class ConnectionState {
  constructor(args) {
    this.args = args;
    this.machine = null;
    this.clientLease = null;
    this.fnf = 0;
    this.done = common.deferred();
  }

  leases() {
    return new Leases()
      .sender(() =>
        new Flowable(subscriber => {
          subscriber.onSubscribe({cancel: () => {}, request: () => {}});
          subscriber.onNext(new Lease(this.args.grantTtlMs, this.args.grant));
        }),
      )
      .receiver(received =>
        received.subscribe({
          onSubscribe: s => s.request(Number.MAX_SAFE_INTEGER),
          onNext: lease => {
            if (this.clientLease === null) {
              this.clientLease = {ttl: lease.timeToLiveMillis, requests: lease.allowedRequests};
              // After this turn: the library records the lease once its receiver returns.
              setImmediate(() => this.requestClient(lease.allowedRequests));
            }
          },
        }),
      );
  }

  async requestClient(allowed) {
    const rr = body => this.machine.requestResponse({data: Buffer.from(body), metadata: null});
    const results = [];
    for (let i = 0; i < allowed; i++) {
      results.push(await outcome(rr(`q${i}`)));
    }
    if (this.args.overdraw) {
      this.machine._requesterLeaseHandler.use = () => true;
      results.push(await outcome(rr(`q${allowed}`)));
    }
    this.done.resolve(results);
  }

  handler() {
    return {
      requestResponse: payload => {
        const body = common.text(payload.data);
        if (body === 'report') {
          return new Single(subscriber => {
            subscriber.onSubscribe(() => {});
            this.done.promise.then(results =>
              subscriber.onComplete({
                data: Buffer.from(JSON.stringify({client_lease: this.clientLease, results, fnf: this.fnf})),
                metadata: null,
              }),
            );
          });
        }
        return Single.of({data: Buffer.from(`echo:${body}`), metadata: null});
      },
      requestStream: payload => Flowable.just(...Array.from({length: Number(common.text(payload.data))}, (_, i) => ({data: Buffer.from(String(i)), metadata: null}))),
      requestChannel: payloads => payloads,
      fireAndForget: () => {
        this.fnf += 1;
      },
    };
  }
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    process.exit(2);
  }
  let listening = null;
  // RSocketServer calls the leases supplier and then getRequestHandler synchronously for one
  // SETUP, so the state made by the first is the one the second picks up.
  let pending = null;

  const tcp = new RSocketTCPServer(
    {
      host: args.host,
      port: args.port,
      serverFactory: onConnect => {
        const server = net.createServer({noDelay: true}, socket => {
          socket.setNoDelay(true);
          onConnect(socket);
        });
        server.on('listening', () => process.stdout.write(`READY ${server.address().port}\n`));
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

  const server = new RSocketServer({
    transport: tcp,
    leases: () => {
      pending = new ConnectionState(args);
      return pending.leases();
    },
    getRequestHandler: machine => {
      const state = pending;
      pending = null;
      state.machine = machine;
      return state.handler();
    },
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
