'use strict';
// rsocket-js 1.0.0-alpha.3 conformance server over WebSocket (rsocket-websocket-server, path /rsocket).
//
//   node tests/interop/peers/js_v1/ws_server.js --port P [--reject-setup]
//
// This is server.js unchanged (same arguments, semantics and `READY <port>` line) with its
// rsocket-tcp-server module replaced by a WebSocket one (see ../substitute.js).

const {WebSocketServer} = require('ws');
const {WebsocketServerTransport} = require('rsocket-websocket-server');
const {WS_PATH, substitute} = require('../substitute.js');

class WebsocketServerTransportFromTcpOptions extends WebsocketServerTransport {
  constructor({listenOptions}) {
    super({
      host: listenOptions.host,
      port: listenOptions.port,
      wsCreator: options => new WebSocketServer({host: options.host, port: options.port, path: WS_PATH}),
    });
  }
}

substitute(__dirname, 'rsocket-tcp-server', {TcpServerTransport: WebsocketServerTransportFromTcpOptions});
require('./server.js');
