'use strict';
// Runs a TCP peer script (server.js / client.js) unchanged over another transport.
//
// The module a peer script loads for TCP is replaced, in Node's module cache, by one exporting a
// class with the same constructor shape that speaks the other transport. The conformance
// handlers, scenario runners and peer workarounds therefore exist once: in each peer's
// server.js / client.js and in ./common.js.

const Module = require('module');
const path = require('path');

// The WebSocket path every WebSocket peer serves and connects to.
const WS_PATH = '/rsocket';

function substitute(peerDir, request, exports) {
  const peerRequire = Module.createRequire(path.join(peerDir, 'package.json'));
  const resolved = peerRequire.resolve(request);
  const stub = new Module(resolved, module);
  stub.filename = resolved;
  stub.loaded = true;
  stub.exports = exports;
  require.cache[resolved] = stub;
}

module.exports = {WS_PATH, substitute};
