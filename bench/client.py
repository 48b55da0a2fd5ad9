"""One benchmark client process: runs the shapes against a server and prints JSON on stdout.

    python bench/client.py IMPL LOOP PORT SERVER_PID [--runs N] [--scale F] [--shapes a,b] [--driver-pid P]

Every run of every shape gets a fresh connection, warmed up with a few request/responses.
CPU is read from /proc for this process and for SERVER_PID (and the Aeron media driver's
DRIVER_PID, which does the networking the kernel does for TCP) around the measured part only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

from common import (
    IMPLS,
    LOOPS,
    SHAPE_NAMES,
    SHAPE_RUNNERS,
    SHAPES,
    BenchClient,
    Shape,
    cpu_seconds,
    load,
    pattern,
    run_on,
)

WARM_UP = 50
#: Seconds one run of one shape may take before it counts as failed.
RUN_LIMIT = 120.0


async def measure(
    client: BenchClient, shape: Shape, server_pid: int, driver_pid: int | None
) -> dict[str, Any]:
    warm = pattern(shape.size)
    for _ in range(WARM_UP):
        await client.rr(warm)
    gc.collect()
    client_cpu, server_cpu = cpu_seconds(), cpu_seconds(server_pid)
    driver_cpu = cpu_seconds(driver_pid) if driver_pid is not None else 0.0
    started = time.perf_counter()
    outcome = await SHAPE_RUNNERS[shape.name](client, shape)
    wall = time.perf_counter() - started
    sample: dict[str, Any] = {
        "wall_s": wall,
        "ops": outcome.ops,
        "bytes": outcome.nbytes,
        "client_cpu_s": cpu_seconds() - client_cpu,
        "server_cpu_s": cpu_seconds(server_pid) - server_cpu,
    }
    if driver_pid is not None:
        sample["driver_cpu_s"] = cpu_seconds(driver_pid) - driver_cpu
    if outcome.latencies:
        cuts = statistics.quantiles(outcome.latencies, n=100, method="inclusive")
        sample["p50_s"] = cuts[49]
        sample["p99_s"] = cuts[98]
    return sample


async def run_shapes(
    impl: str, port: int, server_pid: int, driver_pid: int | None, shapes: list[Shape], runs: int
) -> list[Any]:
    module = load(impl)
    results = []
    for shape in shapes:
        samples: list[dict[str, Any]] = []
        error = None
        for _ in range(runs):
            try:
                async with asyncio.timeout(RUN_LIMIT):
                    client = await module.connect(port)
                    try:
                        samples.append(await measure(client, shape, server_pid, driver_pid))
                    finally:
                        await client.close()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                break
        results.append(
            {"shape": shape.name, "count": shape.count, "size": shape.size, "runs": samples, "error": error}
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=IMPLS)
    parser.add_argument("loop", choices=LOOPS)
    parser.add_argument("port", type=int)
    parser.add_argument("server_pid", type=int)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every shape's count")
    parser.add_argument("--shapes", default=",".join(SHAPE_NAMES))
    parser.add_argument("--driver-pid", type=int, help="the Aeron media driver, whose CPU counts too")
    args = parser.parse_args()
    wanted = args.shapes.split(",")
    shapes = [shape.scaled(args.scale) for shape in SHAPES if shape.name in wanted]
    results = run_on(
        args.loop,
        lambda: run_shapes(args.impl, args.port, args.server_pid, args.driver_pid, shapes, args.runs),
    )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
