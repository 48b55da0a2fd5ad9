"""A Spring-style user service: routes with variables, JSON bodies as dataclasses, credentials, roles.

    aiorsocket serve service:app --app-dir examples --uri tcp://127.0.0.1:7878 --access-log
    python examples/service.py          (starts it on a free port and runs a short client session)

What a Spring Boot ``@Controller`` with ``@MessageMapping`` methods and Spring Security's RSocket
support would give you:

- ``users.{id}`` (request/response) and ``users`` (request/stream) for anyone authenticated,
- ``users.create`` and ``users.delete.{id}`` for the ``admin`` role only (ERROR[REJECTED] otherwise),
- ``users.events`` (request/stream): every change, as it happens,
- credentials in the SETUP (simple username/password or a bearer token) or on one request;
  wrong ones are refused with ERROR[REJECTED_SETUP],
- a ``@connect`` hook that greets each client by the name it sends in the SETUP data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiorsocket
from aiorsocket.app import (
    BearerAuthenticator,
    LoggingInterceptor,
    Principal,
    Requester,
    Router,
    SimpleAuthenticator,
    any_of,
    authenticated,
    has_role,
)
from aiorsocket.errors import ApplicationError, RejectedError
from aiorsocket.extensions import BearerAuth, SimpleAuth

logger = logging.getLogger("service")


@dataclass
class User:
    id: int
    name: str
    email: str


@dataclass
class NewUser:
    name: str
    email: str

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ValueError(f"email {self.email!r} has no '@'")


@dataclass
class UserEvent:
    kind: str
    user: User


@dataclass
class Hello:
    client: str


class UserStore:
    """In memory; change events fan out to every ``users.events`` subscriber (bounded queues)."""

    def __init__(self) -> None:
        self.users = {
            1: User(1, "Ada Lovelace", "ada@example.com"),
            2: User(2, "Alan Turing", "alan@example.com"),
        }
        self.next_id = 3
        self.subscribers: set[asyncio.Queue[UserEvent]] = set()

    def publish(self, event: UserEvent) -> None:
        for queue in self.subscribers:
            if queue.full():
                logger.warning("a users.events subscriber is too slow; dropping an event for it")
            else:
                queue.put_nowait(event)


store = UserStore()
app = Router(
    auth=any_of(
        SimpleAuthenticator({"ada": ("analytical", ["user", "admin"]), "bob": ("builder", ["user"])}),
        BearerAuthenticator({"service-token": Principal("billing-service", frozenset({"user"}))}),
    ),
    setup_auth_required=True,
    requires=authenticated(),
)


@app.connect()
async def hello(client: Hello, principal: Principal) -> None:
    logger.info("%s connected as %s", client.client, principal.name)


@app.response("users.{id}")
async def get_user(id: int) -> User:
    user = store.users.get(id)
    if user is None:
        raise ApplicationError(f"no user {id}")
    return user


@app.stream("users")
async def list_users() -> AsyncIterator[User]:
    for user in list(store.users.values()):
        yield user


@app.response("users.create", requires=has_role("admin"))
async def create_user(new: NewUser, principal: Principal) -> User:
    user = User(store.next_id, new.name, new.email)
    store.next_id += 1
    store.users[user.id] = user
    store.publish(UserEvent(f"created by {principal.name}", user))
    return user


@app.fire_and_forget("users.delete.{id}", requires=has_role("admin"))
async def delete_user(id: int) -> None:
    user = store.users.pop(id, None)
    if user is not None:
        store.publish(UserEvent("deleted", user))


@app.stream("users.events")
async def user_events() -> AsyncIterator[UserEvent]:
    queue: asyncio.Queue[UserEvent] = asyncio.Queue(maxsize=100)
    store.subscribers.add(queue)
    try:
        while True:
            yield await queue.get()
    finally:
        store.subscribers.discard(queue)


async def client_session(address: str) -> list[str]:
    """What a client sees: ada (admin) watches events while creating a user; bob may only read."""
    lines: list[str] = []
    async with Requester.connect(
        address, auth=SimpleAuth("ada", "analytical"), setup_data=Hello("example-client")
    ) as ada:
        lines.append(f"users.1            -> {await ada.route('users.{id}', id=1).retrieve(User)}")
        names = [user.name async for user in ada.route("users").retrieve_stream(User)]
        lines.append(f"users              -> {names}")
        async with ada.route("users.events").retrieve_stream(UserEvent) as events:
            created = (
                await ada.route("users.create")
                .data(NewUser("Grace Hopper", "grace@example.com"))
                .retrieve(User)
            )
            lines.append(f"users.create       -> {created}")
            event = await anext(events)
            lines.append(f"users.events       -> {event.kind}: {event.user.name}")
        async with Requester.connect(
            address, auth=SimpleAuth("bob", "builder"), setup_data=Hello("bob")
        ) as bob:
            try:
                await bob.route("users.create").data(NewUser("Mallory", "m@example.com")).retrieve(User)
            except RejectedError as exc:
                lines.append(f"users.create (bob) -> REJECTED: {exc.message}")
            token_user = (
                await bob.route("users.{id}", id=created.id).auth(BearerAuth("service-token")).retrieve(User)
            )
            lines.append(f"users.3 (bearer)   -> {token_user.name}")
    return lines


async def main() -> None:
    app.add_interceptor(LoggingInterceptor())
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        for line in await client_session(server.bound_uris[0]):
            print(line)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    asyncio.run(main())
