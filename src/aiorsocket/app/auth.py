"""Authentication (who is calling) and authorization (may they call this route).

Credentials travel in the authentication extension (checklist §5.4), in the
SETUP for the whole connection or in one request's metadata for that request,
the way Spring Security's RSocket support reads them.

An *authenticator* is any callable taking the decoded credentials
(:class:`~aiorsocket.extensions.SimpleAuth`, ``BearerAuth`` or ``CustomAuth``)
and returning a :class:`Principal` (or an awaitable of one).  It refuses with
:class:`AuthenticationError` and a reason; the router answers a bad SETUP with
ERROR[REJECTED_SETUP] and a bad request with ERROR[REJECTED], both carrying
that reason.  :class:`SimpleAuthenticator` and :class:`BearerAuthenticator`
cover the common cases, :func:`any_of` combines several.

A *requirement* decides whether a principal (None when anonymous) may use a
route; :func:`authenticated`, :func:`has_role` and :func:`has_any_role` cover
the usual rules and a plain string means "has this role".
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from ..errors import RSocketError
from ..extensions import Auth, BearerAuth, SimpleAuth


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles


class AuthenticationError(RSocketError):
    """Credentials were refused; the message is the reason sent to the peer."""


class UnsupportedCredentialsError(AuthenticationError):
    """An authenticator does not handle this kind of credentials (:func:`any_of` tries the next)."""


Authenticator: TypeAlias = Callable[[Auth], Principal | Awaitable[Principal]]


async def authenticate(authenticator: Authenticator, credentials: Auth) -> Principal:
    """Run ``authenticator``, sync or async; anything but a Principal is a refusal."""
    result = authenticator(credentials)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, Principal):
        raise AuthenticationError("invalid credentials")
    return result


class SimpleAuthenticator:
    """Username and password, checked against a table or by a function.

    ``users`` maps a username to its password, or to ``(password, roles)``.
    ``verify(username, password)`` returns the Principal (sync or async) or None.
    Passwords are compared in constant time.
    """

    def __init__(
        self,
        users: Mapping[str, str | tuple[str, Iterable[str]]] | None = None,
        *,
        verify: Callable[[str, str], Principal | Awaitable[Principal | None] | None] | None = None,
    ) -> None:
        if (users is None) == (verify is None):
            raise ValueError("SimpleAuthenticator needs exactly one of users= or verify=")
        self._users: dict[str, tuple[bytes, frozenset[str]]] = {}
        for name, entry in (users or {}).items():
            password, roles = (entry, ()) if isinstance(entry, str) else entry
            self._users[name] = (password.encode("utf-8"), frozenset(roles))
        self._verify = verify

    async def __call__(self, credentials: Auth) -> Principal:
        if not isinstance(credentials, SimpleAuth):
            raise UnsupportedCredentialsError("simple (username/password) credentials expected")
        if self._verify is not None:
            result = self._verify(credentials.username, credentials.password)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                raise AuthenticationError(f"invalid username or password for {credentials.username!r}")
            return result
        known = self._users.get(credentials.username)
        # Compare even for unknown users so timing does not tell which usernames exist.
        expected, roles = known if known is not None else (b"\0", frozenset())
        if not hmac.compare_digest(expected, credentials.password.encode("utf-8")) or known is None:
            raise AuthenticationError(f"invalid username or password for {credentials.username!r}")
        return Principal(credentials.username, roles)


class BearerAuthenticator:
    """Bearer tokens, from a table (token -> Principal) or checked by a function.

    ``verify(token)`` returns the Principal (sync or async) or None; it is
    where a JWT library plugs in.
    """

    def __init__(
        self,
        tokens: Mapping[str, Principal] | None = None,
        *,
        verify: Callable[[str], Principal | Awaitable[Principal | None] | None] | None = None,
    ) -> None:
        if (tokens is None) == (verify is None):
            raise ValueError("BearerAuthenticator needs exactly one of tokens= or verify=")
        self._tokens = dict(tokens or {})
        self._verify = verify

    async def __call__(self, credentials: Auth) -> Principal:
        if not isinstance(credentials, BearerAuth):
            raise UnsupportedCredentialsError("bearer token expected")
        if self._verify is not None:
            result = self._verify(credentials.token)
            if inspect.isawaitable(result):
                result = await result
        else:
            result = next(
                (p for token, p in self._tokens.items() if hmac.compare_digest(token, credentials.token)),
                None,
            )
        if result is None:
            raise AuthenticationError("invalid or expired bearer token")
        return result


def any_of(*authenticators: Authenticator) -> Authenticator:
    """Try each authenticator that handles the credentials' kind; the first to accept wins."""

    async def combined(credentials: Auth) -> Principal:
        refusal: AuthenticationError | None = None
        for authenticator in authenticators:
            try:
                return await authenticate(authenticator, credentials)
            except UnsupportedCredentialsError:
                continue
            except AuthenticationError as exc:
                refusal = exc
        if refusal is not None:
            raise refusal
        raise AuthenticationError(f"{type(credentials).__name__} credentials are not accepted here")

    return combined


# ---------------------------------------------------------------------------------------------- rules


class Requirement(Protocol):
    """A rule for one route: None when ``principal`` may call it, else the reason it may not."""

    def __call__(self, principal: Principal | None) -> str | None: ...


RequirementLike: TypeAlias = Requirement | str


@dataclass(frozen=True, slots=True)
class _Authenticated:
    def __call__(self, principal: Principal | None) -> str | None:
        return None if principal is not None else "authentication required"


@dataclass(frozen=True, slots=True)
class _Anyone:
    def __call__(self, principal: Principal | None) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class _Roles:
    roles: frozenset[str]
    every: bool

    def __call__(self, principal: Principal | None) -> str | None:
        if principal is None:
            return "authentication required"
        held = self.roles & principal.roles
        if held == self.roles if self.every else held:
            return None
        wanted = " and ".join(sorted(self.roles)) if self.every else " or ".join(sorted(self.roles))
        return (
            f"role {wanted} required; {principal.name!r} has {', '.join(sorted(principal.roles)) or 'none'}"
        )


def authenticated() -> Requirement:
    """Any authenticated principal."""
    return _Authenticated()


def anyone() -> Requirement:
    """No rule at all: opens a route when the router requires something by default."""
    return _Anyone()


def has_role(*roles: str) -> Requirement:
    """Every one of ``roles``."""
    if not roles:
        raise ValueError("has_role() needs at least one role")
    return _Roles(frozenset(roles), every=True)


def has_any_role(*roles: str) -> Requirement:
    """At least one of ``roles``."""
    if not roles:
        raise ValueError("has_any_role() needs at least one role")
    return _Roles(frozenset(roles), every=False)


def as_requirement(rule: RequirementLike) -> Requirement:
    return has_role(rule) if isinstance(rule, str) else rule
