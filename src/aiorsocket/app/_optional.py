"""Importing optional dependencies only when a feature needs them.

The core package has no runtime dependencies (design.md), so a codec or the
metrics interceptor imports its library on first use and, when it is missing,
says which extra to install instead of failing with a bare ImportError.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


class MissingExtraError(ImportError):
    """An optional feature was used without the package that implements it."""

    def __init__(self, what: str, package: str, extra: str) -> None:
        super().__init__(
            f"{what} needs the {package!r} package; install it with: pip install 'aiorsocket[{extra}]'"
        )
        self.package = package
        self.extra = extra


@cache
def import_optional(module: str, *, package: str, extra: str, what: str) -> Any:
    """``module`` imported, or :class:`MissingExtraError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(what, package, extra) from None


@cache
def is_installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
