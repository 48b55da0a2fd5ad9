"""``aiorsocket serve module:app``: run an RSocket app the way uvicorn runs an ASGI app.

The app is a :class:`~aiorsocket.app.Router`, a :class:`~aiorsocket.RequestHandler`
instance or an acceptor function.  SIGTERM or SIGINT shuts down gracefully:
listeners close, every connection gets ERROR[CONNECTION_CLOSE], open streams
have ``--grace`` seconds to finish, then everything closes; a second signal
closes at once.

``--workers N`` runs N worker processes sharing the listening ports through
SO_REUSEPORT; the supervisor restarts a worker that dies and stops when one
fails for a reason a restart cannot fix (bad app, busy port, bad certificate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import ssl
import sys
import time
import traceback
from typing import Any, Final
from urllib.parse import urlsplit

from ..app import LoggingInterceptor, PrometheusMetrics, Router, start_metrics_server
from ..errors import LocalProtocolError, RejectedSetupError
from ..handler import ConnectionSetup, RequestHandler
from ..resume import ResumeConfig
from ..server import Server, serve
from ..session import Acceptor, RSocket
from ..transports.tls import TLSConfig

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_BAD_APP: Final = 3
EXIT_BIND: Final = 4
EXIT_TLS: Final = 5
#: Worker exits a restart cannot fix: the supervisor stops and reports them.
_FATAL_EXITS: Final = frozenset({EXIT_USAGE, EXIT_BAD_APP, EXIT_BIND, EXIT_TLS})

#: A worker dying this many times within _RESTART_WINDOW seconds makes the supervisor give up.
_MAX_RESTARTS: Final = 5
_RESTART_WINDOW: Final = 60.0

DEFAULT_URI: Final = "tcp://127.0.0.1:7878"
_REUSE_PORT_SCHEMES: Final = frozenset({"tcp", "tls", "tcp+tls", "ws", "wss"})

logger = logging.getLogger("aiorsocket.serve")

_EPILOG = """\
exit codes:
  0  stopped by SIGTERM/SIGINT      3  the app cannot be imported or is not an app
  1  workers kept crashing          4  a URI cannot be bound (port busy, no permission)
  2  bad command line               5  TLS certificate, key or CA cannot be used

examples:
  aiorsocket serve myservice:app --uri tcp://0.0.0.0:7878 --uri ws://0.0.0.0:8080/rsocket
  aiorsocket serve myservice:app --uri tls://0.0.0.0:7443 --tls-cert cert.pem --tls-key key.pem
  aiorsocket serve myservice:create_app --factory --workers 4 --uri tcp://0.0.0.0:7878
"""


class AppLoadError(Exception):
    """MODULE:ATTRIBUTE does not lead to something that can serve."""


def add_serve_command(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run an RSocket app (a Router, a RequestHandler or an acceptor)",
        description="Serve MODULE:ATTRIBUTE on one or more URIs until SIGTERM or SIGINT.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("app", metavar="MODULE:ATTRIBUTE", help="e.g. myservice:app")
    parser.add_argument(
        "--uri",
        action="append",
        dest="uris",
        metavar="URI",
        help=f"where to listen (repeatable): tcp, tls, ws, wss, unix... (default {DEFAULT_URI})",
    )
    parser.add_argument("--factory", action="store_true", help="ATTRIBUTE is a function returning the app")
    parser.add_argument(
        "--app-dir", default=".", help="directory put first on sys.path to import MODULE (default: .)"
    )
    tls = parser.add_argument_group("TLS (for tls://, wss:// and quic:// URIs)")
    tls.add_argument("--tls-cert", metavar="FILE", help="server certificate chain (PEM)")
    tls.add_argument("--tls-key", metavar="FILE", help="its private key (PEM); default: in --tls-cert")
    tls.add_argument("--tls-ca", metavar="FILE", help="CA that signs client certificates (asks for one)")
    tls.add_argument(
        "--tls-client-cert-required", action="store_true", help="refuse clients without a valid certificate"
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-connections", type=_positive_int, metavar="N", help="refuse SETUPs beyond N")
    limits.add_argument(
        "--max-keepalive-interval",
        type=_positive_float,
        metavar="SECONDS",
        help="refuse SETUPs asking for a longer keepalive interval",
    )
    limits.add_argument(
        "--max-lifetime",
        type=_positive_float,
        metavar="SECONDS",
        help="refuse SETUPs whose max lifetime is longer (how long a dead client may hold a connection)",
    )
    limits.add_argument(
        "--fragment-size", type=int, default=0, metavar="BYTES", help="fragment larger frames"
    )
    limits.add_argument(
        "--max-frame-size", type=_positive_int, metavar="BYTES", help="largest frame accepted"
    )
    limits.add_argument(
        "--max-inbound-payload", type=_positive_int, metavar="BYTES", help="largest reassembled payload"
    )
    parser.add_argument(
        "--resume-lifetime",
        type=_positive_float,
        metavar="SECONDS",
        help=(
            "let clients resume their sessions (RESUME), keeping a detached one this long; with "
            "--workers a RESUME reaches the worker holding its session only by chance (docs/scale-out.md)"
        ),
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, metavar="SECONDS", help="time open streams get at shutdown"
    )
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="worker processes")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="default: info",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (Router apps)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus /metrics on PORT (worker i uses PORT+i); needs aiorsocket[prometheus]",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for /metrics (default 127.0.0.1)"
    )
    # Set by the supervisor for its workers.
    parser.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run_serve)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _fail(code: int, message: str) -> int:
    print(f"aiorsocket serve: {message}", file=sys.stderr, flush=True)
    return code


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    uris: list[str] = args.uris or [DEFAULT_URI]
    if args.workers > 1:
        problem = _workers_problem(uris)
        if problem is not None:
            return _fail(EXIT_USAGE, problem)
    try:
        tls = _tls_config(args)
    except (LocalProtocolError, ssl.SSLError, OSError) as exc:
        return _fail(EXIT_TLS, f"bad TLS configuration: {exc}")
    if args.workers > 1:
        return asyncio.run(_Supervisor(args, uris).run())
    try:
        app = load_app(args.app, app_dir=args.app_dir, factory=args.factory)
    except AppLoadError as exc:
        return _fail(EXIT_BAD_APP, str(exc))
    with asyncio.Runner(loop_factory=_ReusePortLoop if args.worker_index is not None else None) as runner:
        return runner.run(_serve(app, args, uris, tls))


def _workers_problem(uris: list[str]) -> str | None:
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in _REUSE_PORT_SCHEMES:
            return f"--workers > 1 shares TCP ports only (tcp, tls, ws, wss); {uri} cannot be shared"
        try:
            port = parts.port
        except ValueError:
            return f"bad port in {uri}"
        if not port:
            return f"--workers > 1 needs a fixed port in {uri}: every worker must bind the same one"
    return None


def _tls_config(args: argparse.Namespace) -> TLSConfig | None:
    if args.tls_cert is None:
        if args.tls_key or args.tls_ca or args.tls_client_cert_required:
            raise LocalProtocolError("--tls-key, --tls-ca and --tls-client-cert-required need --tls-cert")
        return None
    config = TLSConfig(
        certfile=args.tls_cert,
        keyfile=args.tls_key,
        cafile=args.tls_ca,
        require_client_cert=args.tls_client_cert_required,
    )
    # Load everything now, so a bad file fails here with its name instead of at the first handshake.
    config.server_context()
    return config


def load_app(spec: str, *, app_dir: str = ".", factory: bool = False) -> RequestHandler | Acceptor:
    """Import ``MODULE:ATTRIBUTE`` and check that it can serve."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(f"expected MODULE:ATTRIBUTE (e.g. myservice:app), got {spec!r}")
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise AppLoadError(
                f"cannot import module {module_name!r} (looked in {path} and sys.path)"
            ) from None
        raise AppLoadError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        detail = "".join(traceback.format_exception(exc)[-3:]).strip()
        raise AppLoadError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}\n{detail}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if factory:
        if not callable(target):
            raise AppLoadError(f"{spec} is not callable, so --factory cannot call it")
        try:
            target = target()
        except Exception as exc:
            raise AppLoadError(f"the factory {spec} failed: {type(exc).__name__}: {exc}") from None
    if isinstance(target, type) and issubclass(target, RequestHandler):
        raise AppLoadError(f"{spec} is a RequestHandler class; point at an instance (or use --factory)")
    if isinstance(target, RequestHandler) or callable(target):
        served: RequestHandler | Acceptor = target
        return served
    raise AppLoadError(
        f"{spec} is a {type(target).__name__}, not a Router, a RequestHandler instance or an acceptor"
    )


class _ReusePortLoop(asyncio.SelectorEventLoop):
    """Every TCP listener of a worker shares its port with the sibling workers (SO_REUSEPORT).

    Done at the loop, which the worker process owns, so every TCP-based transport
    (tcp, tls, ws, wss) gets it without each growing an option of its own.
    """

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        kwargs["reuse_port"] = True
        return await super().create_server(*args, **kwargs)


class _Limits:
    """Refuses SETUPs past the connection limit or asking for keepalive timings the server will not hold."""

    def __init__(
        self,
        app: RequestHandler | Acceptor,
        *,
        max_connections: int | None,
        max_keepalive_interval: float | None,
        max_lifetime: float | None,
    ) -> None:
        self._app = app
        self._max_connections = max_connections
        self._max_keepalive_ms = None if max_keepalive_interval is None else max_keepalive_interval * 1000
        self._max_lifetime_ms = None if max_lifetime is None else max_lifetime * 1000
        self._open = 0

    async def __call__(self, setup: ConnectionSetup, rsocket: RSocket) -> RequestHandler | None:
        frame = setup.setup
        if self._max_keepalive_ms is not None and frame.keepalive_interval > self._max_keepalive_ms:
            raise RejectedSetupError(
                f"keepalive interval {frame.keepalive_interval} ms is over this server's "
                f"{self._max_keepalive_ms:.0f} ms"
            )
        if self._max_lifetime_ms is not None and frame.max_lifetime > self._max_lifetime_ms:
            raise RejectedSetupError(
                f"max lifetime {frame.max_lifetime} ms is over this server's {self._max_lifetime_ms:.0f} ms"
            )
        if self._max_connections is not None and self._open >= self._max_connections:
            raise RejectedSetupError(f"server is at its limit of {self._max_connections} connections")
        app = self._app
        handler = app if isinstance(app, RequestHandler) else await app(setup, rsocket)
        self._open += 1
        closed = asyncio.ensure_future(rsocket.wait_closed())
        closed.add_done_callback(self._closed)
        return handler

    def _closed(self, _: asyncio.Future[None]) -> None:
        self._open -= 1


def _prepare(app: RequestHandler | Acceptor, args: argparse.Namespace) -> RequestHandler | Acceptor:
    if args.access_log or args.metrics_port is not None:
        if not isinstance(app, Router):
            raise AppLoadError("--access-log and --metrics-port need the app to be an aiorsocket.app.Router")
        if args.access_log:
            app.add_interceptor(LoggingInterceptor())
        if args.metrics_port is not None:
            app.add_interceptor(PrometheusMetrics())
            start_metrics_server(args.metrics_port + (args.worker_index or 0), args.metrics_host)
    if args.max_connections or args.max_keepalive_interval or args.max_lifetime:
        return _Limits(
            app,
            max_connections=args.max_connections,
            max_keepalive_interval=args.max_keepalive_interval,
            max_lifetime=args.max_lifetime,
        )
    return app


async def _serve(
    app: RequestHandler | Acceptor, args: argparse.Namespace, uris: list[str], tls: TLSConfig | None
) -> int:
    try:
        served = _prepare(app, args)
    except AppLoadError as exc:
        return _fail(EXIT_BAD_APP, str(exc))
    except ImportError as exc:  # MissingExtraError: --metrics-port without prometheus-client
        return _fail(EXIT_USAGE, str(exc))
    except OSError as exc:
        return _fail(EXIT_BIND, f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}")
    options: dict[str, Any] = {"fragment_size": args.fragment_size, "ssl": tls}
    if args.resume_lifetime is not None:
        options["resume"] = ResumeConfig(session_lifetime=args.resume_lifetime)
    if args.max_frame_size is not None:
        options["max_frame_size"] = args.max_frame_size
    if args.max_inbound_payload is not None:
        options["max_inbound_payload_size"] = args.max_inbound_payload
    try:
        server: Server = await serve(served, *uris, **options)
    except LocalProtocolError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except ssl.SSLError as exc:
        return _fail(EXIT_TLS, f"TLS setup failed: {exc}")
    except OSError as exc:
        return _fail(EXIT_BIND, f"cannot listen on {', '.join(uris)}: {exc}")
    with _Signals() as signals:
        if args.supervisor_pid is not None:
            _die_with_supervisor(args.supervisor_pid)
        announce_serving(args.app, server.bound_uris)
        await signals.first.wait()
        closing = asyncio.ensure_future(server.close(grace=args.grace))
        # One turn of the loop lets close() take its first step, which closes the listeners, so the
        # line below is true when it is printed.
        await asyncio.sleep(0)
        logger.info("shutting down: no new connections; open streams have %.1f s to finish", args.grace)
        forced = asyncio.ensure_future(signals.second.wait())
        done, _ = await asyncio.wait({closing, forced}, return_when=asyncio.FIRST_COMPLETED)
        if forced in done:
            logger.warning("second signal: closing every connection now")
            closing.cancel()
            for rsocket in list(server.connections):
                rsocket.close()
        else:
            forced.cancel()
    logger.info("stopped")
    return EXIT_OK


def announce_serving(app: str, bound_uris: list[str]) -> None:
    """Print the "serving" line in one write.

    print() may write the text and its newline separately (it does under PYTHONUNBUFFERED),
    and workers sharing the supervisor's stdout would then interleave their lines.
    """
    sys.stdout.write(f"aiorsocket: serving {app} on {' '.join(bound_uris)} (pid {os.getpid()})\n")
    sys.stdout.flush()


def _die_with_supervisor(supervisor: int) -> None:
    """Make this worker get SIGTERM (a graceful stop) when its supervisor dies, even by SIGKILL.

    Workers run in their own session, so nothing else would reach them and they would serve on
    as orphans.  PR_SET_PDEATHSIG is Linux's; elsewhere a supervisor killed outright leaves its
    workers running, as with most process managers.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


class _Signals:
    """SIGTERM and SIGINT for the whole life of the server: the first asks for a graceful stop,
    the second for an immediate one.  Installed once, so no signal can fall between two handlers."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def _received(self) -> None:
        (self.second if self.first.is_set() else self.first).set()

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(signum, self._received)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.remove_signal_handler(signum)


class _Supervisor:
    """Runs the workers, restarts the ones that die, and stops them all on a signal."""

    def __init__(self, args: argparse.Namespace, uris: list[str]) -> None:
        self.args = args
        self.uris = uris
        self.workers: dict[int, asyncio.subprocess.Process] = {}
        self.deaths: list[float] = []

    def _argv(self, index: int) -> list[str]:
        args = self.args
        argv = [sys.executable, "-m", "aiorsocket.cli.main", "serve", args.app, "--worker-index", str(index)]
        argv += ["--supervisor-pid", str(os.getpid())]
        for uri in self.uris:
            argv += ["--uri", uri]
        flags: list[tuple[str, Any]] = [
            ("--app-dir", os.path.abspath(args.app_dir)),
            ("--tls-cert", args.tls_cert),
            ("--tls-key", args.tls_key),
            ("--tls-ca", args.tls_ca),
            ("--max-connections", args.max_connections),
            ("--max-keepalive-interval", args.max_keepalive_interval),
            ("--max-lifetime", args.max_lifetime),
            ("--fragment-size", args.fragment_size),
            ("--max-frame-size", args.max_frame_size),
            ("--max-inbound-payload", args.max_inbound_payload),
            ("--grace", args.grace),
            ("--resume-lifetime", args.resume_lifetime),
            ("--log-level", args.log_level),
            ("--metrics-port", args.metrics_port),
            ("--metrics-host", args.metrics_host),
        ]
        argv += [item for flag, value in flags if value is not None for item in (flag, str(value))]
        switches = [
            ("--factory", args.factory),
            ("--tls-client-cert-required", args.tls_client_cert_required),
            ("--access-log", args.access_log),
        ]
        argv += [flag for flag, on in switches if on]
        return argv

    async def _start(self, index: int) -> None:
        # A session of its own: a terminal's Ctrl-C reaches the supervisor only, which then
        # stops the workers once, instead of every process seeing two signals.
        self.workers[index] = await asyncio.create_subprocess_exec(*self._argv(index), start_new_session=True)
        logger.info("worker %d started (pid %d)", index, self.workers[index].pid)

    async def run(self) -> int:
        with _Signals() as signals:
            return await self._supervise(signals.first)

    async def _supervise(self, stop: asyncio.Event) -> int:
        for index in range(self.args.workers):
            await self._start(index)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                waits = {asyncio.ensure_future(proc.wait()): index for index, proc in self.workers.items()}
                done, _ = await asyncio.wait({stopping, *waits}, return_when=asyncio.FIRST_COMPLETED)
                for task in waits:
                    task.cancel()
                if stopping in done:
                    await self._stop_all()
                    return EXIT_OK
                for task in done:
                    index = waits[task]
                    code = task.result()
                    if code in _FATAL_EXITS:
                        logger.error(
                            "worker %d exited with %d, which a restart cannot fix; stopping", index, code
                        )
                        await self._stop_all()
                        return code
                    if not self._may_restart():
                        logger.error(
                            "workers died %d times within %.0f s; giving up", _MAX_RESTARTS, _RESTART_WINDOW
                        )
                        await self._stop_all()
                        return EXIT_FAILURE
                    logger.warning(
                        "worker %d (pid %d) exited with %d; restarting it",
                        index,
                        self.workers[index].pid,
                        code,
                    )
                    await self._start(index)
        finally:
            stopping.cancel()

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < _RESTART_WINDOW] + [now]
        return len(self.deaths) <= _MAX_RESTARTS

    async def _stop_all(self) -> None:
        running = [proc for proc in self.workers.values() if proc.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if not running:
            return
        # Each worker drains for --grace seconds; give it a little longer before killing it.
        await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=self.args.grace + 5)
        for proc in running:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
