"""The benchmark suite still runs: every shape, tiny counts, aiorsocket only, both loops.

It keeps bench/ from rotting, nothing more: the shapes check every answer (echoes, item
counts and sizes, the server's fire-and-forget count) and the suite exits non-zero on any
wrong answer, so this asserts correctness and never speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aiorsocket.session

BENCH = Path(__file__).resolve().parents[2] / "bench"
SHAPES = {"rr_seq", "rr_conc", "stream_small", "stream_large", "fnf", "channel"}


def test_every_bench_shape_runs_correctly_against_aiorsocket(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "suite.py"),
            "--impls=aiorsocket",
            "--loops=asyncio,uvloop",
            "--runs=1",
            "--scale=0.002",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    assert document["failures"] == []
    # The bench reports the build it ran, which is the one these tests run against.
    compiled = not (aiorsocket.session.__file__ or "").endswith(".py")
    assert document["aiorsocket_build"] == ("compiled (mypyc)" if compiled else "pure Python")
    seen = {(r["loop"], r["shape"]) for r in document["results"]}
    assert seen == {(loop, shape) for loop in ("asyncio", "uvloop") for shape in SHAPES}
    for result in document["results"]:
        (run,) = result["runs"]
        assert run["ops"] == result["count"] > 0
        assert run["client_cpu_s"] > 0
        assert run["server_cpu_s"] > 0
