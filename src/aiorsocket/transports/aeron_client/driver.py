"""Run an Aeron media driver (the C ``aeronmd`` that ``build.py`` makes) for development and tests.

    python -m aiorsocket.transports.aeron_client.driver [--dir DIR]

It runs in the foreground until Ctrl-C.  In production run ``aeronmd`` itself under a service
manager (see the README's Aeron section); this is the same binary with :data:`DEVELOPMENT`
settings, chosen for a shared machine rather than for the lowest latency: one driver thread
instead of three busy-spinning ones, log buffers that take memory only as they fill.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from . import _native
from .build import driver_path

#: Environment settings of the C driver (aeronmd reads only these) for development and tests.
DEVELOPMENT: Final[Mapping[str, str]] = {
    # The default is three threads, two of which busy-spin: two cores saturated by an idle driver.
    "AERON_THREADING_MODE": "SHARED",
    "AERON_SHARED_IDLE_STRATEGY": "sleeping",
    "AERON_TERM_BUFFER_SPARSE_FILE": "1",
    "AERON_DIR_DELETE_ON_START": "1",
}
#: Seconds a starting driver may take to publish its first heartbeat.
START_TIMEOUT: Final = 10.0


class DriverError(Exception):
    """The media driver did not start, or did not stop."""


class MediaDriver:
    """One ``aeronmd`` process owning ``directory``; a context manager that starts and stops it."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        settings: Mapping[str, str] | None = None,
        executable: Path | None = None,
    ) -> None:
        self.directory = str(directory)
        self.settings = {**DEVELOPMENT, **(settings or {})}
        self.executable = executable or driver_path()
        self._process: subprocess.Popen[bytes] | None = None
        # The driver's output, for errors; open as long as this object (closed by __exit__).
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> None:
        if not self.executable.exists():
            raise DriverError(
                f"no Aeron media driver at {self.executable}: build it with "
                "`python -m aiorsocket.transports.aeron_client.build` (or `bash scripts/install --aeron`)"
            )
        env = {**os.environ, **self.settings, "AERON_DIR": self.directory}
        self._process = subprocess.Popen(
            [str(self.executable)], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        # The driver says nothing when ready: its first heartbeat in cnc.dat is the sign.
        while _native.driver_heartbeat(self.directory) is None:
            if self._process.poll() is not None:
                raise DriverError(f"aeronmd exited with {self._process.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise DriverError(f"aeronmd did not start within {START_TIMEOUT:g} s: {self.output()}")
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (aeronmd's clean shutdown), then SIGKILL if it takes longer than ``timeout``."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DriverError(f"aeronmd did not stop within {timeout:g} s; killed") from None

    def kill(self) -> None:
        """Kill the driver at once, as a crash would: its cnc.dat stays behind, heartbeat frozen."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> MediaDriver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()


def main(argv: list[str] | None = None) -> int:
    from . import default_directory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", default=default_directory(), help="the driver directory (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    driver = MediaDriver(args.dir)
    driver.start()
    print(f"Aeron {_native.AERON_VERSION} media driver at {args.dir} (pid {driver.pid}); Ctrl-C stops it")
    # Blocked only now: the driver must not inherit a mask that blocks its own SIGINT.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        driver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
