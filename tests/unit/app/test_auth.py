"""Authenticators (checklist §5.4 credentials) and per-route requirements."""

from __future__ import annotations

import pytest

from aiorsocket.app import (
    AuthenticationError,
    BearerAuthenticator,
    Principal,
    SimpleAuthenticator,
    UnsupportedCredentialsError,
    any_of,
    anyone,
    authenticated,
    has_any_role,
    has_role,
)
from aiorsocket.app.auth import as_requirement, authenticate
from aiorsocket.extensions import BearerAuth, CustomAuth, SimpleAuth

ALICE = Principal("alice", frozenset({"user"}))


async def test_simple_authenticator_checks_the_table_and_gives_roles() -> None:
    check = SimpleAuthenticator({"alice": ("secret", ["user"]), "bob": "pw"})
    assert await authenticate(check, SimpleAuth("alice", "secret")) == ALICE
    assert await authenticate(check, SimpleAuth("bob", "pw")) == Principal("bob")
    for wrong in (SimpleAuth("alice", "nope"), SimpleAuth("carol", "secret")):
        with pytest.raises(AuthenticationError, match="invalid username or password"):
            await authenticate(check, wrong)
    with pytest.raises(UnsupportedCredentialsError):
        await authenticate(check, BearerAuth("t"))


async def test_simple_authenticator_with_a_verify_function() -> None:
    async def verify(username: str, password: str) -> Principal | None:
        return Principal(username) if password == username[::-1] else None

    check = SimpleAuthenticator(verify=verify)
    assert await authenticate(check, SimpleAuth("abc", "cba")) == Principal("abc")
    with pytest.raises(AuthenticationError):
        await authenticate(check, SimpleAuth("abc", "abc"))


async def test_bearer_authenticator_by_table_or_verify_function() -> None:
    table = BearerAuthenticator({"t1": ALICE})
    assert await authenticate(table, BearerAuth("t1")) == ALICE
    with pytest.raises(AuthenticationError, match="invalid or expired bearer token"):
        await authenticate(table, BearerAuth("t2"))
    verified = BearerAuthenticator(verify=lambda token: ALICE if token.startswith("ok") else None)
    assert await authenticate(verified, BearerAuth("ok-1")) == ALICE


async def test_any_of_tries_the_authenticator_for_the_credentials_kind() -> None:
    check = any_of(SimpleAuthenticator({"alice": "secret"}), BearerAuthenticator({"t": ALICE}))
    assert (await authenticate(check, BearerAuth("t"))).name == "alice"
    assert (await authenticate(check, SimpleAuth("alice", "secret"))).name == "alice"
    with pytest.raises(AuthenticationError, match="invalid username or password"):
        await authenticate(check, SimpleAuth("alice", "x"))
    with pytest.raises(AuthenticationError, match="CustomAuth credentials are not accepted"):
        await authenticate(check, CustomAuth("kerberos", b"ticket"))


async def test_an_authenticator_returning_anything_but_a_principal_refuses() -> None:
    with pytest.raises(AuthenticationError, match="invalid credentials"):
        await authenticate(lambda credentials: None, BearerAuth("x"))  # type: ignore[arg-type,return-value]


def test_authenticators_need_exactly_one_source_of_truth() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SimpleAuthenticator()
    with pytest.raises(ValueError, match="exactly one"):
        BearerAuthenticator({"t": ALICE}, verify=lambda token: None)


def test_requirements_say_why_a_principal_may_not_call() -> None:
    admin = Principal("root", frozenset({"admin", "user"}))
    assert authenticated()(None) == "authentication required"
    assert authenticated()(ALICE) is None
    assert anyone()(None) is None
    assert has_role("admin")(ALICE) == "role admin required; 'alice' has user"
    assert has_role("admin", "user")(admin) is None
    assert has_any_role("admin", "ops")(ALICE) == "role admin or ops required; 'alice' has user"
    assert has_any_role("admin", "ops")(admin) is None
    assert as_requirement("admin")(admin) is None
    with pytest.raises(ValueError, match="at least one role"):
        has_role()

