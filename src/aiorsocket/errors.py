"""Error codes and the exception tree shared by every layer.

Two families live here:

* :class:`ProtocolError` and its children describe a fault in bytes that came from
  the network (a malformed frame, broken composite metadata, ...).  Each one names
  the spec rule it enforces (``rule``, e.g. ``"FL-2"``), says whether the fault
  belongs to the whole connection or to one stream (``level``), which ERROR code
  the receiver should answer with (``error_code``) and whether the spec says to
  drop the input silently instead (``ignorable``).  The protocol engine turns
  these into ERROR frames; nothing here ever escapes as IndexError or
  struct.error.
* :class:`RSocketError` subclasses that mirror the ERROR frame codes
  (:class:`ApplicationError`, :class:`RejectedError`, ...) are what user code
  sees when a peer answers a request with an ERROR frame.

:class:`LocalProtocolError` is raised when *our* caller asks for something the
protocol cannot express (a request-n of 0, a MIME string of 300 bytes, ...).
It is also a :class:`ValueError`, because that is what it is.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class ErrorCode(IntEnum):
    """The u32 error codes of the ERROR frame (checklist §2)."""

    RESERVED = 0x00000000
    INVALID_SETUP = 0x00000001
    UNSUPPORTED_SETUP = 0x00000002
    REJECTED_SETUP = 0x00000003
    REJECTED_RESUME = 0x00000004
    CONNECTION_ERROR = 0x00000101
    CONNECTION_CLOSE = 0x00000102
    APPLICATION_ERROR = 0x00000201
    REJECTED = 0x00000202
    CANCELED = 0x00000203
    INVALID = 0x00000204
    RESERVED_EXTENSION = 0xFFFFFFFF


#: Lowest and highest error codes an application may define (checklist §2).
MIN_APPLICATION_ERROR_CODE = 0x00000301
MAX_APPLICATION_ERROR_CODE = 0xFFFFFFFE


class FaultLevel(Enum):
    """Whether a fault ends the whole connection or only one stream."""

    CONNECTION = "connection"
    STREAM = "stream"


class RSocketError(Exception):
    """Base class of every exception aiorsocket raises on purpose."""


class LocalProtocolError(RSocketError, ValueError):
    """Our own caller asked for something the protocol cannot carry."""


class ProtocolError(RSocketError):
    """Bytes from the peer break a rule of the protocol.

    Attributes:
        rule: the checklist rule that was broken (``"FL-2"``, ``"SU-3"``, ...).
        level: connection-level faults end the connection with an ERROR on
            stream 0; stream-level faults end one stream.
        error_code: the code of the ERROR frame that answers the fault.
        stream_id: the stream the offending frame was on (0 for connection).
        frame_type: the raw 6-bit frame type, or None when unreadable.
        ignorable: True when the spec says to drop the input silently (the
            frame carried the I flag, or a rule such as MP-3 says "ignore").
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        level: FaultLevel = FaultLevel.CONNECTION,
        error_code: ErrorCode = ErrorCode.CONNECTION_ERROR,
        stream_id: int = 0,
        frame_type: int | None = None,
        ignorable: bool = False,
    ) -> None:
        super().__init__(f"{message} [{rule}]")
        self.message = message
        self.rule = rule
        self.level = level
        self.error_code = error_code
        self.stream_id = stream_id
        self.frame_type = frame_type
        self.ignorable = ignorable

    @property
    def is_connection_level(self) -> bool:
        return self.level is FaultLevel.CONNECTION


class FrameError(ProtocolError):
    """A frame could not be decoded, or its fields break a frame-level rule."""


class FrameTooLargeError(FrameError):
    """A length prefix announced a frame over the configured maximum (FL-1)."""


class UnknownFrameTypeError(FrameError):
    """The 6-bit frame type is not one this library knows (IG-1 / IG-2)."""


class MetadataError(ProtocolError):
    """Extension metadata (composite, routing, auth, ...) is malformed.

    These are stream-level by default: the request that carried them is
    answered with ERROR[INVALID] and the connection carries on.
    """

    def __init__(self, message: str, *, rule: str, stream_id: int = 0) -> None:
        super().__init__(
            message,
            rule=rule,
            level=FaultLevel.STREAM,
            error_code=ErrorCode.INVALID,
            stream_id=stream_id,
        )


class ConnectionLostError(RSocketError):
    """The transport closed before the request finished, with no ERROR frame to explain it."""


class ErrorFrameReceived(RSocketError):
    """The peer sent an ERROR frame; subclasses mirror its error code.

    Use :func:`error_from_code` to build the right subclass for a code.
    """

    code: ErrorCode | int = ErrorCode.RESERVED

    def __init__(self, message: str = "", *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={int(self.code):#010x})"


class SetupError(ErrorFrameReceived):
    """The server refused the connection's SETUP (any of the setup codes)."""


class InvalidSetupError(SetupError):
    code = ErrorCode.INVALID_SETUP


class UnsupportedSetupError(SetupError):
    code = ErrorCode.UNSUPPORTED_SETUP


class RejectedSetupError(SetupError):
    code = ErrorCode.REJECTED_SETUP


class RejectedResumeError(ErrorFrameReceived):
    code = ErrorCode.REJECTED_RESUME


class ConnectionError(ErrorFrameReceived):
    """The connection is being torn down (CONNECTION_ERROR)."""

    code = ErrorCode.CONNECTION_ERROR


class ConnectionCloseError(ErrorFrameReceived):
    """The peer is closing gracefully (CONNECTION_CLOSE)."""

    code = ErrorCode.CONNECTION_CLOSE


class ApplicationError(ErrorFrameReceived):
    """The responder's application failed the request (APPLICATION_ERROR or a custom code)."""

    code = ErrorCode.APPLICATION_ERROR


class RejectedError(ErrorFrameReceived):
    """The request was refused and is guaranteed unprocessed (REJECTED)."""

    code = ErrorCode.REJECTED


class MissingLeaseError(RejectedError):
    """Our request was not sent: the peer's lease is missing, expired or used up (LE-4, SU-9).

    Raised before anything reaches the wire, so, like REJECTED, the request is guaranteed
    unprocessed and safe to retry once a new LEASE arrives.  A :class:`RejectedError`, as
    rsocket-java's ``MissingLeaseException`` is a ``RejectedException``.
    """


class CanceledError(ErrorFrameReceived):
    """The responder cancelled after it may have started work (CANCELED)."""

    code = ErrorCode.CANCELED


class InvalidError(ErrorFrameReceived):
    """The request itself was invalid (INVALID)."""

    code = ErrorCode.INVALID


_BY_CODE: dict[int, type[ErrorFrameReceived]] = {
    cls.code: cls
    for cls in (
        InvalidSetupError,
        UnsupportedSetupError,
        RejectedSetupError,
        RejectedResumeError,
        ConnectionError,
        ConnectionCloseError,
        ApplicationError,
        RejectedError,
        CanceledError,
        InvalidError,
    )
}


def error_from_code(code: int, message: str) -> ErrorFrameReceived:
    """The exception a user should see for an ERROR frame with ``code``.

    Application-defined codes (0x301..0xFFFFFFFE) become :class:`ApplicationError`
    carrying the original code, so nothing is lost.
    """
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    if MIN_APPLICATION_ERROR_CODE <= code <= MAX_APPLICATION_ERROR_CODE:
        return ApplicationError(message, code=code)
    return ErrorFrameReceived(message, code=code)
