"""mypyc's class attributes without mypy installed: the compiled build reads them from the
source, the pure-Python package runs with this no-op in their place."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*attrs: object, **kwattrs: object) -> object:
        return lambda cls: cls


__all__ = ["mypyc_attr"]
