'use strict';
// rsocket-js 0.0.27 conformance server over WebSocket (rsocket-websocket-server, path /rsocket).
//
//   node tests/interop/peers/js_legacy/ws_server.js --port P [--reject-setup] [--no-metadata-shim]
//
// This is server.js unchanged (same arguments, semantics and `READY <port>` line) with its
// rsocket-tcp-server module replaced by a WebSocket one (see ../substitute.js).

const http = require('http');
const {WebSocketServer} = require('ws');
const RSocketWebSocketServer = require('rsocket-websocket-server').default;
const {WS_PATH, substitute} = require('../substitute.js');

class WebSocketServerFromTcpOptions extends RSocketWebSocketServer {
  constructor(options, encoders) {
    // server.js's serverFactory makes the listening net.Server (and prints READY from it); its
    // sockets are handed to an HTTP server whose upgrade requests become WebSockets.
    super({}, encoders, () => {
      const httpServer = http.createServer();
      const wss = new WebSocketServer({server: httpServer, path: WS_PATH});
      const tcp = options.serverFactory(socket => httpServer.emit('connection', socket));
      tcp.listen(options.port, options.host);
      return wss;
    });
  }
}

substitute(__dirname, 'rsocket-tcp-server', {__esModule: true, default: WebSocketServerFromTcpOptions});
require('./server.js');
