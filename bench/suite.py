"""The benchmark suite: aiorsocket against rsocket-py and a raw-asyncio ceiling.

    bash bench/run [--quick] [--json PATH] [--aeron] # installs what it needs, then runs this
    .venv/bin/python bench/suite.py [--quick] [--json PATH] [--impls ...] [--loops ...] [--shapes ...]
                                    [--aeron]

For each event loop (asyncio, uvloop) and each implementation, a server process and a client
process run every shape (see ``common.SHAPES``) ``--runs`` times on loopback TCP.  Reported per
shape: the median over runs of ops/s, MiB/s (payload bytes, both directions, 1 MiB = 2^20 B),
CPU µs per op (client + server, from /proc, the figure that holds on a noisy machine) and, for
rr_seq, p50/p99 latency; then the ratios aiorsocket/raw and aiorsocket/rsocket-py, and the
targets of issue 9.  ``--quick`` runs a tenth of every count.  Nothing here asserts on speed.

``--aeron`` adds ``aiorsocket-aeron``: the same aiorsocket server and client over ``aeron+udp://``
through one C media driver (``aeronmd``, built by ``scripts/install --aeron``) that the suite starts
for the run (with the development settings of ``aeron_client.driver``: one driver thread, as two
cores are shared with a client and a server process); its CPU is counted with the client's and the
server's, and a last table sets each shape over Aeron against the same shape over TCP.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import DEFAULT_IMPLS, IMPLS, LOOPS, SHAPE_NAMES, SHAPES, BenchError

HERE = Path(__file__).resolve().parent
#: Seconds a client process may take for all its shapes before it is killed.
CLIENT_LIMIT = 600.0
MIB = 1 << 20
AERON = "aiorsocket-aeron"


@dataclass
class Aeron:
    """The run's media driver: its directory reaches the Aeron processes as AERON_DIR."""

    directory: str
    pid: int

    def env(self) -> dict[str, str]:
        return {**os.environ, "AERON_DIR": self.directory}


def start_server(
    impl: str, loop: str, log: Any, env: dict[str, str] | None
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), impl, loop],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        proc.kill()
        proc.wait()
        raise BenchError(f"{impl} server on {loop} did not start (said {line!r})")
    return proc, int(line.split()[1])


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_pair(
    impl: str, loop: str, runs: int, scale: float, shapes: list[str], aeron: Aeron | None
) -> list[dict[str, Any]]:
    """Every shape for one implementation on one loop: a server process and a client process."""
    env = aeron.env() if aeron is not None and impl == AERON else None
    driver = [f"--driver-pid={aeron.pid}"] if aeron is not None and impl == AERON else []
    with tempfile.TemporaryFile("w+") as log:
        server, port = start_server(impl, loop, log, env)
        try:
            client = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "client.py"),
                    impl,
                    loop,
                    str(port),
                    str(server.pid),
                    f"--runs={runs}",
                    f"--scale={scale}",
                    f"--shapes={','.join(shapes)}",
                    *driver,
                ],
                capture_output=True,
                text=True,
                timeout=CLIENT_LIMIT,
                check=False,
                env=env,
            )
        finally:
            stop_server(server)
        if client.returncode != 0:
            log.seek(0)
            raise BenchError(
                f"{impl} client on {loop} failed:\n{client.stderr[-2000:]}\nserver log:\n{log.read()[-2000:]}"
            )
    results: list[dict[str, Any]] = json.loads(client.stdout)
    for result in results:
        result.update(impl=impl, loop=loop, median=summarize(result["runs"]))
    return results


def summarize(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    if not runs:
        return None

    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs if key in run))

    for run in runs:
        run["ops_per_s"] = run["ops"] / run["wall_s"]
        run["mib_per_s"] = run["bytes"] / run["wall_s"] / MIB
        cpu = run["client_cpu_s"] + run["server_cpu_s"] + run.get("driver_cpu_s", 0.0)
        run["cpu_us_per_op"] = cpu / run["ops"] * 1e6
        run["client_cpu_us_per_op"] = run["client_cpu_s"] / run["ops"] * 1e6
        run["server_cpu_us_per_op"] = run["server_cpu_s"] / run["ops"] * 1e6
    keys = ["ops_per_s", "mib_per_s", "cpu_us_per_op", "client_cpu_us_per_op", "server_cpu_us_per_op"]
    summary = {key: median(key) for key in keys}
    if "p50_s" in runs[0]:
        summary["p50_us"] = median("p50_s") * 1e6
        summary["p99_us"] = median("p99_s") * 1e6
    return summary


# --- ratios and targets --------------------------------------------------------------------


def index(results: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, float]]:
    return {(r["loop"], r["impl"], r["shape"]): r["median"] for r in results if r["median"] is not None}


def ratios(results: list[dict[str, Any]], loops: list[str], shapes: list[str]) -> list[dict[str, Any]]:
    medians = index(results)
    rows = []
    for loop in loops:
        for shape in shapes:
            ours = medians.get((loop, "aiorsocket", shape))
            if ours is None:
                continue
            row: dict[str, Any] = {"loop": loop, "shape": shape}
            for other, tag in (("raw", "raw"), ("rsocket-py", "rsocket_py")):
                theirs = medians.get((loop, other, shape))
                if theirs is None:
                    continue
                row[f"ops_vs_{tag}"] = ours["ops_per_s"] / theirs["ops_per_s"]
                row[f"cpu_vs_{tag}"] = ours["cpu_us_per_op"] / theirs["cpu_us_per_op"]
                if "p50_us" in ours:
                    row[f"p50_vs_{tag}"] = ours["p50_us"] / theirs["p50_us"]
            if len(row) > 2:
                rows.append(row)
    return rows


#: Issue 9's targets, per shape: (ratio key, comparison, bound, label).
TARGETS: dict[str, list[tuple[str, str, float, str]]] = {
    shape: [("ops_vs_raw", ">=", 0.5, "ops >= 50% raw"), ("cpu_vs_raw", "<=", 2.0, "CPU/op <= 2x raw")]
    for shape in SHAPE_NAMES
}
for _shape in ("rr_conc", "stream_small", "fnf", "channel"):
    TARGETS[_shape].append(("ops_vs_rsocket_py", ">=", 10.0, "ops >= 10x rsocket-py"))
TARGETS["stream_large"].append(("ops_vs_raw", ">=", 0.8, "MiB/s >= 80% raw"))
TARGETS["rr_seq"].append(("p50_vs_raw", "<=", 1.3, "p50 <= 1.3x raw"))


def aeron_vs_tcp(results: list[dict[str, Any]], loops: list[str], shapes: list[str]) -> list[dict[str, Any]]:
    """Each shape over Aeron against the same aiorsocket over TCP, in the same run."""
    medians = index(results)
    rows = []
    for loop in loops:
        for shape in shapes:
            tcp, aeron = medians.get((loop, "aiorsocket", shape)), medians.get((loop, AERON, shape))
            if tcp is None or aeron is None:
                continue
            row = {
                "loop": loop,
                "shape": shape,
                "ops": aeron["ops_per_s"] / tcp["ops_per_s"],
                "cpu": aeron["cpu_us_per_op"] / tcp["cpu_us_per_op"],
            }
            if "p50_us" in tcp:
                row["p50"] = aeron["p50_us"] / tcp["p50_us"]
                row["p99"] = aeron["p99_us"] / tcp["p99_us"]
            rows.append(row)
    return rows


def targets(ratio_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for row in ratio_rows:
        for key, comparison, bound, label in TARGETS[row["shape"]]:
            if key not in row:
                continue
            value = row[key]
            met = value >= bound if comparison == ">=" else value <= bound
            checks.append(
                {"loop": row["loop"], "shape": row["shape"], "target": label, "value": value, "met": met}
            )
    return checks


# --- rendering -----------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def render(
    results: list[dict[str, Any]],
    ratio_rows: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    aeron_rows: list[dict[str, Any]],
) -> str:
    out = []
    for loop in dict.fromkeys(r["loop"] for r in results):
        rows = []
        for r in results:
            if r["loop"] != loop:
                continue
            m = r["median"]
            if m is None:
                rows.append([r["shape"], r["impl"], "FAILED", "", "", "", "", "", ""])
                continue
            rows.append(
                [
                    r["shape"],
                    r["impl"],
                    _num(m["ops_per_s"], 0),
                    _num(m["mib_per_s"], 2),
                    _num(m["cpu_us_per_op"], 2),
                    _num(m["client_cpu_us_per_op"], 2),
                    _num(m["server_cpu_us_per_op"], 2),
                    _num(m.get("p50_us")),
                    _num(m.get("p99_us")),
                ]
            )
        rows.sort(key=lambda row: (SHAPE_NAMES.index(row[0]), IMPLS.index(row[1])))
        header = ["shape", "impl", "ops/s", "MiB/s", "CPU µs/op", "client", "server", "p50 µs", "p99 µs"]
        cpu = (
            "client + server (+ Aeron driver)"
            if any(r["impl"] == AERON for r in results)
            else "client + server"
        )
        out.append(f"== {loop} (medians; CPU = {cpu}) ==\n{table(header, rows)}")
    if ratio_rows:
        header = ["loop", "shape", "ops/raw", "CPU/raw", "p50/raw", "ops/rsocket-py", "CPU/rsocket-py"]
        rows = [
            [
                row["loop"],
                row["shape"],
                *(
                    _num(row.get(key), 2)
                    for key in (
                        "ops_vs_raw",
                        "cpu_vs_raw",
                        "p50_vs_raw",
                        "ops_vs_rsocket_py",
                        "cpu_vs_rsocket_py",
                    )
                ),
            ]
            for row in ratio_rows
        ]
        out.append(f"== aiorsocket / other ==\n{table(header, rows)}")
    if aeron_rows:
        rows = [
            [row["loop"], row["shape"], *(_num(row.get(key), 2) for key in ("ops", "cpu", "p50", "p99"))]
            for row in aeron_rows
        ]
        out.append(
            "== aiorsocket over Aeron / over TCP ==\n"
            + table(["loop", "shape", "ops", "CPU/op", "p50", "p99"], rows)
        )
    if checks:
        rows = [
            [c["loop"], c["shape"], c["target"], _num(c["value"], 2), "met" if c["met"] else "MISSED"]
            for c in checks
        ]
        met = sum(c["met"] for c in checks)
        out.append(
            f"== issue 9 targets: {met}/{len(checks)} met ==\n"
            + table(["loop", "shape", "target", "value", ""], rows)
        )
    return "\n\n".join(out)


@contextlib.contextmanager
def aeron_driver() -> Iterator[Aeron]:
    """The C media driver ``scripts/install --aeron`` built, in a fresh directory for this run."""
    from aiorsocket.transports.aeron_client.driver import MediaDriver

    with (
        tempfile.TemporaryDirectory(prefix="aeron-bench-", dir="/dev/shm") as parent,
        MediaDriver(Path(parent) / "driver") as driver,
    ):
        yield Aeron(driver.directory, driver.pid)


def aiorsocket_build() -> str:
    """Which aiorsocket the benchmark processes import: the optional compiled build or pure Python."""
    spec = importlib.util.find_spec("aiorsocket.session")
    origin = spec.origin if spec is not None else None
    return "compiled (mypyc)" if origin is not None and not origin.endswith(".py") else "pure Python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aiorsocket vs rsocket-py vs raw asyncio")
    parser.add_argument("--quick", action="store_true", help="a tenth of every count")
    parser.add_argument("--runs", type=int, default=3, help="runs per shape (the median is reported)")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--scale", type=float, help="multiply every count by this (overrides --quick)")
    parser.add_argument("--impls", default=",".join(DEFAULT_IMPLS))
    parser.add_argument("--aeron", action="store_true", help=f"add {AERON} (starts an Aeron media driver)")
    parser.add_argument("--loops", default=",".join(LOOPS))
    parser.add_argument("--shapes", default=",".join(SHAPE_NAMES))
    args = parser.parse_args(argv)
    impls, loops, shapes = args.impls.split(","), args.loops.split(","), args.shapes.split(",")
    if args.aeron and AERON not in impls:
        impls.append(AERON)
    for chosen, known in ((impls, IMPLS), (loops, LOOPS), (shapes, SHAPE_NAMES)):
        unknown = set(chosen) - set(known)
        if unknown:
            parser.error(f"unknown {sorted(unknown)}; pick from {', '.join(known)}")
    scale = args.scale if args.scale is not None else 0.1 if args.quick else 1.0

    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        aeron = stack.enter_context(aeron_driver()) if AERON in impls else None
        for loop in loops:
            for impl in impls:
                print(f"running {impl} on {loop}...", file=sys.stderr, flush=True)
                try:
                    results.extend(run_pair(impl, loop, args.runs, scale, shapes, aeron))
                except (BenchError, subprocess.TimeoutExpired) as exc:
                    failures.append(str(exc))
    failures.extend(f"{r['impl']} {r['shape']} on {r['loop']}: {r['error']}" for r in results if r["error"])
    ratio_rows = ratios(results, loops, shapes)
    checks = targets(ratio_rows)
    aeron_rows = aeron_vs_tcp(results, loops, shapes)
    elapsed = time.perf_counter() - started

    print(
        f"aiorsocket bench: aiorsocket {aiorsocket_build()}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"loopback TCP{' and Aeron UDP' if AERON in impls else ''}, "
        f"{args.runs} runs per shape"
        f"{f', counts x {scale:g}' if scale != 1 else ''}"
    )
    print(
        "shapes: "
        + "; ".join(
            f"{s.name} {s.count:,} x {s.size} B: {s.what}"
            for s in (x.scaled(scale) for x in SHAPES)
            if s.name in shapes
        )
    )
    print()
    print(render(results, ratio_rows, checks, aeron_rows))
    for failure in failures:
        print(f"FAILED: {failure}")
    print(f"\n({elapsed:.0f} s)")

    if args.json:
        document = {
            "python": platform.python_version(),
            "aiorsocket_build": aiorsocket_build(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "scale": scale,
            "runs": args.runs,
            "elapsed_s": elapsed,
            "shapes": [
                {"name": s.name, "count": s.count, "size": s.size, "what": s.what}
                for s in SHAPES
                if s.name in shapes
            ],
            "results": results,
            "ratios": ratio_rows,
            "targets": checks,
            "aeron_vs_tcp": aeron_rows,
            "failures": failures,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
