'use strict';
// rsocket-js 0.0.27 scenario runner over WebSocket (rsocket-websocket-client with the ws package).
//
//   node tests/interop/peers/js_legacy/ws_client.js --port P --scenario NAME [--route-mode] [--timeout-ms MS]
//
// This is client.js unchanged (same scenarios and JSON line), connecting to
// ws://127.0.0.1:P/rsocket: its rsocket-tcp-client module is replaced by a WebSocket one (see
// ../substitute.js).

const WebSocket = require('ws');
const RSocketWebSocketClient = require('rsocket-websocket-client').default;
const {WS_PATH, substitute} = require('../substitute.js');

class WebSocketClientFromTcpOptions extends RSocketWebSocketClient {
  constructor(options, encoders) {
    super({url: `ws://${options.host}:${options.port}${WS_PATH}`, wsCreator: url => new WebSocket(url)}, encoders);
  }
}

substitute(__dirname, 'rsocket-tcp-client', {__esModule: true, default: WebSocketClientFromTcpOptions});
require('./client.js');
