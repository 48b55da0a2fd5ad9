"""Handler signatures are worked out once, at decoration time: a signature the router cannot fill
fails where the handler is declared, not at its first request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest

from aiorsocket import ConnectionSetup, Payload
from aiorsocket.app import (
    ConnectionContext,
    Interaction,
    Metadata,
    Principal,
    RequestContext,
    Requester,
    Router,
    SetupData,
)
from aiorsocket.extensions import CompositeMetadata, TracingMetadata


def test_two_body_parameters_are_refused_at_decoration() -> None:
    app = Router()
    with pytest.raises(TypeError, match="parameter 'b' has nothing to receive: the body already goes to 'a'"):

        @app.response("x")
        async def handler(a: dict[str, Any], b: dict[str, Any]) -> None: ...


def test_a_parameter_with_a_default_may_stay_unfilled() -> None:
    app = Router()

    @app.response("x")
    async def handler(a: dict[str, Any], b: int = 3) -> None: ...

    assert [name for name, _ in app.endpoints[0].keyword] == ["a"]


def test_inbound_stream_only_in_channel_handlers() -> None:
    app = Router()
    with pytest.raises(TypeError, match="only a channel handler receives an inbound stream"):

        @app.stream("x")
        async def handler(items: AsyncIterator[int]) -> AsyncIterator[int]:
            yield 1

    with pytest.raises(TypeError, match="two inbound streams"):

        @app.channel("y")
        async def both(a: AsyncIterator[int], b: AsyncIterator[int]) -> AsyncIterator[int]:
            yield 1


def test_star_parameters_and_unresolvable_annotations_are_refused() -> None:
    app = Router()
    with pytest.raises(TypeError, match=r"\*args / \*\*args parameters cannot be filled"):

        @app.response("x")
        async def star(*args: Any) -> None: ...

    with pytest.raises(TypeError, match="cannot resolve its annotations"):

        @app.response("y")
        async def unknown(body: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821


def test_metadata_push_bodies_are_raw_bytes() -> None:
    app = Router()
    with pytest.raises(TypeError, match="a metadata push body is the raw metadata"):

        @app.metadata_push()
        async def push(config: dict[str, Any]) -> None: ...


def test_a_non_optional_principal_makes_the_route_require_authentication() -> None:
    app = Router()

    @app.response("needs")
    async def needs(principal: Principal) -> None: ...

    @app.response("maybe")
    async def maybe(principal: Principal | None) -> None: ...

    by_route = {endpoint.pattern: endpoint for endpoint in app.endpoints}
    assert by_route["needs"].needs_principal
    assert not by_route["maybe"].needs_principal


def test_injected_types_variables_markers_and_body_are_told_apart() -> None:
    app = Router()

    @app.channel("rooms.{room}")
    async def handler(
        room: int,
        requester: Requester,
        ctx: RequestContext,
        connection: ConnectionContext,
        setup: ConnectionSetup,
        metadata: CompositeMetadata,
        tracing: TracingMetadata | None,
        raw: Payload,
        trace: Annotated[dict[str, Any], Metadata("application/x.trace+json")],
        client: Annotated[dict[str, Any], SetupData],
        items: AsyncIterator[int],
        first: dict[str, Any],
    ) -> AsyncIterator[int]:
        yield 1

    endpoint = app.endpoints[0]
    assert endpoint.interaction is Interaction.REQUEST_CHANNEL
    assert len(endpoint.keyword) == 12


def test_duplicate_routes_are_refused_per_interaction_model() -> None:
    app = Router()

    @app.response("x")
    async def first() -> None: ...

    @app.stream("x")
    async def same_route_other_model() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(ValueError, match="route 'x' already has a request/response handler"):

        @app.response("x")
        async def second() -> None: ...


def test_include_prefixes_the_routes_of_another_router() -> None:
    admin = Router()

    @admin.response("stats")
    async def stats() -> None: ...

    @admin.response("users.{id}")
    async def user(id: int) -> None: ...

    app = Router()
    app.include(admin, prefix="admin.")
    assert sorted(e.pattern or "" for e in app.endpoints) == ["admin.stats", "admin.users.{id}"]


def test_setup_auth_required_needs_an_authenticator() -> None:
    with pytest.raises(ValueError, match="needs an authenticator"):
        Router(setup_auth_required=True)
