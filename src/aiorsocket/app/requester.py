"""The requester: route + data + metadata + MIME in one fluent call, results decoded to the type asked for.

>>> user = await requester.route("users.{id}", id=42).retrieve(User)
>>> async for tick in requester.route("ticks").data(TickRequest("ACME")).retrieve_stream(Tick):
...     ...
>>> await requester.route("audit").data({"event": "login"}).send()

The same object serves a client (:meth:`Requester.connect`) and a server
handler calling its client back (ask for a ``Requester`` parameter).  Data is
encoded by the codec of the connection's data MIME, or of the MIME given to
:meth:`RequestSpec.data`, which then travels as a per-stream mime-type entry.
Responses are decoded by the MIME the responder declares in its response
metadata, else by the request's.  Passing an async iterable as the data of
:meth:`RequestSpec.retrieve_stream` opens a request/channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Generator, Iterable
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, overload

from ..client import connect as connect_rsocket
from ..errors import LocalProtocolError, MetadataError
from ..extensions import (
    COMPOSITE_METADATA_MIME,
    ROUTING_MIME,
    Auth,
    CompactIds,
    TracingMetadata,
    build_composite_metadata,
    encode_routing,
    parse_composite_metadata,
)
from ..handler import RequestHandler
from ..payload import Payload
from ..session import DEFAULT_LIMIT_RATE, RequestStream, RSocket
from .codecs import JSON, Codecs, normalize_mime
from .convert import converter_for
from .templates import RouteTemplate
from .tracing import current_span

T = TypeVar("T")

_COMPOSITE = normalize_mime(COMPOSITE_METADATA_MIME)
_ROUTING = normalize_mime(ROUTING_MIME)


class Requester:
    """Makes requests over one RSocket connection."""

    def __init__(
        self,
        rsocket: RSocket,
        *,
        data_mime: str,
        metadata_mime: str,
        codecs: Codecs | None = None,
        compact: CompactIds = CompactIds.JAVA_KNOWN,
    ) -> None:
        self.rsocket = rsocket
        self.data_mime = data_mime
        self.metadata_mime = metadata_mime
        self.codecs = codecs if codecs is not None else Codecs()
        self.compact = compact
        kind = normalize_mime(metadata_mime)
        self._composite = kind == _COMPOSITE
        self._routing = kind == _ROUTING

    @classmethod
    def wrap(cls, rsocket: RSocket, *, codecs: Codecs | None = None) -> Requester:
        """A requester for ``rsocket`` using the MIME types its SETUP declared."""
        connection = rsocket.connection
        setup = connection.setup
        if setup is not None:
            return cls(rsocket, data_mime=setup.data_mime, metadata_mime=setup.metadata_mime, codecs=codecs)
        config = connection.config
        return cls(rsocket, data_mime=config.data_mime, metadata_mime=config.metadata_mime, codecs=codecs)

    @staticmethod
    def connect(
        uri: str,
        *,
        data_mime: str = JSON,
        metadata_mime: str = COMPOSITE_METADATA_MIME,
        auth: Auth | None = None,
        setup_route: str | None = None,
        setup_data: Any = None,
        handler: RequestHandler | ClientRouter | None = None,
        codecs: Codecs | None = None,
        **options: Any,
    ) -> RequesterConnection:
        """Connect and get a requester; await it or use ``async with``.

        ``auth`` and ``setup_route`` go into the SETUP metadata (composite, as
        Spring's ``RSocketRequester.Builder`` sends them), ``setup_data`` is
        encoded with ``data_mime``.  ``handler`` (a plain handler or a
        :class:`~aiorsocket.app.Router`) serves the server's calls to us.
        ``options`` go to :func:`aiorsocket.connect` (``keepalive_interval``,
        ``ssl``, ``fragment_size``...).
        """
        return RequesterConnection(
            uri,
            data_mime=data_mime,
            metadata_mime=metadata_mime,
            auth=auth,
            setup_route=setup_route,
            setup_data=setup_data,
            handler=handler,
            codecs=codecs if codecs is not None else Codecs(),
            options=options,
        )

    def route(self, route: str, /, **variables: Any) -> RequestSpec:
        """A request to ``route``; ``{name}`` variables in it are filled from ``variables``."""
        if variables or "{" in route:
            route = RouteTemplate(route).expand(variables)
        return RequestSpec(self, route)

    def data(self, value: Any, mime: str | None = None) -> RequestSpec:
        """A request without a route (to a plain RSocket responder)."""
        return RequestSpec(self, None).data(value, mime)

    def encode(self, value: Any, mime: str | None = None) -> bytes:
        """``value`` as bytes of ``mime`` (default: the connection's data MIME); bytes pass unchanged."""
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        return self.codecs.get(mime or self.data_mime).encode(value)

    def build_metadata(
        self,
        *,
        route: str | None = None,
        auth: Auth | None = None,
        data_mime: str | None = None,
        accept: Iterable[str] = (),
        tracing: TracingMetadata | None = None,
        extra: Iterable[tuple[str, bytes]] = (),
    ) -> bytes | None:
        """Request metadata in the connection's metadata MIME; None when there is nothing to send."""
        accept = tuple(accept)
        extra = tuple(extra)
        if self._composite:
            if tracing is None:
                span = current_span.get()
                if span is not None:
                    tracing = span.child().to_metadata()
            if (
                route is None
                and auth is None
                and data_mime is None
                and not accept
                and tracing is None
                and not extra
            ):
                return None
            return build_composite_metadata(
                route=route,
                auth=auth,
                data_mime=data_mime,
                accept=accept,
                tracing=tracing,
                extra=extra,
                compact=self.compact,
            )
        if auth is not None or data_mime is not None or accept or tracing is not None:
            raise LocalProtocolError(
                f"metadata MIME {self.metadata_mime!r} cannot carry credentials, MIME types or tracing; "
                f"connect with {COMPOSITE_METADATA_MIME}"
            )
        if self._routing:
            if extra:
                raise LocalProtocolError("a routing-only connection carries no other metadata entries")
            return encode_routing([route]) if route is not None else None
        if route is not None:
            raise LocalProtocolError(
                f"metadata MIME {self.metadata_mime!r} cannot carry a route; connect with "
                f"{COMPOSITE_METADATA_MIME} or {ROUTING_MIME}"
            )
        own = [
            content for mime, content in extra if normalize_mime(mime) == normalize_mime(self.metadata_mime)
        ]
        if len(own) != len(extra) or len(own) > 1:
            raise LocalProtocolError(
                f"metadata MIME {self.metadata_mime!r} carries one piece of metadata of that MIME only"
            )
        return own[0] if own else None

    def decoder(self, result_type: Any, request_mime: str) -> Callable[[Payload], Any]:
        """Payload -> ``result_type``, by the responder's declared MIME or else ``request_mime``."""
        if result_type is Payload:
            return _identity
        if result_type is bytes:
            return _data_of
        convert = converter_for(result_type)
        codecs = self.codecs
        composite = self._composite

        def decode(payload: Payload) -> Any:
            mime = request_mime
            if composite and payload.metadata:
                try:
                    declared = parse_composite_metadata(payload.metadata).data_mime
                except MetadataError:
                    declared = None
                if isinstance(declared, str):
                    mime = declared
            return convert(codecs.get(mime).decode(payload.data), "response")

        return decode

    # ---------------------------------------------------------------------------- connection

    async def aclose(self) -> None:
        await self.rsocket.aclose()

    def close(self) -> None:
        self.rsocket.close()

    async def wait_closed(self) -> None:
        await self.rsocket.wait_closed()

    async def __aenter__(self) -> Requester:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _identity(payload: Payload) -> Payload:
    return payload


def _data_of(payload: Payload) -> bytes:
    return payload.data


class RequestSpec:
    """One request being put together; finish it with ``retrieve``, ``retrieve_stream``, ``send``..."""

    __slots__ = ("_accept", "_auth", "_data", "_data_mime", "_extra", "_requester", "_route", "_tracing")

    def __init__(self, requester: Requester, route: str | None) -> None:
        self._requester = requester
        self._route = route
        self._data: Any = None
        self._data_mime: str | None = None
        self._auth: Auth | None = None
        self._accept: tuple[str, ...] = ()
        self._tracing: TracingMetadata | None = None
        self._extra: list[tuple[str, bytes]] = []

    def data(self, value: Any, mime: str | None = None) -> RequestSpec:
        """The request's data; ``mime`` overrides the connection's data MIME for this stream.

        An async iterable makes :meth:`retrieve_stream` open a channel, its
        first item travelling with the route.
        """
        self._data = value
        self._data_mime = mime
        return self

    def metadata(self, value: Any, mime: str) -> RequestSpec:
        """One more composite metadata entry; ``value`` is encoded by ``mime``'s codec unless it is bytes."""
        self._extra.append((mime, self._requester.encode(value, mime)))
        return self

    def auth(self, credentials: Auth) -> RequestSpec:
        """Credentials for this request only (``SimpleAuth``, ``BearerAuth``...)."""
        self._auth = credentials
        return self

    def accept(self, *mimes: str) -> RequestSpec:
        """Data MIMEs we accept in the response, best first (accept-mime-types)."""
        self._accept = mimes
        return self

    def tracing(self, tracing: TracingMetadata) -> RequestSpec:
        self._tracing = tracing
        return self

    @property
    def _mime(self) -> str:
        return self._data_mime or self._requester.data_mime

    def _metadata(self) -> bytes | None:
        requester = self._requester
        declared = self._data_mime
        if declared is not None and normalize_mime(declared) == normalize_mime(requester.data_mime):
            declared = None
        return requester.build_metadata(
            route=self._route,
            auth=self._auth,
            data_mime=declared,
            accept=self._accept,
            tracing=self._tracing,
            extra=self._extra,
        )

    def _encode(self, value: Any) -> bytes:
        if value is None:
            return b""
        return self._requester.encode(value, self._mime)

    def payload(self) -> Payload:
        """The request payload as it will be sent (data and metadata)."""
        return Payload(self._encode(self._data), self._metadata())

    @overload
    async def retrieve(self) -> Any: ...

    @overload
    async def retrieve(self, result_type: type[T]) -> T: ...

    async def retrieve(self, result_type: Any = Any) -> Any:
        """Request/response; the response decoded to ``result_type`` (``Payload``/``bytes``: raw)."""
        decode = self._requester.decoder(result_type, self._mime)
        return decode(await self._requester.rsocket.request_response(self.payload()))

    @overload
    def retrieve_stream(self, *, limit_rate: int | None = ...) -> ResponseStream[Any]: ...

    @overload
    def retrieve_stream(self, item_type: type[T], *, limit_rate: int | None = ...) -> ResponseStream[T]: ...

    def retrieve_stream(self, item_type: Any = Any, *, limit_rate: int | None = DEFAULT_LIMIT_RATE) -> Any:
        """Request/stream (channel when the data is an async iterable), items decoded to ``item_type``.

        ``limit_rate`` bounds how many items may be in flight (REQUEST_N
        batches); None asks for everything at once.
        """
        decode = self._requester.decoder(item_type, self._mime)
        if isinstance(self._data, AsyncIterable):
            return ResponseStream(self._open_channel, decode, limit_rate)
        stream = self._requester.rsocket.request_stream(self.payload(), limit_rate=limit_rate)
        return ResponseStream(None, decode, limit_rate, stream)

    async def _open_channel(self, limit_rate: int | None) -> RequestStream:
        rsocket = self._requester.rsocket
        items = aiter(self._data)
        try:
            first = await anext(items)
        except StopAsyncIteration:
            return rsocket.request_channel(Payload(b"", self._metadata()), None, limit_rate=limit_rate)
        return rsocket.request_channel(
            Payload(self._encode(first), self._metadata()), self._rest(items), limit_rate=limit_rate
        )

    async def _rest(self, items: AsyncIterator[Any]) -> AsyncIterator[Payload]:
        async for item in items:
            yield Payload(self._encode(item))

    async def send(self) -> None:
        """Fire-and-forget."""
        await self._requester.rsocket.fire_and_forget(self.payload())

    async def send_metadata(self) -> None:
        """Metadata push of this spec's metadata (route and entries); data is not sent."""
        metadata = self._metadata()
        await self._requester.rsocket.metadata_push(metadata or b"")


class ResponseStream(AsyncIterator[T], Generic[T]):
    """Decoded items of a stream or channel; leaving early (``break`` + drop, ``aclose``, ``async with``)
    sends CANCEL.

    A request/stream is sent when :meth:`RequestSpec.retrieve_stream` is called; a request/channel,
    whose first item has to be awaited, when the stream is entered (``async with``) or first read.
    """

    def __init__(
        self,
        opener: Callable[[int | None], Awaitable[RequestStream]] | None,
        decode: Callable[[Payload], T],
        limit_rate: int | None,
        stream: RequestStream | None = None,
    ) -> None:
        self._opener = opener
        self._decode = decode
        self._limit_rate = limit_rate
        self._stream = stream

    async def _open(self) -> RequestStream:
        stream = self._stream
        if stream is None:
            assert self._opener is not None
            stream = self._stream = await self._opener(self._limit_rate)
        return stream

    def __aiter__(self) -> ResponseStream[T]:
        return self

    async def __anext__(self) -> T:
        stream = await self._open()
        return self._decode(await stream.__anext__())

    def cancel(self) -> None:
        if self._stream is not None:
            self._stream.cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def collect(self) -> list[T]:
        """Every item, in order (for streams known to be short)."""
        return [item async for item in self]

    async def __aenter__(self) -> ResponseStream[T]:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()


class ClientRouter(Protocol):
    """What :meth:`Requester.connect` needs from a router serving the server's calls to the client."""

    def client_responder(self) -> tuple[RequestHandler, Callable[[Requester], None]]: ...


class RequesterConnection:
    """The pending result of :meth:`Requester.connect`: await it, or ``async with`` it."""

    def __init__(
        self,
        uri: str,
        *,
        data_mime: str,
        metadata_mime: str,
        auth: Auth | None,
        setup_route: str | None,
        setup_data: Any,
        handler: RequestHandler | ClientRouter | None,
        codecs: Codecs,
        options: dict[str, Any],
    ) -> None:
        self._uri = uri
        self._handler = handler
        self._codecs = codecs
        self._data_mime = data_mime
        self._metadata_mime = metadata_mime
        self._auth = auth
        self._setup_route = setup_route
        self._setup_data = setup_data
        self._options = options
        self._requester: Requester | None = None

    async def _open(self) -> Requester:
        bind: Callable[[Requester], None] | None = None
        handler: RequestHandler | None
        if self._handler is None or isinstance(self._handler, RequestHandler):
            handler = self._handler
        else:
            handler, bind = self._handler.client_responder()
        setup_metadata = self._setup_metadata()
        setup_data = b"" if self._setup_data is None else self._encode_setup_data()
        rsocket = await connect_rsocket(
            self._uri,
            handler=handler,
            data_mime=self._data_mime,
            metadata_mime=self._metadata_mime,
            setup_payload=Payload(setup_data, setup_metadata),
            **self._options,
        )
        requester = Requester(
            rsocket, data_mime=self._data_mime, metadata_mime=self._metadata_mime, codecs=self._codecs
        )
        if bind is not None:
            # No event-loop turn has passed since the session started, so no request can have
            # reached the handler before it knows its connection.
            bind(requester)
        return requester

    def _encode_setup_data(self) -> bytes:
        value = self._setup_data
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        return self._codecs.get(self._data_mime).encode(value)

    def _setup_metadata(self) -> bytes | None:
        kind = normalize_mime(self._metadata_mime)
        if kind == _COMPOSITE:
            if self._setup_route is None and self._auth is None:
                return None
            return build_composite_metadata(route=self._setup_route, auth=self._auth)
        if self._auth is not None:
            raise LocalProtocolError(f"SETUP credentials need metadata MIME {COMPOSITE_METADATA_MIME}")
        if self._setup_route is not None:
            if kind != _ROUTING:
                raise LocalProtocolError(f"a SETUP route needs metadata MIME {COMPOSITE_METADATA_MIME}")
            return encode_routing([self._setup_route])
        return None

    def __await__(self) -> Generator[Any, None, Requester]:
        return self._open().__await__()

    async def __aenter__(self) -> Requester:
        self._requester = await self._open()
        return self._requester

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._requester is not None:
            await self._requester.aclose()
