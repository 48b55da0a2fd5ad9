"""rsocket-py (PyPI ``rsocket`` 0.4.20) scenario runner over QUIC (its aioquic transport).

    python tests/interop/peers/rsocket_py/quic_client.py --cafile CA --port P --scenario NAME [--route-mode]
        [--timeout-ms MS]

client.py unchanged (same scenarios, same JSON line), connecting to 127.0.0.1:P over QUIC with
``rsocket.transports.aioquic_transport.rsocket_connect``, verifying the server against ``--cafile``:
client.py's ``connect`` is replaced by the QUIC one below before its ``main`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import timedelta

from aioquic.quic.configuration import QuicConfiguration
from rsocket.helpers import single_transport_provider
from rsocket.transports.aioquic_transport import rsocket_connect

import client as scenarios

CAFILE = ""


class QuicConnection(scenarios.Connection):  # type: ignore[misc]
    """Also ends the QUIC connection, which rsocket-py's client close leaves open."""

    def __init__(self, stack: contextlib.AsyncExitStack, *args: object) -> None:
        super().__init__(*args)
        self.stack = stack

    async def close(self) -> None:
        await super().close()
        await self.stack.aclose()


async def connect(port: int, route_mode: bool, keepalive_ms: int, lifetime_ms: int) -> scenarios.Connection:
    configuration = QuicConfiguration(is_client=True)
    configuration.load_verify_locations(CAFILE)
    stack = contextlib.AsyncExitStack()
    transport = await stack.enter_async_context(
        rsocket_connect("127.0.0.1", port, configuration=configuration)
    )
    handler = scenarios.ClientHandler()
    client = scenarios.CountingClient(
        single_transport_provider(transport),
        handler_factory=lambda: handler,
        data_encoding=scenarios.PLAIN_MIME,
        metadata_encoding=scenarios.COMPOSITE_MIME if route_mode else scenarios.PLAIN_MIME,
        keep_alive_period=timedelta(milliseconds=keepalive_ms),
        max_lifetime_period=timedelta(milliseconds=lifetime_ms),
        fragment_size_bytes=scenarios.FRAGMENT_SIZE,
    )
    await client.connect()
    return QuicConnection(stack, client, handler, route_mode)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cafile", required=True)
    known, rest = parser.parse_known_args()
    CAFILE = known.cafile
    sys.argv[1:] = rest
    scenarios.connect = connect
    scenarios.main()
