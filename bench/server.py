"""One benchmark server process: ``python bench/server.py IMPL LOOP``.

Prints ``READY <port>`` once listening on 127.0.0.1 and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from common import IMPLS, LOOPS, load, run_on


async def serve(impl: str) -> None:
    port, close = await load(impl).start_server()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=IMPLS)
    parser.add_argument("loop", choices=LOOPS)
    args = parser.parse_args()
    run_on(args.loop, lambda: serve(args.impl))


if __name__ == "__main__":
    main()
