"""Loads the compiled binding (``native.cpp``, built by ``build.py``) from the build cache.

The binding is not installed into the package: it is built from PyPI's Aeron sources on the
machine that uses it, so this module finds it by the build's own key (binding source hash and
interpreter) and re-exports it.  Its typed API is ``_native.pyi``.
"""

from __future__ import annotations

import importlib.util

from .build import binding_path
from .errors import AeronUnavailableError

_path = binding_path()
if not _path.exists():
    raise AeronUnavailableError(
        "aeron+udp:// needs aiorsocket's Aeron client, built from PyPI's Aeron sources; "
        f"it is not at {_path}. "
        "Build it (and the media driver) with `pip install 'aiorsocket[aeron]'` then "
        "`python -m aiorsocket.transports.aeron_client.build` (needs cmake and a C++ compiler), "
        "or `bash scripts/install --aeron` in a checkout"
    )
_spec = importlib.util.spec_from_file_location(__name__, _path)
if _spec is None or _spec.loader is None:
    raise AeronUnavailableError(f"{_path} is not a loadable extension module; rebuild it with --force")
_binding = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_binding)
globals().update({name: value for name, value in vars(_binding).items() if not name.startswith("__")})
