"""The public surface of aiorsocket.extensions, and its sans-IO promise (no asyncio, no sockets)."""

from __future__ import annotations

import ast
from pathlib import Path

import aiorsocket.extensions as extensions

PACKAGE_DIR = Path(extensions.__file__).parent
#: Standard-library modules the codecs may use; anything else (asyncio above all) breaks sans-IO.
ALLOWED_ABSOLUTE = {"__future__", "collections.abc", "dataclasses", "enum", "typing"}
#: The one module outside the package the codecs may lean on.
ALLOWED_PARENT = {"errors"}


def test_every_name_in_all_resolves() -> None:
    assert len(extensions.__all__) == len(set(extensions.__all__))
    for name in extensions.__all__:
        assert getattr(extensions, name) is not None


def test_sans_io_extensions_import_only_pure_stdlib_and_errors() -> None:
    # Checked on the source: importing aiorsocket.extensions runs the parent
    # package's __init__, which may legitimately pull in asyncio.
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                assert {alias.name for alias in node.names} <= ALLOWED_ABSOLUTE, path.name
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert node.module in ALLOWED_ABSOLUTE, (path.name, node.module)
                elif node.level == 2:
                    assert node.module in ALLOWED_PARENT, (path.name, node.module)
                else:
                    assert node.level == 1, (path.name, node.module)
