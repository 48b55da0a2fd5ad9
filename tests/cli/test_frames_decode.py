"""``aiorsocket frames decode``: composite metadata entries decoded (MIME from a SETUP or --metadata-mime)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiorsocket.cli.main import main
from aiorsocket.extensions import BearerAuth, SimpleAuth, TracingMetadata, build_composite_metadata
from aiorsocket.extensions.mimetypes import COMPOSITE_METADATA_MIME
from aiorsocket.frames import (
    MetadataPushFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    SetupFrame,
    encode_frame,
    encode_frame_with_length,
)

ROUTED = build_composite_metadata(route="user.find", data_mime="application/json", auth=BearerAuth("tok"))


def _decode(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["frames", "decode", *argv])
    return status, capsys.readouterr().out


def test_composite_entries_are_decoded_and_credentials_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    frame = encode_frame(RequestResponseFrame(1, b"{}", ROUTED))
    status, out = _decode(capsys, frame.hex())
    assert status == 0
    assert out.splitlines()[:6] == [
        "#0 REQUEST_RESPONSE stream=1 flags=M",
        "    data: {}",
        "    metadata: composite",
        "      message/x.rsocket.routing.v0 tags=user.find",
        "      message/x.rsocket.mime-type.v0 data_mime=application/json",
        "      message/x.rsocket.authentication.v0 auth=bearer token=<hidden>",
    ]


def test_json_output_carries_the_entries(capsys: pytest.CaptureFixture[str]) -> None:
    metadata = build_composite_metadata(
        route="r", auth=SimpleAuth("ann", "pw"), accept=["application/cbor"], tracing=TracingMetadata()
    )
    status, out = _decode(capsys, encode_frame(RequestStreamFrame(3, 10, b"", metadata)).hex(), "--json")
    described = json.loads(out)
    assert status == 0
    assert described["initial_request_n"] == 10
    assert described["metadata_entries"] == [
        {"mime": "message/x.rsocket.routing.v0", "tags": ["r"]},
        {"mime": "message/x.rsocket.accept-mime-types.v0", "accept": ["application/cbor"]},
        {
            "mime": "message/x.rsocket.authentication.v0",
            "auth": "simple",
            "username": "ann",
            "password": "<hidden>",
        },
        {
            "mime": "message/x.rsocket.tracing-zipkin.v0",
            "sampling": "UNDECIDED",
            "trace_id": None,
            "span_id": None,
            "parent_span_id": None,
        },
    ]


def test_setup_in_a_tcp_dump_sets_the_metadata_mime_for_later_frames(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    setup = SetupFrame(20_000, 90_000, COMPOSITE_METADATA_MIME, "application/json")
    # Text metadata that happens to parse as composite stays text unless the connection says composite.
    plain = SetupFrame(20_000, 90_000, "text/plain", "application/json")
    dump = tmp_path / "capture.bin"
    dump.write_bytes(
        encode_frame_with_length(setup) + encode_frame_with_length(RequestResponseFrame(1, b"x", ROUTED))
    )
    status, out = _decode(capsys, f"@{dump}")
    assert status == 0
    assert "      message/x.rsocket.routing.v0 tags=user.find" in out
    dump.write_bytes(
        encode_frame_with_length(plain) + encode_frame_with_length(RequestResponseFrame(1, b"x", ROUTED))
    )
    _, out = _decode(capsys, f"@{dump}")
    assert "metadata: composite" not in out


def test_metadata_mime_option_and_guessing(capsys: pytest.CaptureFixture[str]) -> None:
    push = encode_frame(MetadataPushFrame(ROUTED)).hex()
    _, guessed = _decode(capsys, push)
    assert "tags=user.find" in guessed
    _, forced_off = _decode(capsys, push, "--metadata-mime", "text")
    assert "metadata: composite" not in forced_off
    text = encode_frame(RequestResponseFrame(1, b"", b"hello metadata")).hex()
    _, not_composite = _decode(capsys, text)
    assert "    metadata: hello metadata" in not_composite


def test_broken_composite_metadata_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    frame = encode_frame(RequestResponseFrame(1, b"", b"\xfe\x00\x00\x09\x04ab"))
    status, out = _decode(capsys, frame.hex(), "--metadata-mime", "composite")
    assert status == 0
    assert "    metadata_error: " in out
    assert "CM-1" in out


def test_malformed_frame_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _decode(capsys, "000000011100fe")
    assert status == 2
    assert out.startswith("#0 MALFORMED: ")
