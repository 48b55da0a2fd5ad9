"""A TCP proxy that breaks connections on purpose: loopback only, seeded, bounded.

It sits between a client and a server and forwards bytes both ways.  Each
connection it accepts draws, from one ``random.Random(seed)``, how many bytes
(counted over both directions) it carries before its fault, and which fault:

* ``CUT``: forward exactly that many bytes, then close both sides (a FIN).
  The count is in bytes, not frames, so most cuts land in the middle of a frame.
* ``RESET``: the same, but the sockets go with SO_LINGER 0: an RST, no FIN.
* ``STALL``: stop forwarding both ways for a while, then carry on with the
  same bytes (nothing lost, nothing reordered) towards a newly drawn fault.

Injection is bounded: at most ``max_faults`` faults, and none once
``max_duration`` seconds have passed since :meth:`FaultProxy.start`; after that
the proxy only forwards.  :meth:`FaultProxy.cut_all` breaks every live
connection on demand, outside that budget; :meth:`FaultProxy.swallow_all` before it
makes sure that what is in flight at that moment is lost.  :meth:`FaultProxy.blackhole_all`
makes every live connection go silent for good without ending: nothing more gets
through, not even a FIN or an RST, so only the endpoints' own timeouts notice.
Draws happen as connections start and as stalls strike, in that order; with one
connection at a time, a run with the same seed and the same traffic gets the same
faults at the same byte offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType

READ_SIZE = 64 * 1024


class Fault(Enum):
    CUT = "cut"
    RESET = "reset"
    STALL = "stall"


@dataclass(frozen=True)
class FaultPlan:
    """What to break and how often; every range is inclusive and drawn uniformly."""

    seed: int = 0
    cut_after: tuple[int, int] = (1, 64 * 1024)
    """Bytes a connection carries (both ways together) before its next fault."""
    weights: Mapping[Fault, float] = field(
        default_factory=lambda: {Fault.CUT: 1.0, Fault.RESET: 1.0, Fault.STALL: 1.0}
    )
    stall_for: tuple[float, float] = (0.01, 0.2)
    """Seconds a stall holds both directions."""
    max_faults: int = 100
    max_duration: float = 60.0

    def __post_init__(self) -> None:
        low, high = self.cut_after
        if not 1 <= low <= high:
            raise ValueError(f"cut_after must be a range 1 <= low <= high, not {self.cut_after}")
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, not {self.weights}")
        if not 0 <= self.stall_for[0] <= self.stall_for[1]:
            raise ValueError(f"stall_for must be a range 0 <= low <= high, not {self.stall_for}")
        if self.max_faults < 0 or self.max_duration < 0:
            raise ValueError("max_faults and max_duration bound the run: both must be >= 0")


@dataclass(frozen=True)
class FaultRecord:
    connection: int
    """Which accepted connection, from 1."""
    fault: Fault
    offset: int
    """Bytes the connection had carried (both ways) when the fault struck."""


@dataclass
class ProxyStats:
    connections: int = 0
    """Connections accepted."""
    disconnects_forced: int = 0
    """Connections the proxy broke: planned cuts and resets, and those :meth:`FaultProxy.cut_all` broke."""
    stalls: int = 0
    bytes_up: int = 0
    """Client to server."""
    bytes_down: int = 0
    """Server to client."""
    swallowed_up: int = 0
    """Client to server, read by the proxy and never forwarded (see :meth:`FaultProxy.swallow_all`)."""
    swallowed_down: int = 0
    """Server to client, likewise."""
    withheld_ends: int = 0
    """FINs and RSTs that blackholed connections kept from the other side (see ``blackhole_all``)."""
    faults: list[FaultRecord] = field(default_factory=list)
    """Planned faults, in order; at most ``max_faults`` of them."""


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the fault proxy only works on loopback, not {host!r}")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN, dropping anything unsent."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One proxied connection: two pumps, a shared byte count and the next fault."""

    def __init__(
        self,
        proxy: FaultProxy,
        number: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.number = number
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.carried = 0
        self.fault_at: int | None = None
        self.fault: Fault | None = None
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.broken = False
        self.swallowing = False
        self.blackholed = False
        self.tasks: list[asyncio.Task[None]] = []

    def plan_next(self) -> None:
        self.fault, self.fault_at = self.proxy._draw(self.carried)

    async def run(self) -> None:
        self.plan_next()
        self.tasks = [
            asyncio.ensure_future(self._pump(self.client_reader, self.server_writer, up=True)),
            asyncio.ensure_future(self._pump(self.server_reader, self.client_writer, up=False)),
        ]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            for writer in (self.client_writer, self.server_writer):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        try:
            while not self.broken:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    if self.blackholed:
                        self.proxy._withheld()  # a dead path carries no FIN either
                        return
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                while chunk:
                    await self.flowing.wait()
                    if self.broken:
                        return
                    if self.swallowing or self.blackholed:
                        self.proxy._swallowed(len(chunk), up=up)
                        break
                    chunk = self._forward(chunk, writer, up=up)
                    if self.broken:
                        return
                    await writer.drain()
        except OSError:
            if self.blackholed:
                self.proxy._withheld()  # a dead path carries no RST either
                return
            # One side reset: pass it on as a reset, as a real network path would.
            self.break_link(Fault.RESET)

    def _forward(self, chunk: bytes, writer: asyncio.StreamWriter, *, up: bool) -> bytes:
        """Write what may go before the fault; strike the fault there; return the rest."""
        room = len(chunk) if self.fault_at is None else self.fault_at - self.carried
        head, rest = chunk[:room], chunk[room:]
        writer.write(head)
        self.carried += len(head)
        if up:
            self.proxy.stats.bytes_up += len(head)
        else:
            self.proxy.stats.bytes_down += len(head)
        if self.fault_at is not None and self.carried >= self.fault_at:
            fault = self.fault
            assert fault is not None
            self.proxy._record(self.number, fault, self.carried)
            if fault is Fault.STALL:
                self._stall()
            else:
                self.break_link(fault)
        return rest

    def _stall(self) -> None:
        self.proxy.stats.stalls += 1
        self.flowing.clear()
        loop = asyncio.get_running_loop()
        loop.call_later(self.proxy._stall_time(), self._resume)
        self.plan_next()

    def _resume(self) -> None:
        self.flowing.set()

    def break_link(self, fault: Fault) -> bool:
        if self.broken:
            return False
        self.broken = True
        self.flowing.set()  # wake a stalled pump so that it sees the break
        for writer in (self.client_writer, self.server_writer):
            if fault is Fault.RESET:
                _reset(writer)
            else:
                writer.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        return True


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``target`` and break connections as ``plan`` says.

    Without a plan it only forwards (and counts).  Use as an async context manager,
    or :meth:`start` and :meth:`stop`.
    """

    def __init__(self, target_host: str, target_port: int, plan: FaultPlan | None = None) -> None:
        _require_loopback(target_host)
        self.target = (target_host, target_port)
        self.plan = plan
        self.stats = ProxyStats()
        self._rng = random.Random(plan.seed if plan is not None else 0)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadline = 0.0
        self._injecting = plan is not None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        loop = asyncio.get_running_loop()
        if self.plan is not None:
            self._deadline = loop.time() + self.plan.max_duration
        self._server = await asyncio.start_server(self._accept, host, port)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the proxy first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop listening and drop every connection (with a FIN)."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.break_link(Fault.CUT)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ control

    @property
    def active(self) -> int:
        """Connections open through the proxy now."""
        return len(self._links)

    def stop_faults(self) -> None:
        """Forward faithfully from now on (the stalls in progress still end on time)."""
        self._injecting = False
        for link in self._links:
            link.fault = link.fault_at = None

    def cut_all(self, fault: Fault = Fault.RESET) -> int:
        """Break every live connection now (CUT or RESET); returns how many."""
        if fault is Fault.STALL:
            raise ValueError("cut_all breaks connections: use Fault.CUT or Fault.RESET")
        broken = sum(1 for link in list(self._links) if link.break_link(fault))
        self.stats.disconnects_forced += broken
        self._notify()
        return broken

    def swallow_all(self) -> int:
        """From now on, read and drop what either side of every live connection sends; returns how many.

        Nothing more is forwarded on those connections, so whatever either side sends from now
        until :meth:`cut_all` breaks them is certainly lost, rather than possibly delivered
        before the break.  Dropped bytes are counted in ``swallowed_up`` and ``swallowed_down``.
        """
        swallowing = 0
        for link in self._links:
            if not link.broken:
                link.swallowing = True
                swallowing += 1
        return swallowing

    def blackhole_all(self) -> int:
        """From now on, let nothing through on every live connection, ends included; returns how many.

        Like :meth:`swallow_all`, what either side sends is read and dropped (and counted in
        ``swallowed_up`` and ``swallowed_down``); unlike it, a FIN or an RST from one side is not
        passed on either.  Each connection goes silent without ending, as behind a router that
        died: only the endpoints' own timeouts (or :meth:`cut_all`, or :meth:`stop`) end it.
        """
        blackholed = 0
        for link in self._links:
            if not link.broken:
                link.blackholed = True
                blackholed += 1
        return blackholed

    async def wait_swallowed(self, *, up: int = 0, down: int = 0) -> None:
        """Return once at least ``up`` and ``down`` bytes have been swallowed in all."""
        while self.stats.swallowed_up < up or self.stats.swallowed_down < down:
            self._changed.clear()
            await self._changed.wait()

    async def wait_disconnects(self, count: int) -> None:
        """Return once the proxy has forced ``count`` disconnects in all."""
        while self.stats.disconnects_forced < count:
            self._changed.clear()
            await self._changed.wait()

    async def wait_connections(self, count: int) -> None:
        """Return once ``count`` connections have been accepted in all."""
        while self.stats.connections < count:
            self._changed.clear()
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    def _swallowed(self, count: int, *, up: bool) -> None:
        if up:
            self.stats.swallowed_up += count
        else:
            self.stats.swallowed_down += count
        self._notify()

    def _withheld(self) -> None:
        self.stats.withheld_ends += 1
        self._notify()

    async def wait_withheld(self, count: int) -> None:
        """Return once blackholed connections have kept ``count`` FINs or RSTs to themselves in all."""
        while self.stats.withheld_ends < count:
            self._changed.clear()
            await self._changed.wait()

    # ------------------------------------------------------------------ the plan

    def _budget_left(self) -> bool:
        plan = self.plan
        return (
            self._injecting
            and plan is not None
            and len(self.stats.faults) < plan.max_faults
            and asyncio.get_running_loop().time() < self._deadline
        )

    def _draw(self, carried: int) -> tuple[Fault | None, int | None]:
        """The next fault of a connection that has carried ``carried`` bytes, and where it strikes."""
        plan = self.plan
        if plan is None or not self._budget_left():
            return None, None
        faults = list(plan.weights)
        fault = self._rng.choices(faults, weights=[plan.weights[f] for f in faults])[0]
        return fault, carried + self._rng.randint(*plan.cut_after)

    def _stall_time(self) -> float:
        assert self.plan is not None
        return self._rng.uniform(*self.plan.stall_for)

    def _record(self, connection: int, fault: Fault, offset: int) -> None:
        self.stats.faults.append(FaultRecord(connection, fault, offset))
        if fault is not Fault.STALL:
            self.stats.disconnects_forced += 1
        self._notify()

    # ------------------------------------------------------------------ connections

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        number = self.stats.connections
        self._notify()
        try:
            try:
                upstream = await asyncio.open_connection(*self.target)
            except OSError:
                # Nothing to proxy to: the client sees the server's refusal as a closed connection.
                writer.close()
                return
            link = _Link(self, number, (reader, writer), upstream)
            self._links.add(link)
            try:
                await link.run()
            finally:
                self._links.discard(link)
                self._notify()
        finally:
            self._tasks.discard(task)
