"""The ``aiorsocket`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .completion import add_completion_command
from .decode import add_decode_command
from .demo import add_demo_command
from .request import add_request_commands
from .serve import add_serve_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiorsocket",
        description="RSocket for Python: tools for talking to and debugging RSocket peers.",
    )
    parser.add_argument("--version", action="version", version=f"aiorsocket {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_request_commands(commands)
    add_decode_command(commands)
    add_demo_command(commands)
    add_serve_command(commands)
    add_completion_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
