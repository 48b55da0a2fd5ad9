"""The example apps the README walks through run and do what their docstrings say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest

import aiorsocket

EXAMPLES: Final = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    """A fresh copy of examples/<name>.py (their module-level state starts empty every time)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chat() -> ModuleType:
    return load("chat")


async def test_chat_members_hear_each_other_over_channels(chat: ModuleType) -> None:
    async with aiorsocket.serve(chat.app, "tcp://127.0.0.1:0") as server:
        ada, alan = await chat.conversation(server.bound_uris[0])
    assert ada == [
        "ada: hi, ada here",
        "alan: hi, alan here",
        "ada: Shall we compute Bernoulli numbers?",
        "alan: Only if it halts.",
    ]
    assert alan == ada[1:]
    assert all(not members for members in chat.rooms.values())


async def test_ticker_stream_is_cancelled_when_the_reader_stops() -> None:
    ticker = load("ticker")
    async with aiorsocket.serve(ticker.app, "tcp://127.0.0.1:0") as server:
        quotes = await ticker.read_quotes(server.bound_uris[0], "ACME", 10)
    assert [quote.seq for quote in quotes] == list(range(10))
    assert {quote.symbol for quote in quotes} == {"ACME"}
    assert ticker.generators_closed == ["ACME"]


async def test_spring_style_service_session() -> None:
    service = load("service")
    async with aiorsocket.serve(service.app, "tcp://127.0.0.1:0") as server:
        lines = await service.client_session(server.bound_uris[0])
    assert lines == [
        "users.1            -> User(id=1, name='Ada Lovelace', email='ada@example.com')",
        "users              -> ['Ada Lovelace', 'Alan Turing']",
        "users.create       -> User(id=3, name='Grace Hopper', email='grace@example.com')",
        "users.events       -> created by ada: Grace Hopper",
        "users.create (bob) -> REJECTED: access to route 'users.create' denied: "
        "role admin required; 'bob' has user",
        "users.3 (bearer)   -> Grace Hopper",
    ]
