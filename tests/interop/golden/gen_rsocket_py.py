"""Golden frames from rsocket-py (PyPI ``rsocket``), printed as one JSON object.

Frames come from rsocket-py's own ``rsocket.frame`` classes and ``frame_builders``,
its fragmenter, its ``rsocket.extensions`` encoders, and a real ``RSocketClient``
talking to a loopback TCP socket.  Output shape and the ``expect`` keys are
documented in tests/interop/test_golden_frames.py.

Run with the interpreter that has rsocket-py installed (the project venv).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from importlib import metadata as importlib_metadata
from typing import Any

try:
    from rsocket import frame as rf
    from rsocket.error_codes import ErrorCode
    from rsocket.extensions.authentication import Authentication
    from rsocket.extensions.authentication_content import AuthenticationContent
    from rsocket.extensions.helpers import (
        authenticate_bearer,
        authenticate_simple,
        composite,
        data_mime_type,
        data_mime_types,
        metadata_item,
        route,
    )
    from rsocket.extensions.mimetypes import WellKnownMimeTypes
    from rsocket.frame_builders import (
        to_cancel_frame,
        to_fire_and_forget_frame,
        to_keepalive_frame,
        to_metadata_push_frame,
        to_payload_frame,
        to_request_channel_frame,
        to_request_n_frame,
        to_request_response_frame,
        to_request_stream_frame,
        to_setup_frame,
    )
    from rsocket.helpers import single_transport_provider
    from rsocket.payload import Payload
    from rsocket.rsocket_client import RSocketClient
    from rsocket.transports.tcp import TransportTCP
except ImportError as exc:  # pragma: no cover - exercised only when the peer is missing
    sys.stderr.write(
        f"gen_rsocket_py: cannot import rsocket-py ({exc}); install it with `pip install rsocket==0.4.20` "
        f"into {sys.executable}\n"
    )
    sys.exit(3)

COMPOSITE = WellKnownMimeTypes.MESSAGE_RSOCKET_COMPOSITE_METADATA.value.name.decode()
ROUTING = WellKnownMimeTypes.MESSAGE_RSOCKET_ROUTING.value.name.decode()
AUTH = WellKnownMimeTypes.MESSAGE_RSOCKET_AUTHENTICATION.value.name.decode()
MIME_TYPE = WellKnownMimeTypes.MESSAGE_RSOCKET_MIMETYPE.value.name.decode()
ACCEPT_MIME_TYPES = WellKnownMimeTypes.MESSAGE_RSOCKET_ACCEPT_MIMETYPES.value.name.decode()
CUSTOM_MIME = "application/x.aiorsocket-test"

FLAG_METADATA = 0x100
FLAG_FOLLOWS = 0x080
FLAG_RESUME = 0x080
FLAG_RESPOND = 0x080
FLAG_LEASE = 0x040
FLAG_COMPLETE = 0x040
FLAG_NEXT = 0x020

frames: list[dict[str, Any]] = []
unsupported: list[dict[str, str]] = []


def hx(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).hex()


def add(name: str, frame: rf.Frame, expect: dict[str, Any], **extra: Any) -> None:
    frames.append({"name": name, "hex": bytes(frame.serialize()).hex(), "expect": expect, **extra})


class CustomAuth(Authentication):
    """A custom auth type: rsocket-py ships only simple/bearer, but its
    AuthenticationContent encodes any other type name as a custom string."""

    def __init__(self, type_name: bytes, payload: bytes) -> None:
        self._type = type_name
        self.payload = payload

    def serialize(self) -> bytes:
        return self.payload

    def parse(self, buffer: bytes) -> None:
        self.payload = buffer

    @property
    def type(self) -> bytes:
        return self._type


def r(*tags: str) -> dict[str, Any]:
    return {"mime": ROUTING, "routes": list(tags)}


def simple(username: str, password: str) -> dict[str, Any]:
    return {"mime": AUTH, "auth": {"type": "simple", "username": username, "password": password}}


def bearer(token: str) -> dict[str, Any]:
    return {"mime": AUTH, "auth": {"type": "bearer", "token": token}}


md_route_echo = composite(route("echo"))
md_setup = composite(route("setup.route"), authenticate_simple("user", "pass"))
md_simple_auth = composite(route("secure.echo"), authenticate_simple("alice", "s3cr3t"))
md_bearer = composite(authenticate_bearer("eyJhbGciOi.token"))
md_custom_mime = composite(route("numbers"), metadata_item(b"custom-entry", CUSTOM_MIME.encode()))
md_multi_route = composite(route("chat.room", "tag-2", "third tag"))
md_custom_auth = composite(AuthenticationContent(CustomAuth(b"x-api-key", b"k-123")))
md_push = composite(authenticate_bearer("refreshed-token"))
md_mime_types = composite(
    route("convert"),
    data_mime_type(WellKnownMimeTypes.APPLICATION_JSON),
    data_mime_types(WellKnownMimeTypes.APPLICATION_CBOR, CUSTOM_MIME.encode()),
)
md_custom_data_mime = composite(data_mime_type(CUSTOM_MIME.encode()))


# --- SETUP -----------------------------------------------------------------
def setup_expect(flags: int, **overrides: Any) -> dict[str, Any]:
    expect: dict[str, Any] = {
        "type": "SETUP",
        "stream_id": 0,
        "flags": flags,
        "major": 1,
        "minor": 0,
        "keepalive_interval": 30000,
        "max_lifetime": 90000,
        "metadata_mime": COMPOSITE,
        "data_mime": "application/json",
        "resume_token": None,
        "lease": False,
        "metadata": None,
        "data": "",
    }
    expect.update(overrides)
    return expect


def setup_frame(payload: Payload | None, honor_lease: bool = False) -> rf.SetupFrame:
    return to_setup_frame(
        payload,
        data_encoding=b"application/json",
        metadata_encoding=COMPOSITE.encode(),
        keep_alive_period=timedelta(milliseconds=30000),
        max_lifetime_period=timedelta(milliseconds=90000),
        honor_lease=honor_lease,
    )


add(
    "setup_composite_route_auth",
    setup_frame(Payload(b'{"client":"golden"}', md_setup)),
    setup_expect(
        FLAG_METADATA,
        metadata=hx(md_setup),
        data=hx(b'{"client":"golden"}'),
        composite=[r("setup.route"), simple("user", "pass")],
    ),
)


def with_resume(frame: rf.SetupFrame, token: bytes) -> rf.SetupFrame:
    # rsocket-py's builder has no resume parameter (the library never resumes), but
    # SetupFrame encodes the R flag and token when these attributes are set.
    frame.flags_resume = True
    frame.token_length = len(token)
    frame.resume_identification_token = token
    return frame


add(
    "setup_resume_token",
    with_resume(setup_frame(None), b"resume-token-01"),
    setup_expect(FLAG_RESUME, resume_token=hx(b"resume-token-01")),
)
add("setup_lease", setup_frame(None, honor_lease=True), setup_expect(FLAG_LEASE, lease=True))
add(
    "setup_resume_lease_metadata",
    with_resume(setup_frame(Payload(b"hello", md_route_echo), honor_lease=True), b"tok-2"),
    setup_expect(
        FLAG_RESUME | FLAG_LEASE | FLAG_METADATA,
        resume_token=hx(b"tok-2"),
        lease=True,
        metadata=hx(md_route_echo),
        data=hx(b"hello"),
        composite=[r("echo")],
    ),
)


# --- Requests --------------------------------------------------------------
def request_expect(
    type_name: str, stream_id: int, metadata: bytes | None, data: bytes, **extra: Any
) -> dict[str, Any]:
    flags = FLAG_METADATA if metadata is not None else 0
    if extra.get("complete"):
        flags |= FLAG_COMPLETE
    expect: dict[str, Any] = {
        "type": type_name,
        "stream_id": stream_id,
        "flags": flags,
        "metadata": hx(metadata),
        "data": hx(data),
        "follows": False,
    }
    expect.update(extra)
    return expect


add(
    "request_response_route",
    to_request_response_frame(1, Payload(b"ping", md_route_echo)),
    request_expect("REQUEST_RESPONSE", 1, md_route_echo, b"ping", composite=[r("echo")]),
)
add(
    "request_response_no_metadata",
    to_request_response_frame(3, Payload(b"ping")),
    request_expect("REQUEST_RESPONSE", 3, None, b"ping"),
)
add(
    "request_response_simple_auth",
    to_request_response_frame(7, Payload(b"{}", md_simple_auth)),
    request_expect(
        "REQUEST_RESPONSE",
        7,
        md_simple_auth,
        b"{}",
        composite=[r("secure.echo"), simple("alice", "s3cr3t")],
    ),
)
add(
    "request_response_bearer_auth",
    to_request_response_frame(9, Payload(b"{}", md_bearer)),
    request_expect("REQUEST_RESPONSE", 9, md_bearer, b"{}", composite=[bearer("eyJhbGciOi.token")]),
)
add(
    "request_response_mime_types",
    to_request_response_frame(29, Payload(b"{}", md_mime_types)),
    request_expect(
        "REQUEST_RESPONSE",
        29,
        md_mime_types,
        b"{}",
        composite=[
            r("convert"),
            {"mime": MIME_TYPE, "mime_types": ["application/json"]},
            {"mime": ACCEPT_MIME_TYPES, "mime_types": ["application/cbor", CUSTOM_MIME]},
        ],
    ),
)
add(
    "request_response_custom_data_mime",
    to_request_response_frame(31, Payload(b"{}", md_custom_data_mime)),
    request_expect(
        "REQUEST_RESPONSE",
        31,
        md_custom_data_mime,
        b"{}",
        composite=[{"mime": MIME_TYPE, "mime_types": [CUSTOM_MIME]}],
    ),
)
add(
    "request_fnf",
    to_fire_and_forget_frame(11, Payload(b"fire", md_route_echo)),
    request_expect("REQUEST_FNF", 11, md_route_echo, b"fire", composite=[r("echo")]),
)
add(
    "request_fnf_custom_auth",
    to_fire_and_forget_frame(13, Payload(b"x", md_custom_auth)),
    request_expect(
        "REQUEST_FNF",
        13,
        md_custom_auth,
        b"x",
        composite=[{"mime": AUTH, "auth": {"type": "x-api-key", "payload": hx(b"k-123")}}],
    ),
)
add(
    "request_stream_route",
    to_request_stream_frame(15, Payload(b"count", md_route_echo), initial_request_n=16),
    request_expect(
        "REQUEST_STREAM", 15, md_route_echo, b"count", initial_request_n=16, composite=[r("echo")]
    ),
)
add(
    "request_stream_unbounded",
    to_request_stream_frame(17, Payload(b"all")),
    request_expect("REQUEST_STREAM", 17, None, b"all", initial_request_n=0x7FFFFFFF),
)
add(
    "request_stream_custom_mime",
    to_request_stream_frame(19, Payload(b"n", md_custom_mime), initial_request_n=4),
    request_expect(
        "REQUEST_STREAM",
        19,
        md_custom_mime,
        b"n",
        initial_request_n=4,
        composite=[r("numbers"), {"mime": CUSTOM_MIME, "content": hx(b"custom-entry")}],
    ),
)
add(
    "request_channel",
    to_request_channel_frame(21, Payload(b"hi", md_multi_route), initial_request_n=8),
    request_expect(
        "REQUEST_CHANNEL",
        21,
        md_multi_route,
        b"hi",
        initial_request_n=8,
        complete=False,
        composite=[r("chat.room", "tag-2", "third tag")],
    ),
)
add(
    "request_channel_complete",
    to_request_channel_frame(23, Payload(b"only"), initial_request_n=1, complete=True),
    request_expect("REQUEST_CHANNEL", 23, None, b"only", initial_request_n=1, complete=True),
)
add(
    "request_n",
    to_request_n_frame(15, 32),
    {"type": "REQUEST_N", "stream_id": 15, "flags": 0, "request_n": 32},
)
add("cancel", to_cancel_frame(15), {"type": "CANCEL", "stream_id": 15, "flags": 0})


# --- PAYLOAD ---------------------------------------------------------------
def payload_expect(
    stream_id: int, metadata: bytes | None, data: bytes, *, complete: bool, next_: bool, follows: bool = False
) -> dict[str, Any]:
    flags = (
        (FLAG_METADATA if metadata is not None else 0)
        | (FLAG_FOLLOWS if follows else 0)
        | (FLAG_COMPLETE if complete else 0)
        | (FLAG_NEXT if next_ else 0)
    )
    return {
        "type": "PAYLOAD",
        "stream_id": stream_id,
        "flags": flags,
        "metadata": hx(metadata),
        "data": hx(data),
        "follows": follows,
        "complete": complete,
        "next": next_,
    }


add(
    "payload_next_complete",
    to_payload_frame(1, Payload(b"pong"), complete=True),
    payload_expect(1, None, b"pong", complete=True, next_=True),
)
add(
    "payload_next",
    to_payload_frame(15, Payload(b"item-1")),
    payload_expect(15, None, b"item-1", complete=False, next_=True),
)
add(
    "payload_complete",
    to_payload_frame(15, Payload(), complete=True, is_next=False),
    payload_expect(15, None, b"", complete=True, next_=False),
)
add(
    "payload_metadata",
    to_payload_frame(21, Payload(b"with-md", b"meta")),
    payload_expect(21, b"meta", b"with-md", complete=False, next_=True),
)
add(
    "payload_next_empty_data",
    to_payload_frame(15, Payload(b"")),
    payload_expect(15, None, b"", complete=False, next_=True),
)
# rsocket-py sets M only when the metadata is non-empty, so "empty" collapses to "absent" (D-9).
add(
    "payload_empty_metadata_dropped",
    to_payload_frame(21, Payload(b"empty-md", b"")),
    payload_expect(21, None, b"empty-md", complete=False, next_=True),
    told={"metadata": ""},
    quirk="rsocket_py_drops_empty_metadata",
)
# PayloadFrame forces N whenever there is data or metadata, whatever the caller asked.
add(
    "payload_complete_with_data_forces_next",
    to_payload_frame(15, Payload(b"last"), complete=True, is_next=False),
    payload_expect(15, None, b"last", complete=True, next_=True),
    told={"next": False},
    quirk="rsocket_py_payload_with_data_forces_next",
)


# --- Fragments (rsocket-py's own fragmenter) --------------------------------
def add_fragments(prefix: str, base: rf.Frame) -> None:
    index = 0
    while (fragment := base.get_next_fragment()) is not None:
        raw = bytes(fragment.serialize())
        type_name = rf.FrameType(fragment.frame_type).name
        metadata = fragment.metadata or None
        expect: dict[str, Any] = {
            "type": type_name,
            "stream_id": fragment.stream_id,
            "flags": int.from_bytes(raw[4:6], "big") & 0x3FF,
            "metadata": hx(metadata),
            "data": hx(fragment.data or b""),
            "follows": bool(fragment.flags_follows),
        }
        if type_name in ("REQUEST_STREAM", "REQUEST_CHANNEL"):
            expect["initial_request_n"] = fragment.initial_request_n
        if type_name == "PAYLOAD":
            expect["complete"] = bool(fragment.flags_complete)
            expect["next"] = bool(fragment.flags_next)
        # The flags above are read back from the peer's bytes on purpose: the golden
        # records how this library fragments, and the decoded fields must agree with them.
        frames.append({"name": f"{prefix}_{index}", "hex": raw.hex(), "expect": expect})
        index += 1


big_metadata = b"m" * 40
big_data = b"d" * 100
add_fragments(
    "fragment_request_response",
    to_request_response_frame(25, Payload(big_data, big_metadata), fragment_size_bytes=64),
)
add_fragments(
    "fragment_request_stream",
    to_request_stream_frame(
        27, Payload(big_data, big_metadata), fragment_size_bytes=64, initial_request_n=10
    ),
)
add_fragments(
    "fragment_payload_complete",
    to_payload_frame(25, Payload(big_data), complete=True, fragment_size_bytes=64),
)


# --- ERROR -----------------------------------------------------------------
def error_frame(stream_id: int, code: int, message: str) -> rf.ErrorFrame:
    frame = rf.ErrorFrame()
    frame.stream_id = stream_id
    frame.error_code = code
    frame.data = message.encode()
    return frame


for name, stream_id, code, message in (
    ("error_application", 1, ErrorCode.APPLICATION_ERROR, "boom: handler failed ✗"),
    ("error_connection", 0, ErrorCode.CONNECTION_ERROR, "connection broken"),
    ("error_rejected_setup", 0, ErrorCode.REJECTED_SETUP, "no thanks"),
    ("error_rejected", 3, ErrorCode.REJECTED, ""),
    ("error_application_defined_0x301", 7, 0x00000301, "custom app error"),
    ("error_application_defined_max", 9, 0xFFFFFFFE, "max app code"),
):
    add(
        name,
        error_frame(stream_id, code, message),
        {
            "type": "ERROR",
            "stream_id": stream_id,
            "flags": 0,
            "error_code": int(code),
            "data": message.encode().hex(),
        },
    )


# --- Connection-level -------------------------------------------------------
add(
    "keepalive_respond",
    to_keepalive_frame(b""),
    {
        "type": "KEEPALIVE",
        "stream_id": 0,
        "flags": FLAG_RESPOND,
        "respond": True,
        "last_received_position": 0,
        "data": "",
    },
)
keepalive_reply = rf.KeepAliveFrame(data=b"ka")
keepalive_reply.last_received_position = 0x123456789A
add(
    "keepalive_reply_with_data",
    keepalive_reply,
    {
        "type": "KEEPALIVE",
        "stream_id": 0,
        "flags": 0,
        "respond": False,
        "last_received_position": 0x123456789A,
        "data": hx(b"ka"),
    },
)


def lease_frame(ttl: int, count: int, metadata: bytes) -> rf.LeaseFrame:
    frame = rf.LeaseFrame()
    frame.time_to_live = ttl
    frame.number_of_requests = count
    frame.metadata = metadata
    return frame


add(
    "lease",
    lease_frame(30000, 100, b""),
    {"type": "LEASE", "stream_id": 0, "flags": 0, "ttl": 30000, "number_of_requests": 100, "metadata": None},
)
add(
    "lease_metadata",
    lease_frame(5000, 0x7FFFFFFF, b"lease-md"),
    {
        "type": "LEASE",
        "stream_id": 0,
        "flags": FLAG_METADATA,
        "ttl": 5000,
        "number_of_requests": 0x7FFFFFFF,
        "metadata": hx(b"lease-md"),
    },
)
add(
    "metadata_push",
    to_metadata_push_frame(md_push),
    {
        "type": "METADATA_PUSH",
        "stream_id": 0,
        "flags": FLAG_METADATA,
        "metadata": hx(md_push),
        "composite": [bearer("refreshed-token")],
    },
)
resume = rf.ResumeFrame()
resume.resume_identification_token = b"resume-token-01"
resume.last_server_position = 1234
resume.first_client_position = 567
add(
    "resume",
    resume,
    {
        "type": "RESUME",
        "stream_id": 0,
        "flags": 0,
        "major": 1,
        "minor": 0,
        "resume_token": hx(b"resume-token-01"),
        "last_received_server_position": 1234,
        "first_available_client_position": 567,
    },
)
resume_ok = rf.ResumeOKFrame()
resume_ok.last_received_client_position = 98765
add(
    "resume_ok",
    resume_ok,
    {"type": "RESUME_OK", "stream_id": 0, "flags": 0, "last_received_client_position": 98765},
)

unsupported.append(
    {"name": "ext", "reason": "rsocket.frame.ExtendedFrame is abstract; rsocket-py has no EXT encoder"}
)
unsupported.append(
    {
        "name": "request_response_follows / payload_follows (hand-flagged)",
        "reason": "F is only set by rsocket-py's fragmenter; its fragments are included instead",
    }
)


# --- What a real RSocketClient sends ----------------------------------------
async def capture_wire() -> list[bytes]:
    wanted = 4
    captured: list[bytes] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while len(captured) < wanted:
                length = int.from_bytes(await reader.readexactly(3), "big")
                captured.append(await reader.readexactly(length))
        finally:
            done.set()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RSocketClient(
        single_transport_provider(TransportTCP(reader, writer)),
        metadata_encoding=WellKnownMimeTypes.MESSAGE_RSOCKET_COMPOSITE_METADATA,
        keep_alive_period=timedelta(seconds=60),
        max_lifetime_period=timedelta(seconds=180),
        setup_payload=Payload(b'{"wire":true}', md_setup),
    )
    async with client:
        await client.fire_and_forget(Payload(b"fire", md_route_echo))
        await client.metadata_push(md_push)
        request = asyncio.ensure_future(client.request_response(Payload(b"ping", b"")))
        await asyncio.wait_for(done.wait(), 10)
        request.cancel()
    server.close()
    await server.wait_closed()
    return captured


setup_bytes, fnf_bytes, push_bytes, rr_bytes = asyncio.run(capture_wire())
frames.append(
    {
        "name": "wire_setup",
        "hex": setup_bytes.hex(),
        # data_encoding was left at rsocket-py's default, application/json.
        "expect": setup_expect(
            FLAG_METADATA,
            keepalive_interval=60000,
            max_lifetime=180000,
            metadata=hx(md_setup),
            data=hx(b'{"wire":true}'),
            composite=[r("setup.route"), simple("user", "pass")],
        ),
    }
)
frames.append(
    {
        "name": "wire_request_fnf",
        "hex": fnf_bytes.hex(),
        "expect": request_expect("REQUEST_FNF", 1, md_route_echo, b"fire", composite=[r("echo")]),
    }
)
frames.append(
    {
        "name": "wire_metadata_push",
        "hex": push_bytes.hex(),
        "expect": {
            "type": "METADATA_PUSH",
            "stream_id": 0,
            "flags": FLAG_METADATA,
            "metadata": hx(md_push),
            "composite": [bearer("refreshed-token")],
        },
    }
)
frames.append(
    {
        "name": "wire_request_response_empty_metadata_dropped",
        "hex": rr_bytes.hex(),
        "expect": request_expect("REQUEST_RESPONSE", 3, None, b"ping"),
        "told": {"metadata": ""},
        "quirk": "rsocket_py_drops_empty_metadata",
    }
)

json.dump(
    {
        "peer": "rsocket_py",
        "version": importlib_metadata.version("rsocket"),
        "frames": frames,
        "unsupported": unsupported,
    },
    sys.stdout,
)
sys.stdout.write("\n")
