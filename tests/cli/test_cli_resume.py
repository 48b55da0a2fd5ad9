"""``--resume``: a CLI stream carries on across cut connections, nothing lost or repeated (§3.14)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import Payload, RequestHandler, ResumeConfig
from reliability.fault_proxy import Fault, FaultProxy
from support.cli import CLI, TIMEOUT, run_cli

COUNT = 3000
CUT_EVERY = 600


class Numbers(RequestHandler):
    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(b"%d" % i)


async def test_re7_resume_flag_rides_out_cuts_in_a_stream() -> None:
    async with aiorsocket.serve(Numbers(), "tcp://127.0.0.1:0", resume=ResumeConfig()) as server:
        proxy = FaultProxy("127.0.0.1", server.port)
        await proxy.start()
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "stream",
            proxy.uri,
            "-d",
            str(COUNT),
            "--data-mime",
            "text",
            "--request-n",
            "64",
            "--resume",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        cuts = 0
        try:
            async with asyncio.timeout(TIMEOUT):
                while line := (await proc.stdout.readline()).decode():
                    lines.append(line.rstrip("\n"))
                    if len(lines) % CUT_EVERY == 0 and len(lines) < COUNT:
                        cuts += proxy.cut_all(Fault.RESET)
                _, stderr = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proxy.stop()
    assert proc.returncode == 0, stderr.decode()
    assert cuts == COUNT // CUT_EVERY - 1
    assert lines == [str(i) for i in range(COUNT)]


async def test_resume_lifetime_without_resume_is_a_usage_error() -> None:
    result = await run_cli("stream", "tcp://127.0.0.1:1", "--resume-lifetime", "5")
    assert result.returncode == 2
    assert "--resume-lifetime only applies to a resumable session" in result.stderr
    assert "--resume --resume-lifetime 30" in result.stderr
