"""Zipkin tracing metadata (checklist §5.6): exact bytes, sampling precedence, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import LocalProtocolError, MetadataError
from aiorsocket.extensions import Sampling, TracingMetadata, decode_tracing, encode_tracing
from support.extension_strategies import tracing_bytes, tracings


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("sampling", "flags"),
    [
        (Sampling.UNDECIDED, "00"),
        (Sampling.NOT_SAMPLED, "10"),
        (Sampling.SAMPLED, "20"),
        (Sampling.DEBUG, "40"),
    ],
)
def test_s5_6_without_ids_the_entry_is_just_the_flags_byte(sampling: Sampling, flags: str) -> None:
    assert encode_tracing(TracingMetadata(sampling)) == h(flags)
    assert decode_tracing(h(flags)) == TracingMetadata(sampling)


def test_s5_6_64_bit_trace_id_and_span_id() -> None:
    value = TracingMetadata(Sampling.SAMPLED, trace_id=1, span_id=2)
    raw = h("A0 0000000000000001 0000000000000002")
    assert encode_tracing(value) == raw
    assert decode_tracing(raw) == value


def test_s5_6_128_bit_trace_id_high_half_first_with_parent() -> None:
    value = TracingMetadata(Sampling.DEBUG, trace_id=(3 << 64) | 4, span_id=5, parent_span_id=6)
    raw = h("CC 0000000000000003 0000000000000004 0000000000000005 0000000000000006")
    assert value.trace_id_128
    assert encode_tracing(value) == raw
    assert decode_tracing(raw) == value


def test_s5_6_small_trace_id_may_be_sent_wide() -> None:
    value = TracingMetadata(trace_id=7, span_id=8, trace_id_128=True)
    raw = h("88 0000000000000000 0000000000000007 0000000000000008")
    assert encode_tracing(value) == raw
    assert decode_tracing(raw) == value


@pytest.mark.parametrize(
    ("flags", "decision"),
    [
        (0x70, Sampling.DEBUG),  # D beats S and N
        (0x60, Sampling.DEBUG),
        (0x50, Sampling.DEBUG),
        (0x30, Sampling.SAMPLED),  # S beats N
    ],
)
def test_s5_6_precedence_debug_beats_sampled_beats_not_sampled(flags: int, decision: Sampling) -> None:
    assert decode_tracing(bytes((flags,))).sampling is decision


def test_s5_6_unused_low_bits_and_t_p_without_ids_are_ignored() -> None:
    assert decode_tracing(h("23")) == TracingMetadata(Sampling.SAMPLED)
    assert decode_tracing(h("0C")) == TracingMetadata()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trace_id": 1},
        {"span_id": 1},
        {"parent_span_id": 1},
        {"trace_id_128": True},
        {"trace_id": -1, "span_id": 0},
        {"trace_id": 2**128, "span_id": 0},
        {"trace_id": 0, "span_id": 2**64},
        {"trace_id": 0, "span_id": 0, "parent_span_id": -1},
    ],
)
def test_s5_6_impossible_values_are_local_errors(kwargs: dict[str, int | bool]) -> None:
    with pytest.raises(LocalProtocolError):
        TracingMetadata(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "TR-1"),
        ("80 00000000000000", "TR-2"),  # 64-bit trace id cut short
        ("80 0000000000000001", "TR-2"),  # span id missing
        ("88 0000000000000001 0000000000000002", "TR-2"),  # T set: 16-byte trace id
        ("84 0000000000000001 0000000000000002", "TR-2"),  # P set: parent missing
        ("20 00", "TR-3"),
        ("80 0000000000000001 0000000000000002 FF", "TR-3"),
    ],
)
def test_tr_malformed_tracing_raises_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_tracing(h(raw))
    assert info.value.rule == rule


@given(tracings())
def test_s5_6_roundtrip_values(value: TracingMetadata) -> None:
    assert decode_tracing(encode_tracing(value)) == value


@given(tracing_bytes())
def test_s5_6_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_tracing(decode_tracing(raw)) == raw


@given(st.binary(max_size=48))
def test_fuzz_tracing_decoder_raises_only_metadata_error(raw: bytes) -> None:
    with contextlib.suppress(MetadataError):
        decode_tracing(raw)
