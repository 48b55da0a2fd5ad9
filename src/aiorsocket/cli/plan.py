"""Turning the parsed command line into a checked :class:`Plan`, before any connection is made.

Everything a user can get wrong is found here and reported as a :class:`UsageError`
that says what is wrong and shows the right form, so the runner only meets
problems that come from the network.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .. import connect
from ..errors import LocalProtocolError
from ..extensions import BearerAuth, SimpleAuth, build_composite_metadata, encode_routing
from ..extensions.mimetypes import COMPOSITE_METADATA_MIME, ROUTING_MIME
from ..payload import Payload
from ..protocol.streams import UNBOUNDED
from ..resume import ResumeConfig
from ..transports.tls import TLSConfig
from ..transports.uri import SCHEMES, parse_uri
from .framefmt import DebugLog
from .output import CBOR_MIME

DEFAULT_DATA_MIME: Final = "application/json"
DEFAULT_METADATA_MIME: Final = "application/json"
DEFAULT_REQUEST_N: Final = 256
EXAMPLE_URI: Final = "tcp://localhost:7878"


class UsageError(Exception):
    """A bad command line: ``message`` says what is wrong, ``example`` shows the right form."""

    def __init__(self, message: str, example: str) -> None:
        super().__init__(message)
        self.message = message
        self.example = example


@dataclass(frozen=True)
class Plan:
    command: str
    """The command as typed (``stream``, ``rr`` ...), for messages."""
    interaction: str
    connector: connect
    payloads: tuple[bytes, ...]
    """Data to send; a channel sends the first with REQUEST_CHANNEL and the rest after it."""
    stdin_lines: bool
    """A channel whose payloads are the lines of standard input, sent as they are read."""
    encode_line: Callable[[bytes], bytes]
    metadata: bytes | None
    limit_rate: int
    low_tide: int | None
    take: int | None
    timeout: float | None
    output: str
    show_metadata: bool
    data_mime: str
    metadata_mime: str
    progress: bool | None
    debug_log: DebugLog | None


def build_plan(args: argparse.Namespace, stdin: Callable[[], bytes]) -> Plan:
    """Check ``args`` and read every input; ``stdin`` returns all of standard input (read at most once)."""
    interaction: str = args.interaction
    command: str = args.command
    _check_uri(args.uri, command)
    _check_single_stdin(args, interaction)

    data_mime: str = args.data_mime or DEFAULT_DATA_MIME
    auth = _auth(args, command)
    routed = args.route is not None or auth is not None
    metadata_mime: str = args.metadata_mime or (COMPOSITE_METADATA_MIME if routed else DEFAULT_METADATA_MIME)
    encode_text = _text_encoder(data_mime, command)

    def read(spec: str | None, what: str, encode: Callable[[bytes], bytes] | None) -> bytes | None:
        return None if spec is None else _read(spec, what, stdin, encode, command)

    if routed:
        if args.metadata is not None:
            raise UsageError(
                "-m/--metadata cannot be combined with --route or --auth-*: those build the metadata",
                f"aiorsocket {command} {EXAMPLE_URI} --route ROUTE  (or: -m META without --route)",
            )
        metadata: bytes | None = _routed_metadata(args.route, auth, metadata_mime, command)
    else:
        metadata = read(args.metadata, "metadata", None)
    if interaction == "push" and metadata is None:
        raise UsageError(
            "push sends metadata only, and none was given",
            f"aiorsocket push {EXAMPLE_URI} -m META  (or --route ROUTE)",
        )

    specs = _data_specs(args)
    stdin_lines = interaction == "channel" and specs == ["-"]
    if stdin_lines:
        payloads: tuple[bytes, ...] = ()
    elif specs:
        payloads = tuple(_read(spec, "data", stdin, encode_text, command) for spec in specs)
    else:
        payloads = (b"",)

    limit_rate, low_tide, take = _flow(args, command)
    setup = Payload(
        read(args.setup_data, "setup data", encode_text) or b"",
        read(args.setup_metadata, "setup metadata", None),
    )
    debug_log = DebugLog(metadata_mime, sys.stderr) if args.debug else None
    try:
        connector = connect(
            args.uri,
            data_mime=data_mime,
            metadata_mime=metadata_mime,
            setup_payload=setup,
            **_connection_options(args, command),
            ssl=_tls(args, command),
            headers=_headers(args, command),
            frame_logger=debug_log,
        )
    except LocalProtocolError as exc:
        raise UsageError(str(exc), f"aiorsocket {command} --help") from None
    return Plan(
        command=command,
        interaction=interaction,
        connector=connector,
        payloads=payloads,
        stdin_lines=stdin_lines,
        encode_line=encode_text,
        metadata=metadata,
        limit_rate=limit_rate,
        low_tide=low_tide,
        take=take,
        timeout=args.timeout,
        output=getattr(args, "output", "auto"),
        show_metadata=getattr(args, "show_metadata", False),
        data_mime=data_mime,
        metadata_mime=metadata_mime,
        progress=getattr(args, "progress", None),
        debug_log=debug_log,
    )


def _check_uri(uri: str, command: str) -> None:
    try:
        endpoint = parse_uri(uri)
    except LocalProtocolError as exc:
        raise UsageError(str(exc), f"aiorsocket {command} {EXAMPLE_URI}") from None
    if endpoint.scheme == "local":
        raise UsageError(
            f"{uri} names an in-process server, which another process cannot reach",
            f"aiorsocket {command} unix:///tmp/service.sock  (or tcp://, ws://, ...)",
        )


def _check_single_stdin(args: argparse.Namespace, interaction: str) -> None:
    data = _data_specs(args)
    if interaction == "channel" and "-" in data and len(data) > 1:
        raise UsageError(
            "with -d - a channel's payloads are the lines of stdin; it cannot be mixed with other -d",
            f"aiorsocket channel {EXAMPLE_URI} -d -  < lines.txt",
        )
    readers = [
        option
        for option, value in (
            ("--data", "-" if "-" in data else None),
            ("--metadata", args.metadata),
            ("--setup-data", args.setup_data),
            ("--setup-metadata", args.setup_metadata),
        )
        if value == "-"
    ]
    if len(readers) > 1:
        raise UsageError(
            f"only one input can come from stdin, but {' and '.join(readers)} both say -",
            f"aiorsocket {args.command} {EXAMPLE_URI} -d - -m @metadata.bin",
        )


def _auth(args: argparse.Namespace, command: str) -> SimpleAuth | BearerAuth | None:
    if args.auth_simple is not None and args.auth_bearer is not None:
        raise UsageError(
            "give one of --auth-simple and --auth-bearer, not both",
            f"aiorsocket {command} {EXAMPLE_URI} --auth-bearer TOKEN",
        )
    if args.auth_bearer is not None:
        return BearerAuth(args.auth_bearer)
    if args.auth_simple is None:
        return None
    user, colon, password = args.auth_simple.partition(":")
    if not colon:
        raise UsageError(
            f"--auth-simple wants USER:PASSWORD, got {args.auth_simple!r}",
            f"aiorsocket {command} {EXAMPLE_URI} --auth-simple alice:secret",
        )
    return SimpleAuth(user, password)


def _routed_metadata(
    route: str | None, auth: SimpleAuth | BearerAuth | None, metadata_mime: str, command: str
) -> bytes:
    if metadata_mime == COMPOSITE_METADATA_MIME:
        return build_composite_metadata(route=route, auth=auth)
    if metadata_mime == ROUTING_MIME and route is not None and auth is None:
        return encode_routing([route])
    raise UsageError(
        f"--route and --auth-* need composite metadata, but --metadata-mime is {metadata_mime}"
        + (" (routing metadata carries a route only)" if metadata_mime == ROUTING_MIME else ""),
        f"aiorsocket {command} {EXAMPLE_URI} --route ROUTE --metadata-mime composite",
    )


def _text_encoder(data_mime: str, command: str) -> Callable[[bytes], bytes]:
    """How typed-in data becomes bytes: as UTF-8, except that CBOR is typed as JSON."""
    if data_mime != CBOR_MIME:
        return bytes
    # The app layer (and cbor2) load only for CBOR, to keep every other command's startup short.
    from ..app import MissingExtraError
    from ..app.codecs import CborCodec

    codec = CborCodec()
    try:
        codec.require()
    except MissingExtraError as exc:
        raise UsageError(str(exc), f"aiorsocket {command} {EXAMPLE_URI} --data-mime json") from None

    def encode(text: bytes) -> bytes:
        try:
            return codec.encode(json.loads(text))
        except ValueError as exc:
            raise UsageError(
                f"with --data-mime cbor, data is typed as JSON and sent as CBOR; "
                f"{text[:40]!r} is not JSON: {exc}",
                f"aiorsocket {command} {EXAMPLE_URI} --data-mime cbor -d '{{\"id\": 7}}'  (or -d @file.cbor)",
            ) from None

    return encode


def _read(
    spec: str,
    what: str,
    stdin: Callable[[], bytes],
    encode: Callable[[bytes], bytes] | None,
    command: str,
) -> bytes:
    if spec.startswith("@") and not spec.startswith("@@"):
        path = Path(spec[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read the {what} file {str(path)!r}: {exc.strerror or exc}",
                f"aiorsocket {command} {EXAMPLE_URI} -d @path/to/file",
            ) from None
    text = stdin() if spec == "-" else spec.removeprefix("@").encode("utf-8")
    return encode(text) if encode is not None else text


def _data_specs(args: argparse.Namespace) -> list[str]:
    data = getattr(args, "data", None)
    if data is None:
        return []
    return list(data) if isinstance(data, list) else [data]


def _flow(args: argparse.Namespace, command: str) -> tuple[int, int | None, int | None]:
    take: int | None = getattr(args, "take", None)
    limit_rate: int | None = getattr(args, "request_n", None)
    low_tide: int | None = getattr(args, "batch", None)
    if limit_rate is None:
        limit_rate = min(take, DEFAULT_REQUEST_N) if take is not None else DEFAULT_REQUEST_N
    if low_tide is not None:
        if limit_rate >= UNBOUNDED:
            raise UsageError(
                "--batch needs a finite --request-n: with 'max' nothing is ever asked for again",
                f"aiorsocket {command} {EXAMPLE_URI} --request-n 256 --batch 64",
            )
        if low_tide > limit_rate:
            raise UsageError(
                f"--batch ({low_tide}) cannot exceed --request-n ({limit_rate}): "
                "no more than --request-n items are ever outstanding",
                f"aiorsocket {command} {EXAMPLE_URI} --request-n {max(low_tide, 2)} --batch {low_tide}",
            )
    return limit_rate, low_tide, take


def _connection_options(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Only the options given, so that :func:`aiorsocket.connect`'s defaults apply to the rest."""
    options: dict[str, Any] = {}
    for option, name in (
        ("keepalive", "keepalive_interval"),
        ("max_lifetime", "max_lifetime"),
        ("fragment_size", "fragment_size"),
    ):
        value = getattr(args, option)
        if value is not None:
            options[name] = value
    if args.resume_lifetime is not None and not args.resume:
        raise UsageError(
            "--resume-lifetime only applies to a resumable session",
            f"aiorsocket {command} {EXAMPLE_URI} --resume --resume-lifetime 30",
        )
    if args.resume:
        lifetime = args.resume_lifetime
        options["resume"] = ResumeConfig() if lifetime is None else ResumeConfig(session_lifetime=lifetime)
    return options


def _headers(args: argparse.Namespace, command: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for text in args.headers or ():
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise UsageError(
                f"--header {text!r} is not NAME:VALUE",
                f"aiorsocket {command} ws://localhost:8080/rsocket -H 'Authorization: Bearer TOKEN'",
            )
        headers.append((name.strip(), value.strip()))
    if headers and parse_uri(args.uri).scheme not in ("ws", "wss"):
        raise UsageError(
            "--header only applies to WebSocket URIs: the headers go in the upgrade request",
            f"aiorsocket {command} ws://localhost:8080/rsocket -H 'Authorization: Bearer TOKEN'",
        )
    return headers


def _tls(args: argparse.Namespace, command: str) -> TLSConfig | None:
    given = [
        option
        for option, value in (
            ("--ca-file", args.ca_file),
            ("--insecure", args.insecure),
            ("--client-cert", args.client_cert),
            ("--client-key", args.client_key),
        )
        if value
    ]
    if not given:
        return None
    scheme = parse_uri(args.uri).scheme
    if not SCHEMES[scheme].secure:
        raise UsageError(
            f"{', '.join(given)}: only for encrypted URIs (tls://, wss://, quic://), "
            f"and {scheme}:// is not one",
            f"aiorsocket {command} tls://localhost:7443 --ca-file ca.pem",
        )
    try:
        return TLSConfig(
            certfile=args.client_cert,
            keyfile=args.client_key,
            cafile=args.ca_file,
            verify=not args.insecure,
        )
    except LocalProtocolError as exc:
        raise UsageError(
            str(exc), f"aiorsocket {command} tls://localhost:7443 --client-cert me.pem --client-key me.key"
        ) from None
