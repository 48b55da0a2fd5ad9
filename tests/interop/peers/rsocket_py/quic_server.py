"""rsocket-py (PyPI ``rsocket`` 0.4.20) conformance server over QUIC (its aioquic transport).

    python tests/interop/peers/rsocket_py/quic_server.py --port P --certfile CERT --keyfile KEY
        [--reject-setup]

server.py's conformance handler (same semantics, same ``READY <port>`` line) served with
``rsocket.transports.aioquic_transport.rsocket_serve`` on 127.0.0.1 (UDP), TLS 1.3 with the given
certificate, no ALPN (as rsocket-py configures it).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aioquic.quic.configuration import QuicConfiguration
from rsocket.rsocket_server import RSocketServer
from rsocket.transports.aioquic_transport import rsocket_serve

from server import FRAGMENT_SIZE, ConformanceHandler


async def serve(port: int, reject_setup: bool, certfile: str, keyfile: str) -> None:
    live: set[RSocketServer] = set()  # strong references to the per-connection engines
    configuration = QuicConfiguration(is_client=False)
    configuration.load_cert_chain(certfile, keyfile)
    quic_server = await rsocket_serve(
        "127.0.0.1",
        port,
        configuration=configuration,
        on_server_create=live.add,
        handler_factory=lambda: ConformanceHandler(reject_setup, live),
        fragment_size_bytes=FRAGMENT_SIZE,
    )
    # aioquic's QuicServer keeps its UDP transport private; it is the only way to learn port 0's pick.
    real_port = quic_server._transport.get_extra_info("sockname")[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {real_port}", flush=True)
    await stop.wait()
    quic_server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    parser.add_argument("--reject-setup", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.reject_setup, args.certfile, args.keyfile))


if __name__ == "__main__":
    main()
