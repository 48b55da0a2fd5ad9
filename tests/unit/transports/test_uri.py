"""URI parsing for every scheme, and errors that say what is wrong and what is expected."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aiorsocket
from aiorsocket.errors import LocalProtocolError
from aiorsocket.transports.uri import SCHEMES, Endpoint, parse_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("tcp://127.0.0.1:7878", Endpoint("tcp", "127.0.0.1", 7878)),
        ("TCP://localhost:1", Endpoint("tcp", "localhost", 1)),
        ("tcp://[::1]:7878", Endpoint("tcp", "::1", 7878)),
        ("tls://example.com:7879", Endpoint("tls", "example.com", 7879)),
        ("tcp+tls://example.com:7879", Endpoint("tcp+tls", "example.com", 7879)),
        ("ws://127.0.0.1:8080/rsocket", Endpoint("ws", "127.0.0.1", 8080, "/rsocket")),
        ("ws://127.0.0.1:8080", Endpoint("ws", "127.0.0.1", 8080, "/")),
        ("ws://example.com/rs?token=1", Endpoint("ws", "example.com", 80, "/rs?token=1")),
        ("wss://example.com/rsocket", Endpoint("wss", "example.com", 443, "/rsocket")),
        ("unix:///run/app/rsocket.sock", Endpoint("unix", path="/run/app/rsocket.sock")),
        ("local://my-service", Endpoint("local", path="my-service")),
        ("quic://127.0.0.1:4433", Endpoint("quic", "127.0.0.1", 4433)),
    ],
)
def test_every_scheme_parses(uri: str, expected: Endpoint) -> None:
    assert parse_uri(uri) == expected


def test_endpoint_prints_back_as_a_uri() -> None:
    assert str(parse_uri("ws://[::1]:80/rsocket")) == "ws://[::1]:80/rsocket"
    assert str(parse_uri("unix:///tmp/s")) == "unix:///tmp/s"
    assert str(parse_uri("local://name")) == "local://name"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://127.0.0.1:80", "unsupported URI scheme"),
        ("tcp://127.0.0.1", "needs a host and a port"),
        ("tcp://127.0.0.1:port", "bad port"),
        ("tcp://127.0.0.1:7878/path", "takes no path"),
        ("quic://:4433", "needs a host and a port"),
        ("unix://", "names nothing"),
        ("local://", "names nothing"),
    ],
)
def test_bad_uris_say_what_is_expected(uri: str, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message) as info:
        parse_uri(uri)
    scheme = uri.split("://")[0].lower()
    usage = SCHEMES[scheme].usage if scheme in SCHEMES else "ws://HOST[:PORT]/PATH"
    assert usage in str(info.value)


@pytest.mark.parametrize(
    ("uri", "module", "extra"),
    [("ws://127.0.0.1:1/rsocket", "websockets", "ws"), ("quic://127.0.0.1:1", "aioquic", "quic")],
)
async def test_a_missing_optional_dependency_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, uri: str, module: str, extra: str
) -> None:
    """The core needs neither websockets nor aioquic; using their scheme without them says what to install."""
    # Submodules already imported would be found without their (blocked) parent package.
    for name in [name for name in sys.modules if name.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "aiorsocket.transports.websocket", raising=False)
    monkeypatch.delitem(sys.modules, "aiorsocket.transports.quic", raising=False)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(LocalProtocolError, match=rf"pip install 'aiorsocket\[{extra}\]'"):
        await aiorsocket.connect(uri)


def test_the_core_imports_without_websockets_or_aioquic() -> None:
    code = (
        "import sys; sys.modules['websockets'] = None; sys.modules['aioquic'] = None\n"
        "import aiorsocket, aiorsocket.transports.uri\n"
        "assert 'aiorsocket.transports.websocket' not in sys.modules\n"
        "assert 'aiorsocket.transports.quic' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
