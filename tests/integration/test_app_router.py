"""The app layer end to end over real loopback connections: Router + Requester, our client and server.

Real peers' routing clients and servers are in tests/interop/test_interop_app.py.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import prometheus_client
import pydantic
import pytest

import aiorsocket
from aiorsocket import ConnectionSetup, Payload
from aiorsocket.app import (
    BearerAuthenticator,
    ConnectionContext,
    Interaction,
    Interceptor,
    LoggingInterceptor,
    Metadata,
    Outcome,
    Principal,
    PrometheusMetrics,
    RequestContext,
    Requester,
    Router,
    SetupData,
    SimpleAuthenticator,
    Span,
    TracingInterceptor,
    any_of,
    anyone,
    has_role,
)
from aiorsocket.errors import (
    ApplicationError,
    ErrorCode,
    InvalidError,
    InvalidSetupError,
    RejectedError,
    RejectedSetupError,
    UnsupportedSetupError,
)
from aiorsocket.extensions import (
    COMPOSITE_METADATA_MIME,
    ROUTING_MIME,
    BearerAuth,
    Sampling,
    SimpleAuth,
    TracingMetadata,
    build_composite_metadata,
    encode_routing,
    parse_composite_metadata,
)

ALICE = SimpleAuth("alice", "secret")
ADMIN_TOKEN = BearerAuth("root-token")
TRACE_MIME = "application/x.trace+json"


@dataclass
class User:
    id: int
    name: str


@dataclass
class NewUser:
    name: str
    email: str

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ValueError(f"email {self.email!r} has no '@'")


class Account(pydantic.BaseModel):
    owner: str
    balance: int = pydantic.Field(ge=0)


@dataclass
class ClientInfo:
    app: str
    version: int


@dataclass
class Seen:
    """What the server side observed, for assertions."""

    connects: list[str] = field(default_factory=list)
    audit: list[Any] = field(default_factory=list)
    audit_event: asyncio.Event = field(default_factory=asyncio.Event)
    pushes: list[Any] = field(default_factory=list)
    push_event: asyncio.Event = field(default_factory=asyncio.Event)
    produced: int = 0
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)


class TeapotError(ApplicationError):
    code = 0x00000418


def build_app(seen: Seen, **options: Any) -> Router:
    app = Router(
        auth=any_of(
            SimpleAuthenticator({"alice": ("secret", ["user"])}),
            BearerAuthenticator({"root-token": Principal("root", frozenset({"user", "admin"}))}),
        ),
        **options,
    )

    @app.connect()
    async def any_connection(info: ClientInfo | None, principal: Principal | None) -> None:
        seen.connects.append(f"{info.app if info else '-'} as {principal.name if principal else 'anonymous'}")

    @app.connect("refuse.{reason}")
    async def refuse(reason: str) -> None:
        raise RejectedSetupError(f"refused because {reason}")

    @app.response("users.{id}")
    async def get_user(id: int) -> User:
        return User(id, f"user-{id}")

    @app.response("users.create", requires=has_role("admin"))
    async def create_user(user: NewUser, principal: Principal) -> User:
        return User(100, f"{user.name} by {principal.name}")

    @app.response("accounts.open")
    async def open_account(account: Account) -> Account:
        return account

    @app.response("whoami")
    async def whoami(principal: Principal | None, connection: ConnectionContext) -> dict[str, Any]:
        return {
            "request": principal.name if principal else None,
            "connection": connection.principal.name if connection.principal else None,
        }

    @app.response("secret")
    async def secret(principal: Principal) -> str:
        return f"for {principal.name}"

    @app.response("setup")
    async def setup_info(info: Annotated[ClientInfo, SetupData], setup: ConnectionSetup) -> dict[str, Any]:
        return {"app": info.app, "version": info.version, "data_mime": setup.data_mime}

    @app.response("trace")
    async def trace(
        trace: Annotated[dict[str, Any], Metadata(TRACE_MIME)],
        raw: Annotated[bytes | None, Metadata("x/raw")] = None,
    ) -> dict[str, Any]:
        return {"trace": trace, "raw": raw.decode() if raw else None}

    @app.response("echo")
    async def echo(body: Any) -> Any:
        return body

    @app.response("raw")
    async def raw(data: bytes) -> bytes:
        return data[::-1]

    @app.response("payload")
    async def payload(request: Payload) -> Payload:
        return Payload(request.data.upper(), b"md")

    @app.response("nothing")
    async def nothing() -> None:
        return None

    @app.response("sync.{n}")
    def sync_handler(n: int) -> int:
        return n * 2

    @app.response("boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.response("teapot")
    async def teapot() -> None:
        raise TeapotError("short and stout")

    @app.response("callback")
    async def callback(requester: Requester) -> dict[str, Any]:
        return {"client": await requester.route("client.info").retrieve(dict[str, Any])}

    @app.stream("count.{n}")
    async def count(n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                seen.produced += 1
                yield i
        finally:
            seen.stream_closed.set()

    @app.stream("letters")
    def letters() -> list[str]:
        return ["a", "b", "c"]

    @app.stream("not.iterable")
    async def not_iterable() -> int:
        return 3

    @app.channel("sum")
    async def running_sum(values: AsyncIterator[int]) -> AsyncIterator[int]:
        total = 0
        async for value in values:
            total += value
            yield total

    @app.channel("upper")
    async def upper(first: str, items: AsyncIterator[Payload]) -> AsyncIterator[str]:
        yield f"first={first}"
        async for item in items:
            yield item.data.decode().upper()

    @app.fire_and_forget("audit")
    async def audit(event: dict[str, Any], principal: Principal | None) -> None:
        seen.audit.append({**event, "by": principal.name if principal else None})
        seen.audit_event.set()

    @app.metadata_push("config")
    async def config(update: Annotated[dict[str, Any], Metadata("application/x.config+json")]) -> None:
        seen.pushes.append(update)
        seen.push_event.set()

    @app.metadata_push()
    async def other_push(metadata: bytes) -> None:
        seen.pushes.append(metadata)
        seen.push_event.set()

    return app


def client_router() -> Router:
    client = Router()

    @client.response("client.info")
    async def info(principal: Principal | None) -> dict[str, Any]:
        return {"name": "test-client", "server_principal": principal}

    return client


Served = tuple[aiorsocket.Server, Seen]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    seen = Seen()
    async with aiorsocket.serve(build_app(seen), "tcp://127.0.0.1:0") as server:
        yield server, seen


def uri(server: aiorsocket.Server) -> str:
    return server.bound_uris[0]


@pytest.fixture
async def alice(served: Served) -> AsyncIterator[Requester]:
    server, _ = served
    async with Requester.connect(
        uri(server), auth=ALICE, setup_data=ClientInfo("tests", 3), handler=client_router()
    ) as requester:
        yield requester


# --- routing -----------------------------------------------------------------------------------


async def test_route_variables_are_converted_to_the_declared_type(alice: Requester) -> None:
    assert await alice.route("users.{id}", id=42).retrieve(User) == User(42, "user-42")
    assert await alice.route("sync.21").retrieve(int) == 42


async def test_unknown_route_is_application_error_naming_the_route(alice: Requester) -> None:
    with pytest.raises(ApplicationError, match=r"no handler for route 'nope\.nope' \(request/response\)"):
        await alice.route("nope.nope").retrieve()


async def test_a_route_served_by_another_interaction_model_says_so(alice: Requester) -> None:
    with pytest.raises(
        ApplicationError, match="route 'sum' has no request/response handler; it serves request/channel"
    ):
        await alice.route("sum").retrieve()


async def test_a_request_without_a_route_says_what_is_missing(alice: Requester) -> None:
    with pytest.raises(
        ApplicationError, match="no route in the request/response request: its metadata has no routing"
    ):
        await alice.data({"x": 1}).retrieve()


async def test_plain_metadata_mime_gets_a_hint_to_use_composite_or_routing(served: Served) -> None:
    server, _ = served
    async with aiorsocket.connect(uri(server), data_mime="application/json") as rs:
        with pytest.raises(
            ApplicationError, match="metadata MIME is 'application/octet-stream'; send a routing"
        ):
            await rs.request_response(Payload(b"{}", b"echo"))


async def test_routing_mime_as_setup_metadata_mime_routes_bare_tags(served: Served) -> None:
    server, _ = served
    async with Requester.connect(uri(server), metadata_mime=ROUTING_MIME) as requester:
        assert await requester.route("users.5").retrieve(User) == User(5, "user-5")
    async with aiorsocket.connect(
        uri(server), data_mime="application/json", metadata_mime=ROUTING_MIME
    ) as rs:
        reply = await rs.request_response(Payload(b'"hi"', encode_routing(["echo", "ignored-tag"])))
        assert reply.data == b'"hi"'


async def test_malformed_request_metadata_is_invalid(alice: Requester) -> None:
    with pytest.raises(InvalidError, match="malformed metadata"):
        await alice.rsocket.request_response(Payload(b"{}", b"\xfe\x00\x00\x09\x04echo"))


# --- bodies and codecs ---------------------------------------------------------------------------


async def test_dataclass_body_validation_failure_is_invalid_with_the_reason(alice: Requester) -> None:
    bad_type = alice.route("users.create").data({"name": "x", "email": 5}).auth(ADMIN_TOKEN)
    with pytest.raises(InvalidError, match=r"invalid body\.email: expected str, got int"):
        await bad_type.retrieve(User)
    bad_value = alice.route("users.create").data({"name": "x", "email": "nope"}).auth(ADMIN_TOKEN)
    with pytest.raises(InvalidError, match="email 'nope' has no '@'"):
        await bad_value.retrieve(User)


async def test_pydantic_body_is_validated_by_pydantic(alice: Requester) -> None:
    account = Account(owner="alice", balance=10)
    assert await alice.route("accounts.open").data(account).retrieve(Account) == account
    with pytest.raises(InvalidError, match="balance: Input should be greater than or equal to 0"):
        await alice.route("accounts.open").data({"owner": "alice", "balance": -5}).retrieve(Account)


async def test_undecodable_body_is_invalid(alice: Requester) -> None:
    with pytest.raises(InvalidError, match="malformed application/json"):
        await alice.route("echo").data(b"{not json").retrieve()


async def test_raw_bytes_and_payload_bodies_skip_the_codec(alice: Requester) -> None:
    assert await alice.route("raw").data(b"abc").retrieve(bytes) == b"cba"
    reply = await alice.route("payload").data(b"abc").retrieve(Payload)
    assert reply == Payload(b"ABC", b"md")


async def test_none_result_is_an_empty_completion(alice: Requester) -> None:
    assert await alice.route("nothing").retrieve(Payload) == Payload()
    assert await alice.route("nothing").retrieve() is None


@pytest.mark.parametrize("mime", ["application/cbor", "application/x-msgpack", "application/json"])
async def test_per_stream_data_mime_decodes_the_request_and_answers_in_it(
    alice: Requester, mime: str
) -> None:
    """§5.5: a mime-type entry overrides the SETUP's data MIME for one stream."""
    value = {"n": [1, 2.5, "x"], "nested": {"ok": True}}
    assert await alice.route("echo").data(value, mime).retrieve() == value


async def test_accept_mime_types_pick_the_answer_format_and_the_answer_says_so(alice: Requester) -> None:
    reply = (
        await alice.route("echo")
        .data({"a": 1})
        .accept("application/x-protobuf", "application/cbor")
        .retrieve(Payload)
    )
    assert reply.metadata is not None
    assert parse_composite_metadata(reply.metadata).data_mime == "application/cbor"
    assert await alice.route("echo").data({"a": 1}).accept("application/cbor").retrieve() == {"a": 1}


async def test_no_acceptable_answer_mime_is_invalid(alice: Requester) -> None:
    with pytest.raises(InvalidError, match="cannot answer in any of application/x-protobuf"):
        await alice.route("echo").data({"a": 1}).accept("application/x-protobuf").retrieve()


async def test_typed_metadata_entries_are_decoded_by_their_mime(alice: Requester) -> None:
    spec = alice.route("trace").metadata({"span": "abc"}, TRACE_MIME).metadata(b"raw!", "x/raw")
    assert await spec.retrieve() == {"trace": {"span": "abc"}, "raw": "raw!"}
    assert await alice.route("trace").metadata({"span": "x"}, TRACE_MIME).retrieve() == {
        "trace": {"span": "x"},
        "raw": None,
    }
    with pytest.raises(InvalidError, match=r"no 'application/x\.trace\+json' metadata entry"):
        await alice.route("trace").retrieve()


async def test_setup_data_and_setup_reach_handlers(alice: Requester) -> None:
    assert await alice.route("setup").retrieve() == {
        "app": "tests",
        "version": 3,
        "data_mime": "application/json",
    }


# --- errors from handlers ----------------------------------------------------------------------------


async def test_handler_exception_is_application_error_and_logged(
    alice: Requester, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="aiorsocket.app"),
        pytest.raises(ApplicationError, match="kaboom"),
    ):
        await alice.route("boom").retrieve()
    assert any("handler for route 'boom' failed" in record.message for record in caplog.records)


async def test_handler_raising_an_rsocket_error_sends_its_code(alice: Requester) -> None:
    with pytest.raises(ApplicationError) as raised:
        await alice.route("teapot").retrieve()
    assert raised.value.code == 0x418
    assert raised.value.message == "short and stout"


# --- authentication and rights -----------------------------------------------------------------------


async def test_setup_credentials_give_the_connection_its_principal(alice: Requester, served: Served) -> None:
    assert await alice.route("whoami").retrieve() == {"request": "alice", "connection": "alice"}
    assert served[1].connects == ["tests as alice"]


async def test_per_request_credentials_override_the_connection_principal(alice: Requester) -> None:
    assert await alice.route("whoami").auth(ADMIN_TOKEN).retrieve() == {
        "request": "root",
        "connection": "alice",
    }


async def test_a_route_needing_a_role_the_principal_lacks_is_rejected(alice: Requester) -> None:
    with pytest.raises(
        RejectedError, match=r"access to route 'users\.create' denied: role admin required; 'alice' has user"
    ):
        await alice.route("users.create").data(NewUser("x", "x@y")).retrieve(User)
    created = await alice.route("users.create").data(NewUser("x", "x@y")).auth(ADMIN_TOKEN).retrieve(User)
    assert created == User(100, "x by root")


async def test_bad_per_request_credentials_are_rejected(alice: Requester) -> None:
    with pytest.raises(RejectedError, match="authentication failed: invalid or expired bearer token"):
        await alice.route("whoami").auth(BearerAuth("forged")).retrieve()


async def test_anonymous_callers_cannot_reach_handlers_that_need_a_principal(served: Served) -> None:
    server, _ = served
    async with Requester.connect(uri(server)) as anonymous:
        assert await anonymous.route("whoami").retrieve() == {"request": None, "connection": None}
        with pytest.raises(RejectedError, match="authentication required"):
            await anonymous.route("secret").retrieve()


async def test_bad_setup_credentials_are_rejected_setup_with_the_reason(served: Served) -> None:
    server, _ = served
    with pytest.raises(RejectedSetupError, match="invalid username or password for 'alice'"):
        async with Requester.connect(uri(server), auth=SimpleAuth("alice", "wrong")) as requester:
            await requester.route("whoami").retrieve()


async def test_setup_auth_required_refuses_anonymous_connections() -> None:
    app = build_app(Seen(), setup_auth_required=True)
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        with pytest.raises(RejectedSetupError, match="authentication required"):
            async with Requester.connect(uri(server)) as requester:
                await requester.route("whoami").retrieve()
        async with Requester.connect(uri(server), auth=ADMIN_TOKEN) as requester:
            assert await requester.route("secret").retrieve() == "for root"


async def test_router_default_requirement_applies_unless_a_route_opens_itself() -> None:
    app = Router(auth=SimpleAuthenticator({"a": "b"}), requires="admin")

    @app.response("closed")
    async def closed() -> str:
        return "closed"

    @app.response("open", requires=anyone())
    async def opened() -> str:
        return "open"

    async with (
        aiorsocket.serve(app, "tcp://127.0.0.1:0") as server,
        Requester.connect(uri(server)) as requester,
    ):
        assert await requester.route("open").retrieve() == "open"
        with pytest.raises(RejectedError, match="authentication required"):
            await requester.route("closed").retrieve()


async def test_connect_hook_with_a_route_can_refuse_the_setup(served: Served) -> None:
    server, _ = served
    with pytest.raises(RejectedSetupError, match="refused because testing"):
        async with Requester.connect(uri(server), setup_route="refuse.testing") as requester:
            await requester.route("whoami").retrieve()


async def test_unsupported_setup_data_mime_is_unsupported_setup(served: Served) -> None:
    server, _ = served
    with pytest.raises(UnsupportedSetupError, match="data MIME 'application/x-protobuf' is not supported"):
        async with Requester.connect(uri(server), data_mime="application/x-protobuf") as requester:
            await requester.route("whoami").retrieve()


async def test_malformed_setup_metadata_is_invalid_setup(served: Served) -> None:
    server, _ = served
    bad = Payload(b"", b"\xfe\x00\x00\x09")
    with pytest.raises(InvalidSetupError, match="malformed SETUP metadata"):
        async with aiorsocket.connect(
            uri(server), metadata_mime=COMPOSITE_METADATA_MIME, setup_payload=bad
        ) as rs:
            await rs.request_response(Payload(b""))


# --- streams, channels, fire-and-forget, metadata push, server-to-client ------------------------------


async def test_stream_items_are_produced_only_as_the_consumer_pulls(alice: Requester, served: Served) -> None:
    """RN: with limit_rate=4 the handler never runs more than one item past the granted credit."""
    _, seen = served
    received = 0
    ahead = 0
    async for item in alice.route("count.{n}", n=50).retrieve_stream(int, limit_rate=4):
        assert item == received
        received += 1
        ahead = max(ahead, seen.produced - received)
    assert received == 50
    assert ahead <= 4


async def test_leaving_a_stream_early_cancels_the_handler(alice: Requester, served: Served) -> None:
    _, seen = served
    async with alice.route("count.{n}", n=1_000_000).retrieve_stream(int, limit_rate=8) as stream:
        assert [await anext(stream) for _ in range(3)] == [0, 1, 2]
    await asyncio.wait_for(seen.stream_closed.wait(), 5)
    assert seen.produced < 100


async def test_a_stream_handler_may_return_a_plain_iterable(alice: Requester) -> None:
    assert await alice.route("letters").retrieve_stream(str).collect() == ["a", "b", "c"]


async def test_a_stream_handler_returning_a_non_iterable_is_application_error(alice: Requester) -> None:
    with pytest.raises(ApplicationError, match="returned int; yield items"):
        await alice.route("not.iterable").retrieve_stream().collect()


async def test_channel_inbound_items_are_decoded_to_the_declared_type(alice: Requester) -> None:
    async def values() -> AsyncIterator[int]:
        for value in (5, 10, 20):
            yield value

    assert await alice.route("sum").data(values()).retrieve_stream(int, limit_rate=2).collect() == [5, 15, 35]


async def test_channel_handler_gets_first_payload_as_body_and_raw_inbound(alice: Requester) -> None:
    async def words() -> AsyncIterator[str]:
        for word in ("x", "y"):
            yield word

    assert await alice.route("upper").data(words()).retrieve_stream(str).collect() == [
        "first=x",
        '"X"',
        '"Y"',
    ]


async def test_channel_with_an_invalid_inbound_item_ends_with_invalid(alice: Requester) -> None:
    async def values() -> AsyncIterator[Any]:
        yield 1
        yield "two"

    with pytest.raises(InvalidError, match=r"invalid item\[1\]: expected int, got str"):
        await alice.route("sum").data(values()).retrieve_stream(int).collect()


async def test_fire_and_forget_reaches_its_route(alice: Requester, served: Served) -> None:
    _, seen = served
    await alice.route("audit").data({"event": "login"}).send()
    await asyncio.wait_for(seen.audit_event.wait(), 5)
    assert seen.audit == [{"event": "login", "by": "alice"}]


async def test_metadata_push_is_routed_by_its_composite_metadata(alice: Requester, served: Served) -> None:
    _, seen = served
    await alice.route("config").metadata({"level": "debug"}, "application/x.config+json").send_metadata()
    await asyncio.wait_for(seen.push_event.wait(), 5)
    assert seen.pushes == [{"level": "debug"}]
    seen.push_event.clear()
    await alice.rsocket.metadata_push(build_composite_metadata(extra=[("x/other", b"1")]))
    await asyncio.wait_for(seen.push_event.wait(), 5)
    assert parse_composite_metadata(seen.pushes[1]).find("x/other")[0].content == b"1"


async def test_server_handler_calls_the_client_back_through_its_requester(alice: Requester) -> None:
    assert await alice.route("callback").retrieve() == {
        "client": {"name": "test-client", "server_principal": None}
    }


async def test_requester_wrap_uses_the_connection_mimes(served: Served) -> None:
    server, _ = served
    async with aiorsocket.connect(
        uri(server), data_mime="application/json", metadata_mime=COMPOSITE_METADATA_MIME
    ) as rs:
        requester = Requester.wrap(rs)
        assert requester.data_mime == "application/json"
        assert await requester.route("users.{id}", id=1).retrieve(User) == User(1, "user-1")


# --- interceptors ---------------------------------------------------------------------------------------


class Recorder(Interceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.finished: list[RequestContext] = []
        self.closed = asyncio.Event()

    async def request_started(self, ctx: RequestContext) -> None:
        self.log.append(f"{self.name} start {ctx.route}")
        if ctx.route == "forbidden" and self.name == "inner":
            raise RejectedError("stopped by an interceptor")

    async def request_finished(self, ctx: RequestContext) -> None:
        self.log.append(f"{self.name} end {ctx.route} {ctx.outcome.value}")
        self.finished.append(ctx)

    async def connection_opened(self, connection: ConnectionContext) -> None:
        self.log.append(f"{self.name} open")

    async def connection_closed(self, connection: ConnectionContext) -> None:
        self.log.append(f"{self.name} close")
        self.closed.set()


async def test_interceptors_wrap_every_request_in_order_and_see_outcomes() -> None:
    log: list[str] = []
    outer, inner = Recorder("outer", log), Recorder("inner", log)
    app = build_app(Seen(), interceptors=[outer, inner])
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        async with Requester.connect(uri(server), auth=ALICE) as requester:
            await requester.route("users.1").retrieve(User)
            with pytest.raises(ApplicationError):
                await requester.route("missing").retrieve()
            with pytest.raises(RejectedError, match="stopped by an interceptor"):
                await requester.route("forbidden").retrieve()
            assert await requester.route("count.3").retrieve_stream(int).collect() == [0, 1, 2]
        await asyncio.wait_for(inner.closed.wait(), 5)
    assert log == [
        "outer open",
        "inner open",
        "outer start users.1",
        "inner start users.1",
        "inner end users.1 ok",
        "outer end users.1 ok",
        "outer start missing",
        "inner start missing",
        "inner end missing error",
        "outer end missing error",
        "outer start forbidden",
        "inner start forbidden",
        "outer end forbidden error",
        "outer start count.3",
        "inner start count.3",
        "inner end count.3 ok",
        "outer end count.3 ok",
        "inner close",
        "outer close",
    ]
    by_route = {ctx.route: ctx for ctx in outer.finished}
    assert by_route["users.1"].template == "users.{id}"
    assert by_route["missing"].template is None
    assert by_route["missing"].error_code == ErrorCode.APPLICATION_ERROR
    assert by_route["count.3"].items_sent == 3
    assert by_route["count.3"].interaction is Interaction.REQUEST_STREAM
    assert all(ctx.duration >= 0 for ctx in outer.finished)


async def test_a_cancelled_stream_finishes_as_canceled_for_interceptors() -> None:
    recorder = Recorder("r", [])
    seen = Seen()
    app = build_app(seen, interceptors=[recorder])
    async with (
        aiorsocket.serve(app, "tcp://127.0.0.1:0") as server,
        Requester.connect(uri(server)) as requester,
    ):
        stream = requester.route("count.1000000").retrieve_stream(int, limit_rate=2)
        assert await anext(stream) == 0
        await stream.aclose()
        await asyncio.wait_for(seen.stream_closed.wait(), 5)
    assert [ctx.outcome for ctx in recorder.finished] == [Outcome.CANCELED]


# --- transports --------------------------------------------------------------------------------------


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aiorsocket-") as directory:
        yield Path(directory)


@pytest.mark.parametrize("scheme", ["tcp", "ws", "unix", "local"])
async def test_router_serves_over_every_plain_transport(scheme: str, socket_dir: Path) -> None:
    address = {
        "tcp": "tcp://127.0.0.1:0",
        "ws": "ws://127.0.0.1:0/rsocket",
        "unix": f"unix://{socket_dir / 'app.sock'}",
        "local": "local://app-router-test",
    }[scheme]
    async with (
        aiorsocket.serve(build_app(Seen()), address) as server,
        Requester.connect(uri(server), auth=ALICE, handler=client_router()) as requester,
    ):
        assert await requester.route("users.{id}", id=3).retrieve(User) == User(3, "user-3")
        items = await requester.route("count.5").retrieve_stream(int, limit_rate=2).collect()
        assert items == [0, 1, 2, 3, 4]
        assert (await requester.route("callback").retrieve())["client"]["name"] == "test-client"


# --- logging, tracing, metrics --------------------------------------------------------------------------


async def test_logging_interceptor_writes_one_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(Seen(), interceptors=[LoggingInterceptor()])
    with caplog.at_level(logging.INFO, logger="aiorsocket.access"):
        async with (
            aiorsocket.serve(app, "tcp://127.0.0.1:0") as server,
            Requester.connect(uri(server), auth=ALICE) as requester,
        ):
            await requester.route("users.9").retrieve(User)
            with pytest.raises(ApplicationError):
                await requester.route("missing").retrieve()
    lines = [record.getMessage() for record in caplog.records if record.name == "aiorsocket.access"]
    assert any(line.startswith("request/response users.9 ok ") and line.endswith(" alice") for line in lines)
    assert any(
        "request/response missing error 0x201 no handler for route 'missing'" in line for line in lines
    )
    assert any(line.startswith("connection from ") for line in lines)


async def test_tracing_interceptor_continues_the_callers_trace_into_calls_the_handler_makes() -> None:
    """§5.6: the server's span is a child of the request's; a call back to the client carries its child."""
    spans: list[Span] = []
    app = Router(interceptors=[TracingInterceptor(report=lambda span, ctx: spans.append(span))])
    client = Router()
    seen_by_client: list[TracingMetadata | None] = []

    @client.response("client.ping")
    async def ping(tracing: TracingMetadata | None) -> str:
        seen_by_client.append(tracing)
        return "pong"

    @app.response("traced")
    async def traced(requester: Requester) -> str:
        return await requester.route("client.ping").retrieve(str)

    caller = TracingMetadata(Sampling.SAMPLED, trace_id=0xABC, span_id=0x111)
    async with (
        aiorsocket.serve(app, "tcp://127.0.0.1:0") as server,
        Requester.connect(uri(server), handler=client) as requester,
    ):
        assert await requester.route("traced").tracing(caller).retrieve(str) == "pong"
    assert len(spans) == 1
    server_span = spans[0]
    assert (server_span.trace_id, server_span.parent_id) == (0xABC, 0x111)
    onward = seen_by_client[0]
    assert onward is not None
    assert (onward.trace_id, onward.parent_span_id, onward.sampling) == (
        0xABC,
        server_span.span_id,
        Sampling.SAMPLED,
    )


async def test_prometheus_metrics_count_requests_errors_latency_open_streams_and_connections() -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry)
    seen = Seen()
    app = build_app(seen, interceptors=[metrics])
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        async with Requester.connect(uri(server), auth=ALICE) as requester:
            await requester.route("users.1").retrieve(User)
            await requester.route("users.2").retrieve(User)
            with pytest.raises(ApplicationError):
                await requester.route("missing").retrieve()
            with pytest.raises(RejectedError):
                await requester.route("users.create").data(NewUser("a", "a@b")).retrieve(User)
            stream = requester.route("count.1000").retrieve_stream(int, limit_rate=1)
            assert await anext(stream) == 0
            open_streams = registry.get_sample_value(
                "aiorsocket_open_streams", {"interaction": "request_stream"}
            )
            assert open_streams == 1
            await stream.aclose()
            await asyncio.wait_for(seen.stream_closed.wait(), 5)
            assert registry.get_sample_value("aiorsocket_open_connections") == 1

        def sample(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        rr = {"interaction": "request_response"}
        assert sample("aiorsocket_requests_total", route="users.{id}", outcome="ok", **rr) == 2
        assert sample("aiorsocket_requests_total", route="<unknown>", outcome="error", **rr) == 1
        assert (
            sample("aiorsocket_request_errors_total", route="<unknown>", code="APPLICATION_ERROR", **rr) == 1
        )
        assert sample("aiorsocket_request_errors_total", route="users.create", code="REJECTED", **rr) == 1
        assert sample("aiorsocket_request_duration_seconds_count", route="users.{id}", **rr) == 2
        stream_labels = {"route": "count.{n}", "interaction": "request_stream"}
        assert sample("aiorsocket_requests_total", outcome="canceled", **stream_labels) == 1
        assert sample("aiorsocket_open_streams", interaction="request_stream") == 0
        assert sample("aiorsocket_connections_total") == 1
