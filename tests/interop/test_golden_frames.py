"""Our frame codec against frame bytes produced by the real peer libraries.

Each generator in ``tests/interop/golden/`` runs one peer's own encoders and prints
one JSON object::

    {"peer": "js_legacy" | "js_v1" | "rsocket_py", "version": "...",
     "frames": [{"name", "hex", "expect", "quirk"?, "told"?}, ...],
     "unsupported": [{"name", "reason"}, ...]}

``hex`` is one frame without any transport length prefix.  ``expect`` holds the
values the peer was told to encode, in our dataclass field names:

* ``type``: the :class:`~aiorsocket.frames.FrameType` name.
* ``flags``: the 10 flag bits the peer wrote in the header (checked against the bytes).
* ``data``, ``metadata``, ``resume_token``: hex strings.  ``null`` for ``metadata`` /
  ``resume_token`` means absent (M / R clear); ``""`` means present and empty.
* ``composite``: the metadata read as composite metadata, one object per entry, in order:
  ``{"mime", "routes": [...]}`` (routing), ``{"mime", "auth": {"type": "simple", "username",
  "password"} | {"type": "bearer", "token"} | {"type": <custom>, "payload": hex}}``,
  ``{"mime", "mime_types": [...]}`` (mime-type / accept-mime-types), or
  ``{"mime", "content": hex}`` for any other entry.
* every other key (``stream_id``, ``keepalive_interval``, ``initial_request_n``, ``complete``,
  ``error_code``, ``last_received_position``, ...) is the decoded frame's attribute of that name.

``quirk`` names a known divergence from the spec or from the other peers; ``told``
then says what the application asked for where the wire says otherwise.  Every
quirk has its own test below, named after it.

A missing node, node package or rsocket-py makes these tests fail, never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aiorsocket.extensions import (
    DATA_MIME_TYPE_MIME,
    Auth,
    BearerAuth,
    CompositeEntry,
    CustomAuth,
    SimpleAuth,
    TypeRef,
    build_composite_metadata,
    decode_accept_mime_types,
    decode_auth,
    decode_composite,
    decode_mime_type,
    decode_routing,
    encode_accept_mime_types,
    encode_auth,
    encode_composite,
    encode_mime_type,
    encode_routing,
    mime_wire_form,
    parse_composite_metadata,
)
from aiorsocket.extensions.mimetypes import display_mime
from aiorsocket.frames import FrameType, decode_frame, encode_frame

pytestmark = pytest.mark.interop

GOLDEN_DIR = Path(__file__).parent / "golden"

#: The peer versions these goldens pin; a different install must be a visible failure.
PEER_VERSIONS = {"js_legacy": "0.0.27", "js_v1": "1.0.0-alpha.3", "rsocket_py": "0.4.20"}

#: Quirks whose frames our encoder deliberately does not reproduce byte for byte.
REENCODE_DIFFERS = {"js_legacy_metadata_push_without_m_flag"}

CUSTOM_MIME = "application/x.aiorsocket-test"

BYTES_FIELDS = ("data", "metadata", "resume_token")
#: Keys of ``expect`` that are not plain attributes of the decoded frame.
SPECIAL_KEYS = {"type", "flags", "composite", *BYTES_FIELDS}


@dataclass(frozen=True)
class Golden:
    peer: str
    version: str = ""
    frames: tuple[dict[str, Any], ...] = ()
    unsupported: tuple[dict[str, str], ...] = ()
    error: str | None = None
    by_name: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)


def _command(peer: str) -> list[str] | str:
    """The generator's argv, or an explanation of why it cannot run."""
    if peer == "rsocket_py":
        return [sys.executable, str(GOLDEN_DIR / "gen_rsocket_py.py")]
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH; the rsocket-js golden frames need node (v20) to run"
    return [node, str(GOLDEN_DIR / f"gen_{peer}.js")]


@cache
def golden(peer: str) -> Golden:
    command = _command(peer)
    if isinstance(command, str):
        return Golden(peer, error=command)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=GOLDEN_DIR, check=False
        )
    except subprocess.TimeoutExpired:
        return Golden(peer, error=f"{' '.join(command)} did not finish within 120 s")
    if done.returncode != 0:
        return Golden(
            peer,
            error=f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr.strip()[-2000:]}",
        )
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return Golden(peer, error=f"{' '.join(command)} printed invalid JSON ({exc}): {done.stdout[:500]!r}")
    frames = tuple(out["frames"])
    return Golden(
        peer,
        version=out["version"],
        frames=frames,
        unsupported=tuple(out.get("unsupported", ())),
        by_name={f["name"]: f for f in frames},
    )


def _cases(predicate: Callable[[dict[str, Any]], bool] | None = None) -> list[Any]:
    """One pytest param per peer frame; a peer whose generator failed gets one failing param."""
    params = []
    for peer in PEER_VERSIONS:
        result = golden(peer)
        if result.error is not None:
            params.append(pytest.param(peer, None, id=f"{peer}-GENERATOR-FAILED"))
            continue
        params.extend(
            pytest.param(peer, frame["name"], id=f"{peer}-{frame['name']}")
            for frame in result.frames
            if predicate is None or predicate(frame)
        )
    return params


def frame_of(peer: str, name: str | None) -> dict[str, Any]:
    result = golden(peer)
    if result.error is not None or name is None:
        pytest.fail(f"golden generator for {peer} failed: {result.error}")
    if name not in result.by_name:
        pytest.fail(f"the {peer} generator no longer produces a frame named {name!r}")
    return result.by_name[name]


def peer_bytes(frame: dict[str, Any]) -> bytes:
    return bytes.fromhex(frame["hex"])


def _unhex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


# ---------------------------------------------------------------------------
# The generators themselves
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("peer", list(PEER_VERSIONS))
def test_generator_runs_against_pinned_peer_version(peer: str) -> None:
    result = golden(peer)
    assert result.error is None, f"golden generator for {peer} failed: {result.error}"
    assert result.version == PEER_VERSIONS[peer], (
        f"{peer} is installed at {result.version}; these goldens pin {PEER_VERSIONS[peer]}"
    )
    names = [f["name"] for f in result.frames]
    assert len(names) == len(set(names)), f"duplicate frame names from {peer}"
    # Every frame type the checklist lists for §1.3 except EXT (no peer encodes it).
    types = {f["expect"]["type"] for f in result.frames}
    assert types == {t.name for t in FrameType} - {"RESERVED", "EXT"}, f"{peer} covers only {sorted(types)}"


# ---------------------------------------------------------------------------
# Every frame: decode to the told values, re-encode to the same bytes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("peer", "name"), _cases())
def test_decode_returns_what_the_peer_was_told(peer: str, name: str | None) -> None:
    frame = frame_of(peer, name)
    raw = peer_bytes(frame)
    expect = frame["expect"]
    assert int.from_bytes(raw[4:6], "big") & 0x3FF == expect["flags"], "golden header flags drifted"

    decoded = decode_frame(raw)

    assert decoded.frame_type.name == expect["type"]
    for key in BYTES_FIELDS:
        if key in expect:
            assert getattr(decoded, key) == _unhex(expect[key]), key
    for key, value in expect.items():
        if key not in SPECIAL_KEYS:
            assert getattr(decoded, key) == value, key


@pytest.mark.parametrize(("peer", "name"), _cases(lambda frame: frame.get("quirk") not in REENCODE_DIFFERS))
def test_reencode_reproduces_peer_bytes(peer: str, name: str | None) -> None:
    raw = peer_bytes(frame_of(peer, name))
    assert encode_frame(decode_frame(raw)).hex() == raw.hex()


@pytest.mark.parametrize(("peer", "name"), _cases())
def test_decode_accepts_memoryview_and_bytearray(peer: str, name: str | None) -> None:
    raw = peer_bytes(frame_of(peer, name))
    reference = decode_frame(raw)
    assert decode_frame(bytearray(raw)) == reference
    # A view into a larger buffer, as a deframer hands it over.
    assert decode_frame(memoryview(b"\xff" * 3 + raw + b"\xee")[3 : 3 + len(raw)]) == reference


# ---------------------------------------------------------------------------
# Agreement between peers
# ---------------------------------------------------------------------------


def _shared_names() -> list[str]:
    """Serializer-level frames built from the same inputs by more than one peer.

    ``wire_*`` frames come from each peer's client with its own stream ids, and
    ``fragment_*`` frames use each peer's own fragment-size meaning, so neither is comparable.
    """
    counts: dict[str, int] = {}
    for peer in PEER_VERSIONS:
        for frame in golden(peer).frames:
            if not frame["name"].startswith(("wire_", "fragment_")):
                counts[frame["name"]] = counts.get(frame["name"], 0) + 1
    return sorted(name for name, count in counts.items() if count > 1) or ["NO-SHARED-FRAMES"]


@pytest.mark.parametrize("name", _shared_names())
def test_peers_encode_the_same_frame_byte_for_byte(name: str) -> None:
    encodings = {
        peer: golden(peer).by_name[name]["hex"] for peer in PEER_VERSIONS if name in golden(peer).by_name
    }
    assert len(encodings) > 1, "a generator failed; see test_generator_runs_against_pinned_peer_version"
    assert len(set(encodings.values())) == 1, encodings


def test_route_entry_is_identical_from_every_peer() -> None:
    # peers.md: route "echo" is `fe 000005 04 6563686f` from all three encoders.
    for peer in PEER_VERSIONS:
        frame = frame_of(peer, "request_response_route")
        assert frame["expect"]["metadata"] == "fe000005046563686f", peer


# ---------------------------------------------------------------------------
# Quirks, one test each
# ---------------------------------------------------------------------------


def test_js_legacy_sets_m_flag_with_empty_metadata_when_app_passes_null() -> None:
    frame = frame_of("js_legacy", "wire_request_response_null_metadata")
    assert frame["quirk"] == "js_legacy_m_flag_empty_metadata"
    assert frame["told"] == {"metadata": None}
    raw = peer_bytes(frame)
    decoded = decode_frame(raw)
    # M with a zero u24 length: present-but-empty, which we keep apart from absent (D-9).
    assert decoded.metadata == b""
    assert decoded.data == b"ping"
    assert encode_frame(decoded) == raw


def test_js_legacy_metadata_push_without_m_flag_is_accepted_and_we_send_it_with_m() -> None:
    frame = frame_of("js_legacy", "wire_metadata_push")
    assert frame["quirk"] == "js_legacy_metadata_push_without_m_flag"
    raw = peer_bytes(frame)
    assert int.from_bytes(raw[4:6], "big") & 0x100 == 0, "the peer now sets M; drop this quirk"
    decoded = decode_frame(raw)
    assert decoded.metadata == bytes.fromhex(frame["expect"]["metadata"])
    ours = encode_frame(decoded)
    # MP-1: we always send M=1; everything else is the peer's bytes.
    assert ours[:4] + ours[6:] == raw[:4] + raw[6:]
    assert int.from_bytes(ours[4:6], "big") == int.from_bytes(raw[4:6], "big") | 0x100
    # The serializer itself writes whatever flags it is given; the state machine is at fault.
    assert peer_bytes(frame_of("js_legacy", "metadata_push")) == ours


def test_js_v1_resume_frame_carries_version_swapped() -> None:
    frame = frame_of("js_v1", "wire_resume")
    assert frame["quirk"] == "js_v1_resume_version_swapped"
    assert frame["told"] == {"major": 1, "minor": 0}
    decoded = decode_frame(peer_bytes(frame))
    assert (decoded.major, decoded.minor) == (0, 1)
    # The SETUP of the same session said 1.0: a server resuming js 1.0 must accept 0.1 here.
    setup = decode_frame(peer_bytes(frame_of("js_v1", "wire_setup_resume")))
    assert (setup.major, setup.minor) == (1, 0)
    assert decoded.resume_token == setup.resume_token
    assert encode_frame(decoded) == peer_bytes(frame)


@pytest.mark.parametrize(
    "name", ["payload_empty_metadata_dropped", "wire_request_response_empty_metadata_dropped"]
)
def test_rsocket_py_drops_empty_metadata(name: str) -> None:
    frame = frame_of("rsocket_py", name)
    assert frame["quirk"] == "rsocket_py_drops_empty_metadata"
    assert frame["told"] == {"metadata": ""}
    decoded = decode_frame(peer_bytes(frame))
    # rsocket-py sets M only for non-empty metadata, so "empty" arrives as "absent" (D-9).
    assert decoded.metadata is None


def test_rsocket_py_payload_with_data_forces_next() -> None:
    frame = frame_of("rsocket_py", "payload_complete_with_data_forces_next")
    assert frame["quirk"] == "rsocket_py_payload_with_data_forces_next"
    assert frame["told"] == {"next": False}
    decoded = decode_frame(peer_bytes(frame))
    assert decoded.next
    assert decoded.complete


def test_rsocket_py_and_js_legacy_clients_send_identical_setup() -> None:
    # Same keepalive, lifetime, MIME strings in full (no id compaction) and payload.
    assert frame_of("rsocket_py", "wire_setup")["hex"] == frame_of("js_legacy", "wire_setup")["hex"]


def test_fragment_size_means_different_things_to_js_v1_and_rsocket_py() -> None:
    # Both were asked for fragment size 64 (peers.md "Fragment size means different things").
    v1 = [peer_bytes(frame_of("js_v1", f"fragment_request_response_{i}")) for i in range(3)]
    py = [peer_bytes(frame_of("rsocket_py", f"fragment_request_response_{i}")) for i in range(3)]
    # js 1.0 counts the body without the 6-byte header; rsocket-py counts the whole
    # frame plus the 3-byte TCP length prefix, but forgets the u24 metadata length in
    # the first fragment, which therefore comes out 3 bytes over.
    assert [len(f) for f in v1[:-1]] == [64 + 6, 64 + 6]
    assert [len(f) for f in py[:-1]] == [64 - 3 + 3, 64 - 3]
    for fragments in (v1, py):
        decoded = [decode_frame(f) for f in fragments]
        assert decoded[0].frame_type is FrameType.REQUEST_RESPONSE
        assert decoded[0].follows
        assert all(d.frame_type is FrameType.PAYLOAD and d.next for d in decoded[1:])
        assert [d.follows for d in decoded] == [True, True, False]
        # Metadata travels first and whole before the data (FR-3, FR-4).
        assert b"".join(d.metadata or b"" for d in decoded) == b"m" * 40
        assert b"".join(d.data for d in decoded) == b"d" * 100


# ---------------------------------------------------------------------------
# Composite metadata inside the golden frames, through our extension codecs
# ---------------------------------------------------------------------------


def _mime_string(mime: TypeRef) -> TypeRef:
    """A decoded MIME item as its string, whichever form it travelled in."""
    return display_mime(mime)


def _expected_auth(spec: dict[str, Any]) -> Auth:
    if spec["type"] == "simple":
        return SimpleAuth(spec["username"], spec["password"])
    if spec["type"] == "bearer":
        return BearerAuth(spec["token"])
    return CustomAuth(spec["type"], bytes.fromhex(spec["payload"]))


def _typed_body(spec: dict[str, Any]) -> bytes:
    """Our encoding of one expected entry's body, from its semantic values alone."""
    if "routes" in spec:
        return encode_routing(spec["routes"])
    if "auth" in spec:
        return encode_auth(_expected_auth(spec["auth"]))
    if "mime_types" in spec:
        if spec["mime"] == DATA_MIME_TYPE_MIME:
            (only,) = spec["mime_types"]
            return encode_mime_type(mime_wire_form(only))
        return encode_accept_mime_types(mime_wire_form(mime) for mime in spec["mime_types"])
    return bytes.fromhex(spec["content"])


def _composite_metadata(peer: str, name: str | None) -> tuple[bytes, list[dict[str, Any]]]:
    expect = frame_of(peer, name)["expect"]
    return bytes.fromhex(expect["metadata"]), expect["composite"]


@pytest.mark.parametrize(("peer", "name"), _cases(lambda frame: "composite" in frame["expect"]))
def test_composite_metadata_decodes_to_told_values(peer: str, name: str | None) -> None:
    metadata, expected = _composite_metadata(peer, name)

    entries = decode_composite(metadata)

    assert [entry.mime_name for entry in entries] == [spec["mime"] for spec in expected]
    for entry, spec in zip(entries, expected, strict=True):
        if "routes" in spec:
            assert decode_routing(entry.content) == spec["routes"]
        elif "auth" in spec:
            assert decode_auth(entry.content) == _expected_auth(spec["auth"])
        elif "mime_types" in spec:
            items = (
                [decode_mime_type(entry.content)]
                if spec["mime"] == DATA_MIME_TYPE_MIME
                else decode_accept_mime_types(entry.content)
            )
            assert [_mime_string(item) for item in items] == spec["mime_types"]
        else:
            assert entry.content == bytes.fromhex(spec["content"])
    assert encode_composite(entries) == metadata


@pytest.mark.parametrize(("peer", "name"), _cases(lambda frame: "composite" in frame["expect"]))
def test_composite_metadata_from_told_values_matches_peer_bytes(peer: str, name: str | None) -> None:
    metadata, expected = _composite_metadata(peer, name)
    # Default compaction: every well-known MIME the peers used goes out as an id,
    # custom ones as strings, exactly as all three peers do.
    ours = encode_composite(CompositeEntry.of(spec["mime"], _typed_body(spec)) for spec in expected)
    assert ours.hex() == metadata.hex()


@pytest.mark.parametrize(("peer", "name"), _cases(lambda frame: "composite" in frame["expect"]))
def test_parse_composite_metadata_finds_route_and_auth(peer: str, name: str | None) -> None:
    metadata, expected = _composite_metadata(peer, name)
    parsed = parse_composite_metadata(metadata)
    routing = [spec["routes"] for spec in expected if "routes" in spec]
    auth = [_expected_auth(spec["auth"]) for spec in expected if "auth" in spec]
    assert parsed.tags == (tuple(routing[0]) if routing else ())
    assert parsed.route == (routing[0][0] if routing else None)
    assert parsed.auth == (auth[0] if auth else None)


def test_setup_metadata_from_every_peer_builds_with_one_call() -> None:
    built = build_composite_metadata(route="setup.route", auth=SimpleAuth("user", "pass"))
    for peer in PEER_VERSIONS:
        assert built.hex() == frame_of(peer, "setup_composite_route_auth")["expect"]["metadata"], peer


@pytest.mark.parametrize("peer", list(PEER_VERSIONS))
def test_custom_mime_and_auth_type_lengths_are_written_minus_one(peer: str) -> None:
    # D-1: every peer writes length-1 in the 7-bit length of a custom MIME or auth type.
    metadata, _ = _composite_metadata(peer, "request_stream_custom_mime")
    custom = next(entry for entry in decode_composite(metadata) if entry.mime_id is None)
    raw_custom = metadata[metadata.index(custom.mime.encode()) - 1 :]
    assert raw_custom[0] == len(CUSTOM_MIME) - 1
    assert custom.mime == CUSTOM_MIME

    metadata, _ = _composite_metadata(peer, "request_fnf_custom_auth")
    (entry,) = decode_composite(metadata)
    assert entry.content[0] == len("x-api-key") - 1
    assert decode_auth(entry.content) == CustomAuth("x-api-key", b"k-123")


def test_rsocket_py_custom_data_mime_length_is_written_minus_one() -> None:
    metadata, _ = _composite_metadata("rsocket_py", "request_response_custom_data_mime")
    (entry,) = decode_composite(metadata)
    assert entry.content[0] == len(CUSTOM_MIME) - 1
    assert decode_mime_type(entry.content) == CUSTOM_MIME
