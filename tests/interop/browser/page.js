'use strict';
// Runs in a real browser, bundled by esbuild with rsocket-js 0.0.27's WebSocket client.
//
// Connects to ws://127.0.0.1:PORT/rsocket (PORT from the page's ?port= query), the conformance
// server's semantics on the other side, and runs:
//   * request/response 'hello' (expects 'echo:hello');
//   * request/stream '1000' pulled in request-n batches of 10, never more than 10 in flight;
//   * request/channel of 50 payloads, each echoed back.
// The outcome goes into <pre id="result"> as JSON, and the title becomes 'done' or 'failed'.

require('./buffer_global.js');
const {RSocketClient, BufferEncoders} = require('rsocket-core');
const {Flowable} = require('rsocket-flowable');
const RSocketWebSocketClient = require('rsocket-websocket-client').default;

const STREAM_ITEMS = 1000;
const BATCH = 10;
const CHANNEL_ITEMS = 50;
const TIMEOUT_MS = 20000;

function single(s) {
  return new Promise((resolve, reject) => s.subscribe({onComplete: resolve, onError: reject, onSubscribe: () => {}}));
}

function bounded(promise, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${TIMEOUT_MS} ms: ${label}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function text(buffer) {
  return buffer === null || buffer === undefined ? null : Buffer.from(buffer).toString('utf8');
}

function pullStream(socket) {
  return new Promise((resolve, reject) => {
    const items = [];
    let outstanding = BATCH;
    let requestFrames = 1;
    let violations = 0;
    let subscription = null;
    socket.requestStream({data: Buffer.from(String(STREAM_ITEMS)), metadata: null}).subscribe({
      onSubscribe: s => {
        subscription = s;
        s.request(BATCH);
      },
      onNext: p => {
        items.push(text(p.data));
        if (outstanding <= 0) {
          violations += 1;
        }
        outstanding -= 1;
        if (outstanding === 0 && items.length < STREAM_ITEMS) {
          outstanding = BATCH;
          requestFrames += 1;
          subscription.request(BATCH);
        }
      },
      onComplete: () => resolve({items, requestFrames, violations}),
      onError: reject,
    });
  });
}

function channel(socket) {
  const payloads = Array.from({length: CHANNEL_ITEMS}, (_, i) => `c${i}`);
  const outbound = new Flowable(subscriber => {
    let next = 0;
    let done = false;
    subscriber.onSubscribe({
      cancel: () => {
        done = true;
      },
      request: n => {
        for (let budget = n; budget > 0 && next < payloads.length && !done; budget--) {
          subscriber.onNext({data: Buffer.from(payloads[next++]), metadata: null});
        }
        if (next >= payloads.length && !done) {
          done = true;
          subscriber.onComplete();
        }
      },
    });
  }, 0x7fffffff);
  return new Promise((resolve, reject) => {
    const echoes = [];
    socket.requestChannel(outbound).subscribe({
      onSubscribe: s => s.request(0x7fffffff),
      onNext: p => echoes.push(text(p.data)),
      onComplete: () => resolve({echoes, sent: payloads}),
      onError: reject,
    });
  });
}

async function run() {
  const port = new URLSearchParams(window.location.search).get('port');
  const client = new RSocketClient({
    setup: {dataMimeType: 'text/plain', metadataMimeType: 'application/octet-stream', keepAlive: 1000, lifetime: 10000},
    transport: new RSocketWebSocketClient({url: `ws://127.0.0.1:${port}/rsocket`}, BufferEncoders),
  });
  const started = performance.now();
  const socket = await bounded(single(client.connect()), 'connect');
  const rr = await bounded(single(socket.requestResponse({data: Buffer.from('hello'), metadata: null})), 'request/response');
  const stream = await bounded(pullStream(socket), 'request/stream');
  const chan = await bounded(channel(socket), 'request/channel');
  client.close();
  return {
    ok: true,
    user_agent: navigator.userAgent,
    rr: text(rr.data),
    stream: {
      count: stream.items.length,
      in_order: stream.items.every((item, i) => item === String(i)),
      request_n_frames: stream.requestFrames,
      credit_violations: stream.violations,
    },
    channel: {echoes: chan.echoes, in_order: JSON.stringify(chan.echoes) === JSON.stringify(chan.sent)},
    elapsed_ms: Math.round(performance.now() - started),
  };
}

function report(result) {
  document.getElementById('result').textContent = JSON.stringify(result);
  document.title = result.ok ? 'done' : 'failed';
}

run().then(report, err => report({ok: false, error: String((err && err.message) || err)}));
