"""The routed app the Spring-style peer clients call (a @MessageMapping service, written with our Router).

Credentials: simple ``alice``/``secret`` (role user) and bearer ``token-123`` (``robot``, roles user
and admin).  Every route needs an authenticated caller except ``users.{id}`` and ``echo``, which
the routing-MIME scenario (no credentials possible) calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiorsocket.app import (
    BearerAuthenticator,
    Principal,
    Requester,
    Router,
    SimpleAuthenticator,
    any_of,
    anyone,
    authenticated,
    has_role,
)


@dataclass
class User:
    id: int
    name: str


@dataclass
class NewUser:
    name: str
    email: str


@dataclass
class Count:
    count: int


@dataclass
class AppState:
    clients: list[str] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def build_app(state: AppState) -> Router:
    app = Router(
        auth=any_of(
            SimpleAuthenticator({"alice": ("secret", ["user"])}),
            BearerAuthenticator({"token-123": Principal("robot", frozenset({"user", "admin"}))}),
        ),
        requires=authenticated(),
    )

    @app.connect("connect.{client}")
    async def on_connect(client: str) -> None:
        state.clients.append(client)

    @app.response("users.{id}", requires=anyone())
    async def get_user(id: int) -> User:
        return User(id, f"user-{id}")

    @app.response("echo", requires=anyone())
    async def echo(body: dict[str, Any], principal: Principal | None) -> dict[str, Any]:
        return {"body": body, "principal": principal.name if principal else None}

    @app.response("admin.stats", requires=has_role("admin"))
    async def stats(principal: Principal) -> dict[str, Any]:
        return {"clients": sorted(state.clients), "caller": principal.name}

    @app.response("users.create")
    async def create(user: NewUser) -> User:
        return User(100, user.name)

    @app.stream("numbers")
    async def numbers(request: Count) -> AsyncIterator[dict[str, int]]:
        for n in range(request.count):
            yield {"n": n}

    @app.channel("sum")
    async def running_sum(values: AsyncIterator[int]) -> AsyncIterator[int]:
        total = 0
        async for value in values:
            total += value
            yield total

    @app.fire_and_forget("audit")
    async def audit(event: dict[str, Any], principal: Principal) -> None:
        state.audit.append({**event, "by": principal.name})

    @app.response("audit.count")
    async def audit_count() -> int:
        return len(state.audit)

    @app.response("callback")
    async def callback(requester: Requester) -> dict[str, str]:
        return {"client": await requester.route("client.name").retrieve(str)}

    @app.response("convert", requires=anyone())
    async def convert(body: dict[str, Any]) -> dict[str, Any]:
        return {"seen": body}

    return app
