"""Server processes and a real nginx on loopback, for the scale-out tests.

nginx (Debian's) runs in the foreground with its own config, pid and log files in a temporary
directory, on a listening socket the test opens and hands over (nginx's ``NGINX`` environment
variable), so there is no port race and no readiness polling: clients may connect before nginx is
up, the kernel queues them.  The system's nginx service is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
STOP_LIMIT = 10.0
"""Seconds a process gets to exit after being asked, before it is killed."""


async def start_server_process(script: Path, *args: str) -> tuple[asyncio.subprocess.Process, int]:
    """Run ``script`` with this interpreter; it prints ``READY <port>`` once listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args, stdout=asyncio.subprocess.PIPE, env={**os.environ}
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
    except TimeoutError:
        await stop_process(process)
        raise
    assert line.startswith(b"READY "), line
    return process, int(line.split()[1])


async def stop_process(process: asyncio.subprocess.Process, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send ``sig`` and wait for the exit; SIGKILL after ``STOP_LIMIT`` seconds."""
    if process.returncode is None:
        process.send_signal(sig)
        try:
            async with asyncio.timeout(STOP_LIMIT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is missing: `bash scripts/install --peers` installs nginx and libnginx-mod-stream")
    return found


@dataclass
class Nginx:
    port: int
    """Where it listens, on 127.0.0.1."""
    error_log: Path
    process: asyncio.subprocess.Process

    def tail(self) -> str:
        """The end of the error log, to explain a stalled phase."""
        return self.error_log.read_text()[-2000:] if self.error_log.exists() else ""

    async def quit(self) -> None:
        """Graceful shutdown (SIGQUIT): nginx finishes, and logs, every request it still has open."""
        await stop_process(self.process, signal.SIGQUIT)


@asynccontextmanager
async def nginx(workdir: Path, config: Callable[[int], str]) -> AsyncIterator[Nginx]:
    """A foreground nginx running ``config(listen_port)``, on a listening socket we opened.

    The config must ``listen 127.0.0.1:<listen_port>`` and write its pid under ``workdir``.
    """
    binary = nginx_binary()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    config_file = workdir / "nginx.conf"
    config_file.write_text(config(port))
    log = workdir / "error.log"
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    with listener, (workdir / "stderr.log").open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            binary,
            "-p",
            str(workdir),
            "-c",
            str(config_file),
            "-e",
            str(log),
            env={**os.environ, "NGINX": f"{fd};"},
            pass_fds=(fd,),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield Nginx(port, log, process)
    finally:
        await stop_process(process)
