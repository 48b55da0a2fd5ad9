"""``aiorsocket request|stream|channel|fnf|push URI``: talk to any RSocket server from a shell.

Only argparse runs when the command line is parsed; the connection machinery is
imported when a command actually runs, so ``--help`` and completion stay quick.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Final

from . import args as types

EXIT_OK: Final = 0
EXIT_APPLICATION_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONNECTION: Final = 3
EXIT_TIMEOUT: Final = 4
EXIT_INTERRUPTED: Final = 130

_EXIT_CODES = """\
exit codes:
  0  done                                3  connection failed or SETUP refused
  1  the server answered with an ERROR   4  --timeout expired
  2  bad command line or input           130  interrupted (Ctrl-C; a stream is sent CANCEL)
"""

_INPUT_NOTE = """\
DATA and META: text as given, @FILE for a file's bytes, - for standard input
(@@text sends "@text").  With --data-mime cbor, text is read as JSON and sent as CBOR.
URI schemes: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH,
unix:///PATH, quic://HOST:PORT.
"""


@dataclass(frozen=True)
class Interaction:
    name: str
    aliases: tuple[str, ...]
    summary: str
    description: str
    examples: str


INTERACTIONS: Final = (
    Interaction(
        "request",
        ("rr", "request-response"),
        "request/response: send one payload, print the one response",
        "Send one request and print its response.",
        """\
  aiorsocket request tcp://localhost:7878 -d hello
  aiorsocket request tcp://localhost:7878 --route user.find -d '{"id": 7}' -o json
  aiorsocket request wss://example.com/rsocket --route greet --auth-bearer "$TOKEN" -d '"Ann"'
  aiorsocket request unix:///run/svc.sock -d @body.json --timeout 5
""",
    ),
    Interaction(
        "stream",
        ("request-stream",),
        "request/stream: send one payload, print every item of the stream",
        "Open a stream and print one line per item; Ctrl-C sends CANCEL and exits.",
        """\
  aiorsocket stream tcp://localhost:7878 -d 100
  aiorsocket stream ws://localhost:8080/rsocket --route ticks --take 10
  aiorsocket stream tcp://localhost:7878 --route feed --request-n 32 --batch 8 --show-metadata
  aiorsocket stream tcp://localhost:7878 --route feed --debug 2> frames.log
""",
    ),
    Interaction(
        "channel",
        ("request-channel",),
        "request/channel: send payloads (one per stdin line with -d -), print what comes back",
        "Open a channel: send every -d payload, or one payload per line of standard input "
        "(streamed as the lines arrive), and print one line per item received.",
        """\
  aiorsocket channel tcp://localhost:7878 -d first -d second
  tail -f app.log | aiorsocket channel tcp://localhost:7878 --route logs -d -
  aiorsocket channel tcp://localhost:7878 --route chat -d - --take 5
""",
    ),
    Interaction(
        "fnf",
        ("fire-and-forget",),
        "fire-and-forget: send one payload, expect nothing back",
        "Send one fire-and-forget request.  Nothing comes back, so success means the "
        "frame was written: a server that drops it, or refuses the SETUP after we "
        "closed, goes unnoticed.",
        """\
  aiorsocket fnf tcp://localhost:7878 -d ping
  aiorsocket fnf tcp://localhost:7878 --route audit -d @event.json
""",
    ),
    Interaction(
        "push",
        ("metadata-push",),
        "metadata push: send metadata on the connection (stream 0)",
        "Send one METADATA_PUSH: -m, or the composite metadata --route / --auth-* build.  "
        "Nothing comes back.",
        """\
  aiorsocket push tcp://localhost:7878 -m refresh
  aiorsocket push tcp://localhost:7878 --route config.changed
""",
    ),
)


def add_request_commands(commands: Any) -> None:
    for interaction in INTERACTIONS:
        parser = commands.add_parser(
            interaction.name,
            aliases=list(interaction.aliases),
            help=interaction.summary,
            description=interaction.description,
            epilog=f"{_INPUT_NOTE}\nexamples:\n{interaction.examples}\n{_EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_options(parser, interaction.name)
        parser.set_defaults(handler=run_interaction, interaction=interaction.name, parser=parser)


def _hidden_alias(parser: argparse.ArgumentParser, *names: str, dest: str, **kwargs: Any) -> None:
    """rsocket-cli / rsocket-py spellings, accepted but kept out of --help (docs/cli.md lists them)."""
    parser.add_argument(*names, dest=dest, help=argparse.SUPPRESS, **kwargs)


def _add_options(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("uri", metavar="URI", help="where the server listens, e.g. tcp://localhost:7878")

    payload = parser.add_argument_group("payload")
    if name != "push":
        payload.add_argument(
            "-d",
            "--data",
            metavar="DATA",
            action="append" if name == "channel" else "store",
            help="the data: text, @FILE or - (stdin)"
            + ("; repeat for several payloads; with - one payload per line" if name == "channel" else ""),
        )
        _hidden_alias(parser, "-i", "--input", dest="data", action="append" if name == "channel" else "store")
    payload.add_argument("-m", "--metadata", metavar="META", help="the metadata: text, @FILE or -")
    payload.add_argument(
        "-r",
        "--route",
        metavar="ROUTE",
        help="send composite metadata with this routing tag (Spring's route)",
    )
    auth = payload.add_mutually_exclusive_group()
    auth.add_argument(
        "--auth-simple", metavar="USER:PASSWORD", help="add simple authentication to the composite metadata"
    )
    auth.add_argument(
        "--auth-bearer", metavar="TOKEN", help="add bearer authentication to the composite metadata"
    )
    _hidden_alias(parser, "--as", "--authSimple", dest="auth_simple")
    _hidden_alias(parser, "--ab", "--authBearer", dest="auth_bearer")

    setup = parser.add_argument_group("connection")
    mimes = ", ".join(types.MIME_ALIASES)
    setup.add_argument(
        "--data-mime",
        type=types.mime,
        metavar="MIME",
        help=f"data MIME type for SETUP (default application/json); a MIME or one of: {mimes}",
    )
    setup.add_argument(
        "--metadata-mime",
        type=types.mime,
        metavar="MIME",
        help="metadata MIME type for SETUP (default: composite with --route/--auth-*, else application/json)",
    )
    _hidden_alias(parser, "--dataFormat", "--dmt", dest="data_mime", type=types.mime)
    _hidden_alias(parser, "--metadataFormat", "--mmt", dest="metadata_mime", type=types.mime)
    setup.add_argument("--setup-data", metavar="DATA", help="data of the SETUP frame: text, @FILE or -")
    setup.add_argument(
        "--setup-metadata", metavar="META", help="metadata of the SETUP frame: text, @FILE or -"
    )
    _hidden_alias(parser, "-s", "--setup", "--sd", "--setupData", dest="setup_data")
    _hidden_alias(parser, "--sm", "--setupMetadata", dest="setup_metadata")
    setup.add_argument(
        "--keepalive",
        type=types.duration,
        metavar="SECONDS",
        help="KEEPALIVE interval (default 20; 500ms, 2s, 1m also work)",
    )
    setup.add_argument(
        "--max-lifetime",
        type=types.duration,
        metavar="SECONDS",
        help="give up on a server silent this long (default 90)",
    )
    setup.add_argument(
        "--resume",
        action="store_true",
        help="make the session resumable: a lost connection is re-made and RESUMEd, streams carry on",
    )
    setup.add_argument(
        "--resume-lifetime",
        type=types.duration,
        metavar="SECONDS",
        help="with --resume, how long to keep trying to resume (default 120)",
    )
    setup.add_argument(
        "--fragment-size",
        type=types.byte_size,
        metavar="BYTES",
        help="split frames larger than this (>= 64; default 0: never)",
    )
    setup.add_argument(
        "--timeout",
        type=types.duration,
        metavar="SECONDS",
        help="give up (exit 4) when the whole command takes longer than this",
    )

    setup.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        metavar="NAME:VALUE",
        help="a header for the WebSocket upgrade request (ws://, wss://); repeatable",
    )

    tls = parser.add_argument_group("TLS (tls://, wss://, quic://)")
    tls.add_argument("--ca-file", metavar="FILE", help="trust the server certificates this CA (PEM) signed")
    tls.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    tls.add_argument("--client-cert", metavar="FILE", help="present this certificate chain (PEM)")
    tls.add_argument("--client-key", metavar="FILE", help="private key (PEM) of --client-cert")
    _hidden_alias(parser, "--trustCert", dest="ca_file")
    _hidden_alias(parser, "--allowUntrustedSsl", dest="insecure", action="store_true")

    out = parser.add_argument_group("output")
    if name in ("request", "stream", "channel"):
        out.add_argument(
            "-o",
            "--output",
            choices=types.OUTPUT_FORMATS,
            default="auto",
            help="auto (default): text, CBOR as JSON, else 0x-hex, one line per payload; "
            "text; json (pretty); hex; raw (bytes as they are)",
        )
        out.add_argument(
            "--show-metadata",
            action="store_true",
            help="print each payload's metadata and a tab before its data",
        )
    out.add_argument(
        "--debug",
        action="store_true",
        help="print every frame sent (>>) and received (<<) to stderr, decoded and as hex",
    )

    if name in ("stream", "channel"):
        flow = parser.add_argument_group("flow control")
        flow.add_argument("--take", type=types.count, metavar="N", help="stop (send CANCEL) after N items")
        flow.add_argument(
            "--request-n",
            type=types.request_n,
            metavar="N",
            help="initial REQUEST_N, and the most items ever buffered (default 256, or --take if smaller; "
            "max: unbounded)",
        )
        flow.add_argument(
            "--batch",
            type=types.count,
            metavar="N",
            help="ask for N more after each N items consumed (default 3/4 of --request-n)",
        )
        _hidden_alias(parser, "--requestn", "--limitRate", dest="request_n", type=types.request_n)
        flow.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="show the item count and rate on stderr (default: when stderr is a terminal)",
        )


def run_interaction(args: argparse.Namespace) -> int:
    from .runner import run

    return run(args)
