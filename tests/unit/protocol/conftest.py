"""Fixtures for the sans-IO connection tests: a server past SETUP, a started client, a wired pair."""

from __future__ import annotations

import pytest

from aiorsocket.protocol import Connection
from support.protocol_helpers import Pair, make_client, make_server


@pytest.fixture
def server() -> Connection:
    """A server that accepted a default SETUP at t=0; nothing queued."""
    return make_server()


@pytest.fixture
def client() -> Connection:
    """A client started at t=0 whose SETUP was taken off the queue."""
    return make_client()


@pytest.fixture
def pair() -> Pair:
    """A client and a server wired together, SETUP already exchanged and accepted."""
    wired = Pair()
    wired.pump()
    wired.take_client_events()
    wired.take_server_events()
    return wired
