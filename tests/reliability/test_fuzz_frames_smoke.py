"""CI-sized run of the long frame fuzzer (tests/reliability/fuzz_frames.py), in-process.

The full run is ``python tests/reliability/fuzz_frames.py --count 1000000 --seed 1``.
"""

from __future__ import annotations

import pytest

import reliability.fuzz_frames as fuzz_frames
from aiorsocket.frames import Frame, decode_frame

SMOKE_INPUTS = 20_000
SMOKE_SEED = 20_240


def test_fuzz_engine_smoke_run_finds_no_foreign_exception() -> None:
    report = fuzz_frames.run_fuzz(SMOKE_INPUTS, SMOKE_SEED)
    failure = report.failure
    assert failure is None, (
        f"input {failure.index} ({failure.kind}): {failure.detail}\n{failure.input_hex}\n{failure.traceback}"
    )
    assert report.inputs == SMOKE_INPUTS
    # The run is not vacuous: every frame class decodes, and many rules reject.
    assert set(report.decoded_ok) == {cls.__name__ for cls in Frame.__args__}
    rules = {key.rsplit("/", 1)[-1] for key in report.rejected}
    assert {"FL-1", "FL-2", "IG-1", "IG-2", "ID-1", "RN-1", "SU-3"} <= rules, rules
    assert set(report.by_kind) >= {"random", "typed", "valid", "mutated", "deframer"}
    if report.extension_decoders:
        assert report.extension_ok > 0
        assert sum(report.extension_rejected.values()) > 0
    assert "foreign=0" in report.summary_line()


def test_fuzz_engine_is_deterministic_from_its_seed() -> None:
    first = fuzz_frames.run_fuzz(2_000, 7)
    second = fuzz_frames.run_fuzz(2_000, 7)
    assert (first.by_kind, first.decoded_ok, first.rejected, first.extension_rejected) == (
        second.by_kind,
        second.decoded_ok,
        second.rejected,
        second.extension_rejected,
    )
    other = fuzz_frames.run_fuzz(2_000, 8)
    assert other.rejected != first.rejected


def test_fuzz_engine_reports_a_foreign_exception_with_the_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def leaky(buf: bytes | bytearray | memoryview) -> Frame:
        if len(buf) == 7:
            raise IndexError("index out of range")
        return decode_frame(buf)

    monkeypatch.setattr(fuzz_frames, "decode_frame", leaky)
    report = fuzz_frames.run_fuzz(5_000, 1)
    assert report.failure is not None
    assert "IndexError" in report.failure.detail
    assert len(bytes.fromhex(report.failure.input_hex)) == 7 or report.failure.kind == "deframer"
    assert "foreign=1" in report.summary_line()

    assert fuzz_frames.main(["--count", "5000", "--seed", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILURE at input index" in out
    assert "input hex:" in out


def test_fuzz_main_exits_zero_and_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz_frames.main(["--count", "1000", "--seed", "3", "--max-seconds", "60"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("SUMMARY seed=3 inputs=1000 ")
    assert "foreign=0" in last
