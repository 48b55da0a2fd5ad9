'use strict';
// rsocket-js 1.0.0-alpha.3 scenario runner over WebSocket (rsocket-websocket-client with the ws package).
//
//   node tests/interop/peers/js_v1/ws_client.js --port P --scenario NAME [--route-mode] [--timeout-ms MS]
//
// This is client.js unchanged (same scenarios and JSON line), connecting to
// ws://127.0.0.1:P/rsocket: its rsocket-tcp-client module is replaced by a WebSocket one (see
// ../substitute.js).

const WebSocket = require('ws');
const {WebsocketClientTransport} = require('rsocket-websocket-client');
const {WS_PATH, substitute} = require('../substitute.js');

class WebsocketClientTransportFromTcpOptions extends WebsocketClientTransport {
  constructor({connectionOptions}) {
    super({
      url: `ws://${connectionOptions.host}:${connectionOptions.port}${WS_PATH}`,
      wsCreator: url => new WebSocket(url),
    });
  }
}

substitute(__dirname, 'rsocket-tcp-client', {TcpClientTransport: WebsocketClientTransportFromTcpOptions});
require('./client.js');
