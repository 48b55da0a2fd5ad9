"""A real Aeron media driver for tests: the C ``aeronmd`` that ``scripts/install`` builds.

A test that needs it fails (never skips) when it was not built, saying how to build it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest

from aiorsocket.transports.aeron_client.driver import MediaDriver

#: Liveness and linger timeouts of seconds, not Aeron's 5-10 s, so that ends are noticed quickly.
TEST_SETTINGS: Final = {
    "AERON_CLIENT_LIVENESS_TIMEOUT": str(2_000_000_000),
    "AERON_IMAGE_LIVENESS_TIMEOUT": str(2_000_000_000),
    "AERON_PUBLICATION_CONNECTION_TIMEOUT": str(2_000_000_000),
    "AERON_PUBLICATION_LINGER_TIMEOUT": str(500_000_000),
}


def require_built() -> None:
    """Fails the test, with the fix, when the driver or the binding is missing."""
    from aiorsocket.transports.aeron_client.build import binding_path, driver_path

    missing = [str(path) for path in (driver_path(), binding_path()) if not path.exists()]
    if missing:
        pytest.fail(
            f"the Aeron driver/binding is not built ({', '.join(missing)} missing): "
            "run `bash scripts/install --aeron` (scripts/test does)",
            pytrace=False,
        )


@contextmanager
def media_driver() -> Iterator[MediaDriver]:
    """A started driver in a fresh directory under /dev/shm."""
    require_built()

    parent = Path(tempfile.mkdtemp(prefix="aeron-test-", dir="/dev/shm"))
    try:
        with MediaDriver(parent / "driver", settings=TEST_SETTINGS) as driver:
            yield driver
    finally:
        shutil.rmtree(parent, ignore_errors=True)
