"""``aiorsocket serve``: a real process serving an app, shut down by signals, with workers, TLS and limits.

Every wait reads the process's own output (its "serving" and "shutting down" lines) or awaits the
connection; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.app import Requester
from aiorsocket.cli.serve import EXIT_BAD_APP, EXIT_BIND, EXIT_OK, EXIT_TLS, EXIT_USAGE, announce_serving
from aiorsocket.errors import (
    ConnectionCloseError,
    ConnectionLostError,
    LocalProtocolError,
    RejectedError,
    RejectedSetupError,
)
from aiorsocket.transports.tls import TLSConfig
from reliability.fault_proxy import FaultProxy
from support.certs import make_pki

APPS: Final = Path(__file__).resolve().parent / "cli_apps"
SERVING: Final = re.compile(r"aiorsocket: serving \S+ on (.+) \(pid (\d+)\)")
TIMEOUT: Final = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServeProcess:
    """``aiorsocket serve`` in a subprocess, read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr_lines: list[str] = []
        self.stdout_rest = ""
        """What stdout still held when the process exited (read by :meth:`exit_code`)."""

    @classmethod
    async def start(cls, *args: str) -> ServeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aiorsocket.cli.main",
            "serve",
            *args,
            "--app-dir",
            str(APPS),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def stdout_match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(TIMEOUT):
                while line := (await self.proc.stdout.readline()).decode():
                    found = pattern.search(line)
                    if found is not None:
                        return found
            problem = "stdout ended"
        except TimeoutError:
            problem = f"nothing matched on stdout for {TIMEOUT:.0f} s"
        await self.kill()
        stdout = await self.rest_after_kill(self.proc.stdout, "stdout")
        self.stderr_lines.append(await self.rest_after_kill(self.proc.stderr, "stderr"))
        stderr = "".join(self.stderr_lines)
        raise AssertionError(
            f"{problem} without {pattern.pattern!r}; stdout left: {stdout!r}; stderr: {stderr}"
        )

    async def stderr_line(self, text: str) -> str:
        assert self.proc.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            while line := (await self.proc.stderr.readline()).decode():
                self.stderr_lines.append(line)
                if text in line:
                    return line
        raise AssertionError(f"stderr ended without {text!r}: {''.join(self.stderr_lines)}")

    async def stderr_rest(self) -> str:
        """Everything the process wrote to stderr, once it has exited."""
        await self.exit_code()
        return "".join(self.stderr_lines)

    async def serving(self) -> tuple[str, int]:
        """The first URI served and the pid of the process serving it."""
        uris, pid = await self.serving_all()
        return uris[0], pid

    async def serving_all(self) -> tuple[list[str], int]:
        found = await self.stdout_match(SERVING)
        return found.group(1).split(" "), int(found.group(2))

    async def exit_code(self) -> int:
        if self.proc.returncode is None:
            async with asyncio.timeout(TIMEOUT):
                stdout, stderr = await self.proc.communicate()
            self.stdout_rest = stdout.decode() if stdout is not None else ""
            self.stderr_lines.append(stderr.decode())
        assert self.proc.returncode is not None
        return self.proc.returncode

    @staticmethod
    async def rest_after_kill(stream: asyncio.StreamReader | None, name: str) -> str:
        """What is left on ``stream`` of a killed process (a worker may hold the pipe a while)."""
        assert stream is not None
        try:
            async with asyncio.timeout(10):
                return (await stream.read()).decode()
        except TimeoutError:
            return f"[{name} still open 10 s after the kill]"

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def running() -> AsyncIterator[list[ServeProcess]]:
    """Processes a test starts; any still running at the end are killed."""
    processes: list[ServeProcess] = []
    yield processes
    for process in processes:
        await process.kill()


async def start(running: list[ServeProcess], *args: str) -> ServeProcess:
    process = await ServeProcess.start(*args)
    running.append(process)
    return process


async def run_to_exit(*args: str) -> tuple[int, str]:
    process = await ServeProcess.start(*args)
    code = await process.exit_code()
    return code, await process.stderr_rest()


# --- clear messages and exit codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:app", "cannot import module 'no_such_module'"),
        ("serve_app:nope", "module 'serve_app' has no attribute 'nope'"),
        ("serve_app:not_an_app", "serve_app:not_an_app is a int, not a Router"),
        ("serve_app:Echo", "is a RequestHandler class; point at an instance"),
        ("broken_app:app", "importing 'broken_app' failed: RuntimeError: the database is not configured"),
        ("serve_app", "expected MODULE:ATTRIBUTE"),
    ],
)
async def test_a_bad_app_path_exits_3_with_what_is_wrong(target: str, message: str) -> None:
    code, stderr = await run_to_exit(target, "--uri", "tcp://127.0.0.1:0")
    assert code == EXIT_BAD_APP
    assert message in stderr


async def test_a_busy_port_exits_4_naming_the_uri() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = await run_to_exit("serve_app:app", "--uri", f"tcp://127.0.0.1:{port}")
    assert code == EXIT_BIND
    assert f"cannot listen on tcp://127.0.0.1:{port}" in stderr


async def test_a_bad_certificate_exits_5(tmp_path: Path) -> None:
    garbage = tmp_path / "cert.pem"
    garbage.write_text("not a certificate")
    code, stderr = await run_to_exit(
        "serve_app:app", "--uri", "tls://127.0.0.1:0", "--tls-cert", str(garbage)
    )
    assert code == EXIT_TLS
    assert f"cannot load certificate {str(garbage)!r}" in stderr
    code, stderr = await run_to_exit("serve_app:app", "--tls-cert", str(tmp_path / "missing.pem"))
    assert code == EXIT_TLS
    assert "no such file" in stderr


async def test_workers_need_a_fixed_tcp_port() -> None:
    code, stderr = await run_to_exit("serve_app:app", "--workers", "2", "--uri", "tcp://127.0.0.1:0")
    assert code == EXIT_USAGE
    assert "needs a fixed port" in stderr


# --- serving and graceful shutdown -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["serve_app:app", "serve_app:handler", "serve_app:create_app"])
async def test_serves_a_router_a_handler_instance_or_a_factory(
    running: list[ServeProcess], target: str
) -> None:
    args = [target, "--uri", "tcp://127.0.0.1:0"] + (["--factory"] if target.endswith("create_app") else [])
    process = await start(running, *args)
    address, pid = await process.serving()
    if target == "serve_app:handler":
        async with aiorsocket.connect(address) as rs:
            assert (await rs.request_response(Payload(b"x"))).data == b"echo:x"
    else:
        async with Requester.connect(address) as requester:
            assert await requester.route("pid").retrieve(int) == pid
    process.signal(signal.SIGTERM)
    assert await process.exit_code() == EXIT_OK


async def test_sigterm_drains_open_streams_then_exits(running: list[ServeProcess]) -> None:
    """Stop accepting, tell the peer with ERROR[CONNECTION_CLOSE], let the open stream finish, exit 0."""
    process = await start(running, "serve_app:app", "--uri", "tcp://127.0.0.1:0", "--grace", "20")
    address, _ = await process.serving()
    async with Requester.connect(address) as requester:
        stream = requester.route("count.50").retrieve_stream(int, limit_rate=1)
        assert await anext(stream) == 0
        process.signal(signal.SIGTERM)
        await process.stderr_line("shutting down")
        with pytest.raises(ConnectionRefusedError):
            await aiorsocket.connect(address)
        # Refused by the closing server (REJECTED), or already by our side once its
        # ERROR[CONNECTION_CLOSE] has arrived: either way no new request is served.
        with pytest.raises((RejectedError, ConnectionCloseError, LocalProtocolError)):
            await requester.route("pid").retrieve(int)
        assert [item async for item in stream] == list(range(1, 50))
        await requester.wait_closed()
    assert await process.exit_code() == EXIT_OK


async def test_streams_still_open_after_the_grace_period_are_cut(running: list[ServeProcess]) -> None:
    process = await start(running, "serve_app:app", "--uri", "tcp://127.0.0.1:0", "--grace", "0.2")
    address, _ = await process.serving()
    async with Requester.connect(address) as requester:
        stream = requester.route("count.1000").retrieve_stream(int, limit_rate=1)
        assert await anext(stream) == 0
        process.signal(signal.SIGTERM)
        assert await process.exit_code() == EXIT_OK
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises((ConnectionLostError, ConnectionCloseError)):
                await stream.collect()


async def test_a_second_signal_closes_at_once(running: list[ServeProcess]) -> None:
    process = await start(running, "serve_app:app", "--uri", "tcp://127.0.0.1:0", "--grace", "600")
    address, _ = await process.serving()
    async with Requester.connect(address) as requester:
        stream = requester.route("count.1000").retrieve_stream(int, limit_rate=1)
        assert await anext(stream) == 0
        process.signal(signal.SIGTERM)
        await process.stderr_line("shutting down")
        process.signal(signal.SIGINT)
        assert await process.exit_code() == EXIT_OK
    assert "second signal" in await process.stderr_rest()


async def test_several_uris_and_tls_with_a_verified_certificate(
    running: list[ServeProcess], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    process = await start(
        running,
        "serve_app:app",
        "--uri",
        "tcp://127.0.0.1:0",
        "--uri",
        "tls://127.0.0.1:0",
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
    )
    (plain, secure), pid = await process.serving_all()
    assert plain.startswith("tcp://")
    assert secure.startswith("tls://")
    async with Requester.connect(secure, ssl=TLSConfig(cafile=pki.ca)) as requester:
        assert await requester.route("pid").retrieve(int) == pid
    async with Requester.connect(plain) as requester:
        assert await requester.route("pid").retrieve(int) == pid


async def test_limits_refuse_setups_past_max_connections_and_keepalive(running: list[ServeProcess]) -> None:
    process = await start(
        running,
        "serve_app:app",
        "--uri",
        "tcp://127.0.0.1:0",
        "--max-connections",
        "1",
        "--max-lifetime",
        "100",
    )
    address, pid = await process.serving()
    async with Requester.connect(address) as first:
        assert await first.route("pid").retrieve(int) == pid
        with pytest.raises(RejectedSetupError, match="limit of 1 connections"):
            async with Requester.connect(address) as second:
                await second.route("pid").retrieve(int)
    with pytest.raises(RejectedSetupError, match="max lifetime 200000 ms is over this server's 100000 ms"):
        async with Requester.connect(address, max_lifetime=200) as greedy:
            await greedy.route("pid").retrieve(int)


async def test_access_log_and_prometheus_metrics_endpoint(running: list[ServeProcess]) -> None:
    metrics_port = free_port()
    process = await start(
        running,
        "serve_app:app",
        "--uri",
        "tcp://127.0.0.1:0",
        "--access-log",
        "--metrics-port",
        str(metrics_port),
    )
    address, pid = await process.serving()
    async with Requester.connect(address) as requester:
        assert await requester.route("pid").retrieve(int) == pid
    await process.stderr_line("request/response pid ok")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(scrape)
    assert 'aiorsocket_requests_total{interaction="request_response",outcome="ok",route="pid"} 1.0' in text


# --- workers ------------------------------------------------------------------------------------------


async def pids_answering(uri: str, count: int, *, besides: tuple[int, ...] = ()) -> set[int]:
    """The pids of ``count`` workers answering on ``uri``, found over new connections, which
    SO_REUSEPORT spreads over the workers by their source ports: proof that each worker serves
    the shared port, not only that it says so."""
    found: set[int] = set()
    for _ in range(400):
        try:
            async with Requester.connect(uri) as requester:
                pid = await requester.route("pid").retrieve(int)
        except (OSError, ConnectionLostError):
            await asyncio.sleep(0.02)  # not listening yet, or a worker just died: ask again
            continue
        if pid not in besides:
            found.add(pid)
        if len(found) == count:
            return found
    raise AssertionError(f"only {sorted(found)} answered on {uri} after 400 connections")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def test_workers_share_the_port_and_a_dead_worker_is_restarted(running: list[ServeProcess]) -> None:
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    process = await start(running, "serve_app:app", "--uri", uri, "--workers", "2")
    supervisor = process.proc.pid
    async with asyncio.timeout(TIMEOUT):
        first, second = await pids_answering(uri, 2)
        assert parent_of(first) == parent_of(second) == supervisor
        os.kill(first, signal.SIGKILL)
        (restarted,) = await pids_answering(uri, 1, besides=(first, second))
        assert parent_of(restarted) == supervisor
    process.signal(signal.SIGTERM)
    assert await process.exit_code() == EXIT_OK
    serving = {int(found.group(2)): found.group(1) for found in SERVING.finditer(process.stdout_rest)}
    assert serving == {first: uri, second: uri, restarted: uri}
    assert re.search(rf"worker \d \(pid {first}\) exited with -9; restarting it", await process.stderr_rest())


async def test_a_worker_that_cannot_start_stops_the_supervisor_with_its_exit_code() -> None:
    code, stderr = await run_to_exit(
        "no_such_module:app", "--uri", f"tcp://127.0.0.1:{free_port()}", "--workers", "2"
    )
    assert code == EXIT_BAD_APP
    assert "cannot import module 'no_such_module'" in stderr


# --- the demo ----------------------------------------------------------------------------------------


async def test_aiorsocket_demo_runs_every_interaction_model_and_passes_its_checks() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiorsocket.cli.main", "demo", stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        stdout, _ = await proc.communicate()
    report = stdout.decode()
    assert proc.returncode == 0, report
    for model in (
        "request/response",
        "request/stream",
        "request/channel",
        "fire-and-forget",
        "metadata push",
    ):
        assert model in report
    assert "server -> client" in report
    assert "every check passed" in report
    assert "FAIL" not in report


async def test_client_certificates_required_with_tls_ca(running: list[ServeProcess], tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    process = await start(
        running,
        "serve_app:app",
        "--uri",
        "tls://127.0.0.1:0",
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        "--tls-ca",
        str(pki.ca),
        "--tls-client-cert-required",
    )
    address, pid = await process.serving()
    with_cert = TLSConfig(cafile=pki.ca, certfile=pki.client_cert, keyfile=pki.client_key)
    async with Requester.connect(address, ssl=with_cert) as requester:
        assert await requester.route("pid").retrieve(int) == pid
    with pytest.raises((ConnectionLostError, OSError)):
        async with Requester.connect(address, ssl=TLSConfig(cafile=pki.ca)) as anonymous:
            await anonymous.route("pid").retrieve(int)


async def test_re6_resume_lifetime_lets_clients_resume_through_cuts(running: list[ServeProcess]) -> None:
    process = await start(running, "serve_app:app", "--uri", "tcp://127.0.0.1:0", "--resume-lifetime", "30")
    uri, _ = await process.serving()
    proxy = FaultProxy("127.0.0.1", int(uri.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        async with Requester.connect(proxy.uri, resume=aiorsocket.ResumeConfig()) as requester:
            received = []
            async for item in requester.route("count.3000").retrieve_stream(int, limit_rate=64):
                received.append(item)
                if len(received) in (1000, 2000):
                    assert proxy.cut_all() == 1
            assert received == list(range(3000))
            stats = requester.rsocket.resume_stats
            assert stats is not None
            assert stats.resumes == 2
    finally:
        await proxy.stop()


class _Writes(io.RawIOBase):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(self.chunks[-1])


def test_the_serving_line_is_one_write_so_workers_sharing_stdout_never_interleave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under PYTHONUNBUFFERED stdout writes through: print() would send the text and its newline
    in two writes, and two workers' lines came out as one line with the other's text inside."""
    writes = _Writes()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(writes, write_through=True))
    announce_serving("serve_app:app", ["tcp://127.0.0.1:7878"])
    assert writes.chunks == [
        f"aiorsocket: serving serve_app:app on tcp://127.0.0.1:7878 (pid {os.getpid()})\n".encode()
    ]
