'use strict';
// rsocket-core 0.0.27 uses Node's global Buffer; in a browser the `buffer` package provides it.
// Required before rsocket-core so the global exists when its modules load (rsocket-js#267).
globalThis.Buffer = require('buffer').Buffer;
