"""The Router: Spring ``@MessageMapping``-style routes on top of the plain handler interface.

>>> app = Router(auth=SimpleAuthenticator({"ada": ("secret", ["admin"])}))
>>> @app.response("users.{id}")
... async def get_user(id: int) -> User: ...
>>> server = await aiorsocket.serve(app, "tcp://127.0.0.1:7878")

A Router is the acceptor for :func:`aiorsocket.serve`: for each SETUP it
checks the data MIME, authenticates the SETUP's credentials, runs the
``@connect`` hooks and returns a responder for that connection.  Requests are
routed by the first routing tag of their metadata, which is composite
metadata (exactly what Spring's ``RSocketRequester``, rsocket-js and
rsocket-py send) or, with ``message/x.rsocket.routing.v0`` as the SETUP's
metadata MIME, bare routing tags.  A decorator without a route serves
requests that carry none.

Answers the router gives on its own (all before the handler runs):

* unknown route: ERROR[APPLICATION_ERROR] naming the route and the interaction;
* malformed metadata, data that does not decode or validate, a route
  variable of the wrong type, no acceptable response MIME: ERROR[INVALID];
* bad per-request credentials, or a principal without the route's rights:
  ERROR[REJECTED];
* bad SETUP credentials: ERROR[REJECTED_SETUP]; an unsupported data MIME:
  ERROR[UNSUPPORTED_SETUP]; malformed SETUP metadata: ERROR[INVALID_SETUP].
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ..errors import (
    ApplicationError,
    ErrorFrameReceived,
    InvalidError,
    InvalidSetupError,
    MetadataError,
    RejectedError,
    RejectedSetupError,
    RSocketError,
    UnsupportedSetupError,
)
from ..extensions import (
    COMPOSITE_METADATA_MIME,
    ROUTING_MIME,
    CompositeMetadata,
    build_composite_metadata,
    decode_routing,
    parse_composite_metadata,
)
from ..handler import ConnectionSetup, RequestHandler
from ..payload import Payload
from ..session import RSocket
from ._optional import MissingExtraError
from .auth import (
    AuthenticationError,
    Authenticator,
    Principal,
    Requirement,
    RequirementLike,
    as_requirement,
    authenticate,
)
from .codecs import CodecError, Codecs, normalize_mime
from .context import ConnectionContext, Interaction, RequestContext
from .interceptors import Interceptor
from .params import Endpoint, compile_endpoint
from .requester import Requester
from .templates import RouteTemplate

logger = logging.getLogger("aiorsocket.app")

F = TypeVar("F", bound=Callable[..., Any])

_COMPOSITE = normalize_mime(COMPOSITE_METADATA_MIME)
_ROUTING = normalize_mime(ROUTING_MIME)


class _RouteTable:
    """The routes of one interaction model: literal routes by dict, templates by specificity."""

    def __init__(self) -> None:
        self.exact: dict[str, Endpoint] = {}
        self.templated: list[tuple[RouteTemplate, Endpoint]] = []
        self.routeless: Endpoint | None = None

    def add(self, endpoint: Endpoint) -> None:
        template = endpoint.template
        existing = self._registered(template)
        if existing is not None:
            where = f"route {template.pattern!r}" if template is not None else "requests without a route"
            raise ValueError(
                f"{where} already has a {endpoint.interaction.label} handler ({existing.name}); "
                f"cannot add {endpoint.name}"
            )
        if template is None:
            self.routeless = endpoint
        elif template.is_literal:
            self.exact[template.pattern] = endpoint
        else:
            self.templated.append((template, endpoint))
            self.templated.sort(key=lambda pair: pair[0].specificity)

    def _registered(self, template: RouteTemplate | None) -> Endpoint | None:
        if template is None:
            return self.routeless
        if template.is_literal:
            return self.exact.get(template.pattern)
        return next((e for t, e in self.templated if t.pattern == template.pattern), None)

    def find(self, route: str | None) -> tuple[Endpoint, dict[str, str]] | None:
        if route is None:
            return (self.routeless, {}) if self.routeless is not None else None
        endpoint = self.exact.get(route)
        if endpoint is not None:
            return endpoint, {}
        for template, endpoint in self.templated:
            variables = template.match(route)
            if variables is not None:
                return endpoint, variables
        return None

    def __iter__(self) -> Iterator[Endpoint]:
        if self.routeless is not None:
            yield self.routeless
        yield from self.exact.values()
        for _, endpoint in self.templated:
            yield endpoint


def parse_metadata(metadata_mime: str, raw: bytes | None) -> CompositeMetadata | None:
    """Request or SETUP metadata decoded by the connection's metadata MIME (D-8); None for other MIMEs."""
    if raw is None:
        return None
    kind = normalize_mime(metadata_mime)
    if kind == _COMPOSITE:
        return parse_composite_metadata(raw)
    if kind == _ROUTING:
        return CompositeMetadata(tags=tuple(decode_routing(raw)))
    return None


class Router:
    """Routes, codecs, authentication and interceptors for a message-mapped RSocket app.

    ``auth`` authenticates credentials from the SETUP and from single requests;
    with ``setup_auth_required`` a SETUP without valid credentials is refused.
    ``requires`` is the rule for routes that do not name their own (a string
    means that role).  ``codecs`` picks data codecs by MIME.
    """

    def __init__(
        self,
        *,
        codecs: Codecs | None = None,
        auth: Authenticator | None = None,
        setup_auth_required: bool = False,
        requires: RequirementLike | None = None,
        interceptors: Iterable[Interceptor] = (),
    ) -> None:
        if setup_auth_required and auth is None:
            raise ValueError("setup_auth_required=True needs an authenticator (auth=...)")
        self.codecs = codecs if codecs is not None else Codecs()
        self.authenticator = auth
        self.setup_auth_required = setup_auth_required
        self.default_requires: Requirement | None = as_requirement(requires) if requires is not None else None
        self.interceptors: list[Interceptor] = list(interceptors)
        self._tables: dict[Interaction, _RouteTable] = {
            interaction: _RouteTable() for interaction in Interaction if interaction is not Interaction.SETUP
        }
        self._connect_hooks: list[Endpoint] = []
        self._watchers: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------------------- declaring routes

    def response(
        self, route: str | None = None, *, requires: RequirementLike | None = None
    ) -> Callable[[F], F]:
        """Request/response: the handler returns the response (None: an empty completion)."""
        return self._decorator(Interaction.REQUEST_RESPONSE, route, requires)

    def stream(
        self, route: str | None = None, *, requires: RequirementLike | None = None
    ) -> Callable[[F], F]:
        """Request/stream: an async generator (or a function returning an (async) iterable) of items."""
        return self._decorator(Interaction.REQUEST_STREAM, route, requires)

    def channel(
        self, route: str | None = None, *, requires: RequirementLike | None = None
    ) -> Callable[[F], F]:
        """Request/channel: takes an ``AsyncIterator[T]`` of inbound items, yields outbound ones."""
        return self._decorator(Interaction.REQUEST_CHANNEL, route, requires)

    def fire_and_forget(
        self, route: str | None = None, *, requires: RequirementLike | None = None
    ) -> Callable[[F], F]:
        """Fire-and-forget: nothing is sent back, failures are logged."""
        return self._decorator(Interaction.FIRE_AND_FORGET, route, requires)

    def metadata_push(
        self, route: str | None = None, *, requires: RequirementLike | None = None
    ) -> Callable[[F], F]:
        """Metadata push, routed by the routing entry of the pushed (composite) metadata, if any."""
        return self._decorator(Interaction.METADATA_PUSH, route, requires)

    def connect(self, route: str | None = None) -> Callable[[F], F]:
        """A SETUP hook (Spring's ``@ConnectMapping``): runs for every new connection whose SETUP route
        matches (every connection without ``route``).  Raising refuses the connection: a setup error keeps
        its code, anything else is REJECTED_SETUP with its message."""

        def decorator(func: F) -> F:
            template = RouteTemplate(route) if route is not None else None
            self._connect_hooks.append(
                compile_endpoint(func, Interaction.SETUP, template, None, _caller_namespace())
            )
            return func

        return decorator

    def _decorator(
        self, interaction: Interaction, route: str | None, requires: RequirementLike | None
    ) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            self.add_route(interaction, route, func, requires=requires, localns=_caller_namespace())
            return func

        return decorator

    def add_route(
        self,
        interaction: Interaction,
        route: str | None,
        func: Callable[..., Any],
        *,
        requires: RequirementLike | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """Register ``func`` without a decorator; ``localns`` resolves annotations naming local classes."""
        if interaction is Interaction.SETUP:
            raise ValueError("use Router.connect for SETUP hooks")
        template = RouteTemplate(route) if route is not None else None
        rule = as_requirement(requires) if requires is not None else None
        endpoint = compile_endpoint(func, interaction, template, rule, localns)
        self._tables[interaction].add(endpoint)
        return endpoint

    def include(self, other: Router, *, prefix: str = "") -> None:
        """Add ``other``'s routes and hooks, with ``prefix`` put before each route (``"admin."``)."""
        for interaction, table in other._tables.items():
            for endpoint in table:
                pattern = endpoint.pattern
                self.add_route(
                    interaction,
                    prefix + pattern if pattern is not None else (prefix or None),
                    endpoint.func,
                    requires=endpoint.requires,
                    localns=endpoint.localns,
                )
        self._connect_hooks.extend(other._connect_hooks)

    def add_interceptor(self, interceptor: Interceptor) -> None:
        self.interceptors.append(interceptor)

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every route handler, by interaction model."""
        return [endpoint for table in self._tables.values() for endpoint in table]

    # ---------------------------------------------------------------------------- connections

    async def __call__(self, setup: ConnectionSetup, rsocket: RSocket) -> RequestHandler:
        """The acceptor :func:`aiorsocket.serve` calls with each SETUP."""
        data_mime = setup.data_mime
        try:
            self.codecs.get(data_mime)
        except (CodecError, MissingExtraError) as exc:
            raise UnsupportedSetupError(f"data MIME {data_mime!r} is not supported: {exc}") from None
        try:
            setup_metadata = parse_metadata(setup.metadata_mime, setup.setup.metadata)
        except MetadataError as exc:
            raise InvalidSetupError(f"malformed SETUP metadata: {exc}") from None
        principal: Principal | None = None
        credentials = setup_metadata.auth if setup_metadata is not None else None
        if credentials is not None and self.authenticator is not None:
            try:
                principal = await authenticate(self.authenticator, credentials)
            except AuthenticationError as exc:
                raise RejectedSetupError(str(exc)) from None
        elif self.setup_auth_required:
            raise RejectedSetupError(
                "authentication required: send simple or bearer credentials in the SETUP's composite metadata"
            )
        requester = Requester(
            rsocket, data_mime=data_mime, metadata_mime=setup.metadata_mime, codecs=self.codecs
        )
        connection = ConnectionContext(
            rsocket,
            requester,
            self.codecs,
            data_mime,
            setup.metadata_mime,
            setup=setup,
            setup_metadata=setup_metadata,
            principal=principal,
        )
        await self._run_connect_hooks(connection)
        for interceptor in self.interceptors:
            await interceptor.connection_opened(connection)
        if self.interceptors:
            watcher = asyncio.ensure_future(self._watch(connection))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        return RoutedResponder(self, connection)

    async def _run_connect_hooks(self, connection: ConnectionContext) -> None:
        if not self._connect_hooks:
            return
        setup = connection.setup
        ctx = RequestContext(
            connection,
            Interaction.SETUP,
            setup.payload if setup is not None else Payload(),
            connection.setup_metadata,
            connection.setup_route,
            connection.data_mime,
            connection.data_mime,
            connection.principal,
        )
        for hook in self._connect_hooks:
            if hook.template is not None:
                variables = hook.template.match(ctx.route) if ctx.route is not None else None
                if variables is None:
                    continue
                ctx.variables = variables
            await hook.call(ctx)

    async def _watch(self, connection: ConnectionContext) -> None:
        await connection.rsocket.wait_closed()
        for interceptor in reversed(self.interceptors):
            try:
                await interceptor.connection_closed(connection)
            except Exception:
                logger.exception("interceptor %r failed on connection close", interceptor)

    def client_responder(self) -> tuple[RequestHandler, Callable[[Requester], None]]:
        """A responder for the client side of a connection, and the function that binds it once connected."""
        responder = RoutedResponder(self, None)

        def bind(requester: Requester) -> None:
            responder.connection = ConnectionContext(
                requester.rsocket, requester, self.codecs, requester.data_mime, requester.metadata_mime
            )

        return responder, bind

    # ---------------------------------------------------------------------------- requests

    def _find(self, ctx: RequestContext) -> Endpoint:
        found = self._tables[ctx.interaction].find(ctx.route)
        if found is not None:
            endpoint, ctx.variables = found
            ctx.template = endpoint.pattern
            return endpoint
        raise ApplicationError(self._unknown_route_message(ctx))

    def _unknown_route_message(self, ctx: RequestContext) -> str:
        label = ctx.interaction.label
        route = ctx.route
        if route is None:
            kind = normalize_mime(ctx.connection.metadata_mime)
            if kind in (_COMPOSITE, _ROUTING):
                return f"no route in the {label} request: its metadata has no routing entry"
            return (
                f"no route in the {label} request: the connection's metadata MIME is "
                f"{ctx.connection.metadata_mime!r}; send a routing entry with {COMPOSITE_METADATA_MIME} "
                f"(or {ROUTING_MIME}) as the SETUP's metadata MIME"
            )
        elsewhere = [
            interaction.label
            for interaction, table in self._tables.items()
            if interaction is not ctx.interaction and table.find(route) is not None
        ]
        if elsewhere:
            return f"route '{route}' has no {label} handler; it serves {' and '.join(elsewhere)}"
        return f"no handler for route '{route}' ({label})"

    async def _authorize(self, ctx: RequestContext, endpoint: Endpoint) -> None:
        credentials = ctx.metadata.auth if ctx.metadata is not None else None
        if credentials is not None and self.authenticator is not None:
            try:
                ctx.principal = await authenticate(self.authenticator, credentials)
            except AuthenticationError as exc:
                raise RejectedError(f"authentication failed: {exc}") from None
        rule = endpoint.requires if endpoint.requires is not None else self.default_requires
        reason = rule(ctx.principal) if rule is not None else None
        if reason is None and endpoint.needs_principal and ctx.principal is None:
            reason = "authentication required"
        if reason is not None:
            raise RejectedError(f"access to route '{ctx.route}' denied: {reason}")


def _caller_namespace() -> dict[str, Any] | None:
    # The frame applying the decorator: lets annotations name classes local to a function, which
    # `from __future__ import annotations` turns into strings get_type_hints cannot find otherwise.
    frame = sys._getframe(2)
    return None if frame.f_locals is frame.f_globals else dict(frame.f_locals)


class RoutedResponder(RequestHandler):
    """Serves one connection for a :class:`Router`."""

    def __init__(self, router: Router, connection: ConnectionContext | None) -> None:
        self.router = router
        self.connection = connection

    def _context(
        self, interaction: Interaction, payload: Payload
    ) -> tuple[RequestContext, RSocketError | None]:
        connection = self.connection
        if connection is None:
            raise ApplicationError("the connection is not ready for requests yet")
        fault: RSocketError | None = None
        try:
            metadata = parse_metadata(connection.metadata_mime, payload.metadata)
        except MetadataError as exc:
            metadata = None
            fault = InvalidError(f"malformed metadata: {exc}")
        data_mime = connection.data_mime
        if metadata is not None and isinstance(metadata.data_mime, str):
            data_mime = metadata.data_mime
        ctx = RequestContext(
            connection,
            interaction,
            payload,
            metadata,
            metadata.route if metadata is not None else None,
            data_mime,
            data_mime,
            connection.principal,
        )
        return ctx, fault

    async def _open(self, interaction: Interaction, payload: Payload) -> tuple[RequestContext, Endpoint]:
        """Start a request: interceptors, route, rights and response MIME, or the error that ends it."""
        ctx, fault = self._context(interaction, payload)
        router = self.router
        try:
            for interceptor in router.interceptors:
                await interceptor.request_started(ctx)
                ctx.interceptors_started += 1
            if fault is not None:
                raise fault
            endpoint = router._find(ctx)
            await router._authorize(ctx, endpoint)
            if ctx.metadata is not None and ctx.metadata.accept:
                accept = [mime for mime in ctx.metadata.accept if isinstance(mime, str)]
                chosen = ctx.connection.codecs.negotiate(ctx.data_mime, accept)
                if chosen is None:
                    raise InvalidError(
                        f"cannot answer in any of {', '.join(accept)}; "
                        f"this server produces {', '.join(ctx.connection.codecs.mimes)}"
                    )
                ctx.response_mime = chosen
        except BaseException as exc:
            await self._finish(ctx, exc)
            raise
        return ctx, endpoint

    async def _finish(self, ctx: RequestContext, error: BaseException | None) -> None:
        ctx.error = error
        ctx.finished = time.perf_counter()
        if isinstance(error, Exception) and not isinstance(error, ErrorFrameReceived):
            logger.error("%s handler for route %r failed", ctx.interaction.label, ctx.route, exc_info=error)
        for interceptor in reversed(self.router.interceptors[: ctx.interceptors_started]):
            try:
                await interceptor.request_finished(ctx)
            except Exception:
                logger.exception("interceptor %r failed after a request", interceptor)

    def _response_metadata(self, ctx: RequestContext) -> bytes | None:
        # Checklist §5.5: a response in another MIME than the request's must say which.
        if normalize_mime(ctx.response_mime) == normalize_mime(ctx.data_mime):
            return None
        if normalize_mime(ctx.connection.metadata_mime) != _COMPOSITE:
            return None
        return build_composite_metadata(data_mime=ctx.response_mime)

    def _encoder(self, ctx: RequestContext) -> Callable[[Any], Payload]:
        metadata = self._response_metadata(ctx)
        mime = ctx.response_mime
        codecs = ctx.connection.codecs

        def encode(value: Any) -> Payload:
            if isinstance(value, Payload):
                return value
            if isinstance(value, bytes | bytearray | memoryview):
                return Payload(bytes(value), metadata)
            try:
                return Payload(codecs.get(mime).encode(value), metadata)
            except (CodecError, MissingExtraError) as exc:
                raise ApplicationError(f"cannot encode the response: {exc}") from None

        return encode

    async def request_response(self, payload: Payload) -> Payload | None:
        ctx, endpoint = await self._open(Interaction.REQUEST_RESPONSE, payload)
        try:
            result = await endpoint.call(ctx)
            response = None if result is None else self._encoder(ctx)(result)
        except BaseException as exc:
            await self._finish(ctx, exc)
            raise
        ctx.items_sent = 0 if response is None else 1
        await self._finish(ctx, None)
        return response

    async def fire_and_forget(self, payload: Payload) -> None:
        await self._without_answer(Interaction.FIRE_AND_FORGET, payload)

    async def metadata_push(self, metadata: bytes) -> None:
        await self._without_answer(Interaction.METADATA_PUSH, Payload(b"", metadata))

    async def _without_answer(self, interaction: Interaction, payload: Payload) -> None:
        """Fire-and-forget and metadata push: there is nobody to tell (FF-2, MP-2), so failures are only
        logged: refusals in one line, handler crashes with their traceback (by _finish)."""
        try:
            ctx, endpoint = await self._open(interaction, payload)
        except ErrorFrameReceived as exc:
            logger.warning("%s ignored: %s", interaction.label, exc.message)
            return
        try:
            await endpoint.call(ctx)
        except Exception as exc:
            if isinstance(exc, ErrorFrameReceived):
                logger.warning("%s to route %r failed: %s", interaction.label, ctx.route, exc.message)
            await self._finish(ctx, exc)
            return
        except BaseException as exc:
            await self._finish(ctx, exc)
            raise
        await self._finish(ctx, None)

    async def request_stream(self, payload: Payload) -> AsyncIterable[Payload]:
        ctx, endpoint = await self._open(Interaction.REQUEST_STREAM, payload)
        return await self._start_stream(ctx, endpoint)

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterable[Payload]:
        ctx, endpoint = await self._open(Interaction.REQUEST_CHANNEL, payload)
        ctx.inbound = inbound
        return await self._start_stream(ctx, endpoint)

    async def _start_stream(self, ctx: RequestContext, endpoint: Endpoint) -> AsyncIterable[Payload]:
        try:
            source = await endpoint.call(ctx)
            items = _as_async_iterable(source, endpoint)
        except BaseException as exc:
            await self._finish(ctx, exc)
            raise
        return self._send_items(ctx, items)

    async def _send_items(self, ctx: RequestContext, items: AsyncIterable[Any]) -> AsyncIterator[Payload]:
        encode = self._encoder(ctx)
        iterator = aiter(items)
        error: BaseException | None = None
        try:
            async for item in iterator:
                yield encode(item)
                ctx.items_sent += 1
        except BaseException as exc:
            error = exc
            raise
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            await self._finish(ctx, error)


def _as_async_iterable(source: Any, endpoint: Endpoint) -> AsyncIterable[Any]:
    if isinstance(source, AsyncIterable):
        return source
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | bytearray | Mapping):
        return _from_iterable(source)
    raise TypeError(
        f"{endpoint.interaction.label} handler {endpoint.name} returned {type(source).__name__}; "
        "yield items (async generator) or return an (async) iterable"
    )


async def _from_iterable(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
