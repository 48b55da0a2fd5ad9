"""``aiorsocket demo``: a routed server and a client on loopback, every interaction model, a short report.

The server is a :class:`~aiorsocket.app.Router` app the way a Spring
``@MessageMapping`` service is written: routes with variables, JSON bodies
as dataclasses, simple and bearer credentials, per-route roles, a SETUP hook,
and a handler that calls the client back.  Each line of the report is a check:
the command exits 1 if any of them did not see what it expected.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from .. import __version__
from ..app import (
    BearerAuthenticator,
    ConnectionContext,
    Metadata,
    Principal,
    Requester,
    Router,
    SimpleAuthenticator,
    any_of,
    authenticated,
    has_role,
)
from ..errors import ErrorCode, ErrorFrameReceived
from ..extensions import BearerAuth, SimpleAuth
from ..server import serve

DEMO_USERS: Final = {"demo": ("demo-password", ["user"]), "admin": ("admin-password", ["user", "admin"])}
DEMO_TOKEN: Final = "demo-token"
CONFIG_MIME: Final = "application/x.demo-config+json"
LIMIT_RATE: Final = 4
TICKS: Final = 20


@dataclass
class ClientInfo:
    name: str
    version: str


@dataclass
class Greeting:
    message: str


@dataclass
class User:
    id: int
    name: str
    email: str


@dataclass
class NewUser:
    name: str
    email: str

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ValueError(f"email {self.email!r} has no '@'")


@dataclass
class TickRequest:
    symbol: str
    count: int


@dataclass
class Tick:
    symbol: str
    seq: int
    price: float


@dataclass
class ClientStatus:
    name: str
    pending_jobs: int


@dataclass
class DemoState:
    """What the server saw, so the report can show both ends."""

    clients: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    audit: list[dict[str, Any]] = field(default_factory=list)
    audit_seen: asyncio.Event = field(default_factory=asyncio.Event)
    config: list[dict[str, Any]] = field(default_factory=list)
    config_seen: asyncio.Event = field(default_factory=asyncio.Event)
    produced: int = 0


def build_server(state: DemoState) -> Router:
    app = Router(
        auth=any_of(
            SimpleAuthenticator(DEMO_USERS),
            BearerAuthenticator({DEMO_TOKEN: Principal("robot", frozenset({"user", "admin"}))}),
        ),
        requires=authenticated(),
    )

    @app.connect()
    async def on_connect(info: ClientInfo, principal: Principal | None) -> None:
        state.clients.append(f"{info.name} {info.version} as {principal.name if principal else 'anonymous'}")
        state.connected.set()

    @app.response("greet.{name}")
    async def greet(name: str, principal: Principal) -> Greeting:
        return Greeting(f"Hello, {name}! (asked by {principal.name})")

    @app.response("users.{id}")
    async def get_user(id: int) -> User:
        return User(id, f"user-{id}", f"user{id}@example.com")

    @app.response("users.create", requires=has_role("admin"))
    async def create_user(user: NewUser) -> User:
        return User(100, user.name, user.email)

    @app.stream("ticks")
    async def ticks(request: TickRequest) -> AsyncIterator[Tick]:
        for seq in range(request.count):
            state.produced += 1
            yield Tick(request.symbol, seq, round(100 + seq * 0.1, 2))

    @app.channel("sum")
    async def running_sum(numbers: AsyncIterator[int]) -> AsyncIterator[int]:
        total = 0
        async for number in numbers:
            total += number
            yield total

    @app.fire_and_forget("audit")
    async def audit(event: dict[str, Any], principal: Principal) -> None:
        state.audit.append({**event, "by": principal.name})
        state.audit_seen.set()

    @app.metadata_push("config")
    async def config(update: Annotated[dict[str, Any], Metadata(CONFIG_MIME)]) -> None:
        state.config.append(update)
        state.config_seen.set()

    @app.response("whoami")
    async def whoami(requester: Requester, connection: ConnectionContext) -> dict[str, Any]:
        status = await requester.route("client.status").retrieve(ClientStatus)
        who = connection.principal.name if connection.principal else "anonymous"
        return {"server_sees": who, "client_says": f"{status.name} has {status.pending_jobs} pending jobs"}

    return app


def build_client() -> Router:
    client = Router()

    @client.response("client.status")
    async def status() -> ClientStatus:
        return ClientStatus("demo-client", 3)

    return client


class Report:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, bool]] = []

    async def check(self, model: str, call: str, run: Callable[[], Awaitable[tuple[str, bool]]]) -> None:
        try:
            outcome, ok = await run()
        except ErrorFrameReceived as exc:
            outcome, ok = f"unexpected {_code_name(int(exc.code))}: {exc.message}", False
        except Exception as exc:
            outcome, ok = f"unexpected {type(exc).__name__}: {exc}", False
        self.lines.append((model, call, outcome, ok))
        mark = "ok " if ok else "FAIL"
        print(f"  {mark} {model:<17} {call:<30} {outcome}", flush=True)

    async def refused(
        self, model: str, call: str, code: ErrorCode, attempt: Callable[[], Awaitable[Any]]
    ) -> None:
        async def run() -> tuple[str, bool]:
            try:
                await attempt()
            except ErrorFrameReceived as exc:
                return f"{_code_name(int(exc.code))}: {exc.message}", exc.code == code
            return f"no error, expected {code.name}", False

        await self.check(model, call, run)

    @property
    def passed(self) -> bool:
        return all(ok for *_, ok in self.lines)


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:x}"


async def run_demo(uri: str = "tcp://127.0.0.1:0") -> bool:
    """Run the whole demo and print its report; True when every check saw what it expected."""
    state = DemoState()
    started = time.perf_counter()
    report = Report()
    async with serve(build_server(state), uri) as server:
        address = server.bound_uris[0]
        print(f"aiorsocket {__version__} demo: a Router app on {address} and a client calling it")
        print("routes in composite metadata, JSON bodies as dataclasses, simple auth in the SETUP\n")
        async with Requester.connect(
            address,
            auth=SimpleAuth("demo", DEMO_USERS["demo"][0]),
            setup_data=ClientInfo("demo-client", __version__),
            handler=build_client(),
        ) as requester:
            await _interactions(requester, state, report)
        await report.refused(
            "SETUP",
            "wrong password",
            ErrorCode.REJECTED_SETUP,
            lambda: _bad_setup(address),
        )
    elapsed = (time.perf_counter() - started) * 1000
    failed = sum(1 for *_, ok in report.lines if not ok)
    verdict = "every check passed" if not failed else f"{failed} check(s) FAILED"
    print(f"\n{len(report.lines)} checks, {verdict}, in {elapsed:.0f} ms")
    return report.passed


async def _bad_setup(address: str) -> None:
    async with Requester.connect(
        address, auth=SimpleAuth("demo", "wrong"), setup_data=ClientInfo("x", "0")
    ) as rq:
        await rq.route("users.1").retrieve(User)


async def _interactions(requester: Requester, state: DemoState, report: Report) -> None:
    async def connected() -> tuple[str, bool]:
        # RSocket has no SETUP acknowledgement: the hook runs while the client already goes on.
        await asyncio.wait_for(state.connected.wait(), 5)
        return f"@connect hook saw {state.clients[0]}", state.clients[:1] == [
            f"demo-client {__version__} as demo"
        ]

    await report.check("SETUP", "simple auth demo/***", connected)

    async def greet() -> tuple[str, bool]:
        greeting = await requester.route("greet.{name}", name="Ada").retrieve(Greeting)
        return repr(greeting), greeting.message == "Hello, Ada! (asked by demo)"

    await report.check("request/response", "greet.Ada -> Greeting", greet)

    async def user() -> tuple[str, bool]:
        found = await requester.route("users.{id}", id=7).retrieve(User)
        return repr(found), found == User(7, "user-7", "user7@example.com")

    await report.check("request/response", "users.7 -> User", user)

    async def ticks() -> tuple[str, bool]:
        seen: list[Tick] = []
        ahead = 0
        stream = (
            requester.route("ticks")
            .data(TickRequest("ACME", TICKS))
            .retrieve_stream(Tick, limit_rate=LIMIT_RATE)
        )
        async for tick in stream:
            seen.append(tick)
            ahead = max(ahead, state.produced - len(seen))
        ok = [t.seq for t in seen] == list(range(TICKS)) and ahead <= LIMIT_RATE
        return (
            f"{len(seen)} ticks {seen[0].price:.2f} .. {seen[-1].price:.2f}; the server ran at most "
            f"{ahead} ahead of the reader",
            ok,
        )

    await report.check("request/stream", f"ticks x{TICKS}, limit_rate={LIMIT_RATE}", ticks)

    async def channel() -> tuple[str, bool]:
        async def numbers() -> AsyncIterator[int]:
            for n in (1, 2, 3, 4, 5):
                yield n

        totals = await requester.route("sum").data(numbers()).retrieve_stream(int).collect()
        return f"running totals {totals}", totals == [1, 3, 6, 10, 15]

    await report.check("request/channel", "sum 1 2 3 4 5", channel)

    async def fire() -> tuple[str, bool]:
        await requester.route("audit").data({"event": "demo-ran"}).send()
        await asyncio.wait_for(state.audit_seen.wait(), 5)
        return f"the server recorded {state.audit[0]}", state.audit == [{"event": "demo-ran", "by": "demo"}]

    await report.check("fire-and-forget", "audit", fire)

    async def push() -> tuple[str, bool]:
        await requester.route("config").metadata({"log_level": "debug"}, CONFIG_MIME).send_metadata()
        await asyncio.wait_for(state.config_seen.wait(), 5)
        return f"the server applied {state.config[0]}", state.config == [{"log_level": "debug"}]

    await report.check("metadata push", "config", push)

    async def callback() -> tuple[str, bool]:
        answer = await requester.route("whoami").retrieve(dict[str, str])
        return str(answer), answer["client_says"] == "demo-client has 3 pending jobs"

    await report.check("server -> client", "whoami -> client.status", callback)

    async def as_admin() -> tuple[str, bool]:
        created = await (
            requester.route("users.create")
            .data(NewUser("Grace", "grace@example.com"))
            .auth(BearerAuth(DEMO_TOKEN))
        ).retrieve(User)
        return repr(created), created == User(100, "Grace", "grace@example.com")

    await report.check("per-request auth", "users.create, bearer token", as_admin)
    await report.refused(
        "rights",
        "users.create as demo (a user)",
        ErrorCode.REJECTED,
        lambda: requester.route("users.create").data(NewUser("Eve", "eve@example.com")).retrieve(User),
    )
    await report.refused(
        "validation",
        'users.create {"email": 5}',
        ErrorCode.INVALID,
        lambda: (
            requester.route("users.create")
            .data({"name": "Eve", "email": 5})
            .auth(BearerAuth(DEMO_TOKEN))
            .retrieve(User)
        ),
    )
    await report.refused(
        "unknown route",
        "no.such.route",
        ErrorCode.APPLICATION_ERROR,
        lambda: requester.route("no.such.route").retrieve(),
    )


def add_demo_command(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a server and a client through every interaction model and print a report",
        description="Start a routed app on a free loopback port, call it with every interaction model, "
        "and print what each call returned. Exits 1 if any check fails.",
    )
    parser.add_argument(
        "--uri",
        default="tcp://127.0.0.1:0",
        help="where the demo server listens (default tcp://127.0.0.1:0, a free port)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return 0 if asyncio.run(asyncio.wait_for(run_demo(args.uri), 60)) else 1
