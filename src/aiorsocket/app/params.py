"""Handler signatures: what each parameter receives, worked out once when the handler is decorated.

A parameter receives, by the first rule that fits:

1. ``Annotated[T, Metadata("mime")]``: that composite metadata entry, decoded
   by the codec for its MIME into ``T`` (``bytes`` takes it raw).
2. ``Annotated[T, SetupData]``: the connection's SETUP data as ``T``.
3. By type: :class:`~aiorsocket.app.Requester` (calls the peer back),
   :class:`~aiorsocket.app.RequestContext`, :class:`~aiorsocket.app.ConnectionContext`,
   :class:`~aiorsocket.ConnectionSetup`, :class:`~aiorsocket.app.Principal`
   (a non-optional one makes the route require authentication),
   :class:`~aiorsocket.extensions.CompositeMetadata`,
   :class:`~aiorsocket.extensions.TracingMetadata`, :class:`~aiorsocket.Payload`
   (the raw request).
4. By name: a route template variable, converted to the annotation
   (``id: int`` from ``"users.{id}"``).
5. In a channel handler, ``AsyncIterator[T]`` (or ``AsyncIterable[T]``): the
   inbound payloads decoded to ``T``, the first one included.
6. Otherwise the body: the request data decoded by the stream's MIME and
   converted to the annotation (``bytes``: raw).  For a metadata push, the raw
   metadata; for a ``connect`` hook, the SETUP data.

Only one parameter may be the body; a second one without a default is an
error at decoration time, not at the first request.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections import abc
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import InvalidError
from ..extensions import CompositeMetadata, TracingMetadata
from ..handler import ConnectionSetup
from ..payload import Payload
from ._optional import MissingExtraError
from .auth import Principal, Requirement
from .codecs import CodecError, Codecs
from .context import ConnectionContext, Interaction, RequestContext
from .convert import ConversionError, Converter, converter_for, string_converter_for
from .requester import Requester
from .templates import RouteTemplate

Resolver = Callable[[RequestContext], Any]

_ASYNC_ITERATORS: Final = (abc.AsyncIterator, abc.AsyncIterable, abc.AsyncGenerator)


@dataclass(frozen=True, slots=True)
class Metadata:
    """Marks a parameter as one composite metadata entry.

    ``Annotated[Trace, Metadata("application/x.trace+json")]`` decodes the
    first entry of that MIME into ``Trace``.
    """

    mime: str


class SetupData:
    """Marks a parameter as the SETUP data.

    ``Annotated[ClientInfo, SetupData]`` is decoded once per connection.
    """


@dataclass(eq=False, slots=True)
class Endpoint:
    """One handler, ready to call: its route, its rule and how to fill each parameter."""

    func: Callable[..., Any]
    interaction: Interaction
    template: RouteTemplate | None
    requires: Requirement | None
    needs_principal: bool
    positional: tuple[Resolver, ...]
    keyword: tuple[tuple[str, Resolver], ...]
    localns: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return getattr(self.func, "__qualname__", repr(self.func))

    @property
    def pattern(self) -> str | None:
        return self.template.pattern if self.template is not None else None

    async def call(self, ctx: RequestContext) -> Any:
        args = [resolve(ctx) for resolve in self.positional]
        kwargs = {name: resolve(ctx) for name, resolve in self.keyword}
        result = self.func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


def decode_value(codecs: Codecs, mime: str, data: bytes, convert: Converter, path: str) -> Any:
    """Bytes from the peer to a typed value; anything wrong is ERROR[INVALID] with the reason."""
    try:
        value = codecs.get(mime).decode(data)
    except (CodecError, MissingExtraError) as exc:
        raise InvalidError(f"{path}: {exc}") from None
    try:
        return convert(value, path)
    except ConversionError as exc:
        raise InvalidError(f"invalid {exc}") from None


def compile_endpoint(
    func: Callable[..., Any],
    interaction: Interaction,
    template: RouteTemplate | None,
    requires: Requirement | None,
    localns: Mapping[str, Any] | None,
) -> Endpoint:
    """Work out every parameter of ``func`` now; a signature we cannot serve raises TypeError."""
    name = getattr(func, "__qualname__", repr(func))
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"handler {name}: cannot read its signature: {exc}") from None
    try:
        hints = typing.get_type_hints(func, localns=dict(localns) if localns else None, include_extras=True)
    except Exception as exc:
        raise TypeError(f"handler {name}: cannot resolve its annotations: {exc}") from None
    variables = set(template.variables) if template is not None else set()
    builder = _Builder(name, interaction, variables, localns)
    positional: list[Resolver] = []
    keyword: list[tuple[str, Resolver]] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"handler {name}: *{param.name} / **{param.name} parameters cannot be filled")
        resolver = builder.resolver(param, hints.get(param.name, Any))
        if resolver is None:
            continue
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(resolver)
        else:
            keyword.append((param.name, resolver))
    return Endpoint(
        func,
        interaction,
        template,
        requires,
        builder.needs_principal,
        tuple(positional),
        tuple(keyword),
        localns,
    )


def _split(annotation: Any) -> tuple[Any, tuple[Any, ...], bool]:
    """(type without Annotated/Optional, Annotated markers, whether None is allowed)."""
    markers: tuple[Any, ...] = ()
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *rest = typing.get_args(annotation)
        markers = tuple(rest)
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            annotation = members[0]
    return annotation, markers, optional


def _is_class(tp: Any, cls: type[Any]) -> bool:
    return isinstance(tp, type) and typing.get_origin(tp) is None and issubclass(tp, cls)


class _Builder:
    def __init__(
        self,
        name: str,
        interaction: Interaction,
        variables: set[str],
        localns: Mapping[str, Any] | None,
    ) -> None:
        self.name = name
        self.interaction = interaction
        self.variables = variables
        self.localns = localns
        self.body_param: str | None = None
        self.inbound_param: str | None = None
        self.needs_principal = False

    def resolver(self, param: inspect.Parameter, annotation: Any) -> Resolver | None:
        tp, markers, optional = _split(annotation)
        has_default = param.default is not param.empty
        for marker in markers:
            if isinstance(marker, Metadata):
                return self._metadata(marker.mime, tp, optional, param.default if has_default else _REQUIRED)
            if marker is SetupData or isinstance(marker, SetupData):
                return self._setup_data(annotation)
        injected = self._injected(tp, optional)
        if injected is not None:
            return injected
        if param.name in self.variables:
            return self._variable(param.name, annotation)
        if typing.get_origin(tp) in _ASYNC_ITERATORS:
            return self._inbound(param.name, tp)
        if self.body_param is None:
            self.body_param = param.name
            return self._body(annotation, tp)
        if has_default:
            return None
        raise TypeError(
            f"handler {self.name}: parameter {param.name!r} has nothing to receive: the body already "
            f"goes to {self.body_param!r}; annotate it with a type the router injects, name it after a "
            "route variable, or give it a default"
        )

    def _injected(self, tp: Any, optional: bool) -> Resolver | None:
        if _is_class(tp, Requester):
            return _requester
        if _is_class(tp, RequestContext):
            return _context
        if _is_class(tp, ConnectionContext):
            return _connection
        if _is_class(tp, ConnectionSetup):
            return _setup
        if _is_class(tp, Principal):
            self.needs_principal = self.needs_principal or not optional
            return _principal
        if _is_class(tp, CompositeMetadata):
            return _metadata_all
        if _is_class(tp, TracingMetadata):
            return _tracing
        if _is_class(tp, Payload):
            if self.interaction is Interaction.METADATA_PUSH:
                raise TypeError(f"handler {self.name}: a metadata push has no Payload; take its bytes")
            return _payload
        return None

    def _variable(self, name: str, annotation: Any) -> Resolver:
        convert = string_converter_for(annotation)

        def resolve(ctx: RequestContext) -> Any:
            try:
                return convert(ctx.variables[name], f"route variable {name}")
            except ConversionError as exc:
                raise InvalidError(f"invalid {exc}") from None

        return resolve

    def _inbound(self, name: str, tp: Any) -> Resolver:
        if self.interaction is not Interaction.REQUEST_CHANNEL:
            raise TypeError(
                f"handler {self.name}: only a channel handler receives an inbound stream ({name!r})"
            )
        if self.inbound_param is not None:
            raise TypeError(f"handler {self.name}: two inbound streams ({self.inbound_param!r}, {name!r})")
        self.inbound_param = name
        args = typing.get_args(tp)
        item_type = args[0] if args else Any
        if _is_class(item_type, Payload):
            return _raw_inbound
        convert = converter_for(item_type, localns=self.localns)

        def resolve(ctx: RequestContext) -> AsyncIterator[Any]:
            return _typed_inbound(ctx, convert)

        return resolve

    def _body(self, annotation: Any, tp: Any) -> Resolver:
        if self.interaction is Interaction.METADATA_PUSH:
            if tp not in (Any, bytes, inspect.Parameter.empty):
                raise TypeError(
                    f"handler {self.name}: a metadata push body is the raw metadata (bytes); "
                    "take CompositeMetadata or Annotated[T, Metadata(mime)] for decoded entries"
                )
            return _metadata_bytes
        if self.interaction is Interaction.SETUP:
            return self._setup_data(annotation)
        if tp is bytes:
            return _data_bytes
        convert = converter_for(annotation, localns=self.localns)

        def resolve(ctx: RequestContext) -> Any:
            return decode_value(ctx.connection.codecs, ctx.data_mime, ctx.payload.data, convert, "body")

        return resolve

    def _metadata(self, mime: str, tp: Any, optional: bool, default: Any) -> Resolver:
        convert = None if tp is bytes else converter_for(tp, localns=self.localns)

        def resolve(ctx: RequestContext) -> Any:
            entries = ctx.metadata.find(mime) if ctx.metadata is not None else ()
            if not entries:
                if default is not _REQUIRED:
                    return default
                if optional:
                    return None
                raise InvalidError(f"the request has no {mime!r} metadata entry")
            content = entries[0].content
            if convert is None:
                return content
            return decode_value(ctx.connection.codecs, mime, content, convert, f"metadata {mime}")

        return resolve

    def _setup_data(self, annotation: Any) -> Resolver:
        convert = converter_for(annotation, localns=self.localns)
        key = object()

        def resolve(ctx: RequestContext) -> Any:
            connection = ctx.connection
            cache = connection.setup_values
            if key not in cache:
                data = connection.setup.setup.data if connection.setup is not None else b""
                cache[key] = decode_value(
                    connection.codecs, connection.data_mime, data, convert, "setup data"
                )
            return cache[key]

        return resolve


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Final = _Required()


def _requester(ctx: RequestContext) -> Requester:
    return ctx.connection.requester


def _context(ctx: RequestContext) -> RequestContext:
    return ctx


def _connection(ctx: RequestContext) -> ConnectionContext:
    return ctx.connection


def _setup(ctx: RequestContext) -> ConnectionSetup | None:
    return ctx.connection.setup


def _principal(ctx: RequestContext) -> Principal | None:
    return ctx.principal


def _metadata_all(ctx: RequestContext) -> CompositeMetadata | None:
    return ctx.metadata


def _tracing(ctx: RequestContext) -> TracingMetadata | None:
    return ctx.tracing


def _payload(ctx: RequestContext) -> Payload:
    return ctx.payload


def _data_bytes(ctx: RequestContext) -> bytes:
    return ctx.payload.data


def _metadata_bytes(ctx: RequestContext) -> bytes:
    return ctx.payload.metadata or b""


def _raw_inbound(ctx: RequestContext) -> AsyncIterator[Payload] | None:
    return ctx.inbound


async def _typed_inbound(ctx: RequestContext, convert: Converter) -> AsyncIterator[Any]:
    inbound = ctx.inbound
    if inbound is None:
        return
    codecs = ctx.connection.codecs
    index = 0
    try:
        async for payload in inbound:
            yield decode_value(codecs, ctx.data_mime, payload.data, convert, f"item[{index}]")
            index += 1
    finally:
        aclose = getattr(inbound, "aclose", None)
        if aclose is not None:
            await aclose()
