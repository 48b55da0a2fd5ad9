"""A chat over request/channel: each member's channel carries what they say up and the room down.

    aiorsocket serve chat:app --app-dir examples --uri tcp://127.0.0.1:7878
    python examples/chat.py             (server on a free port and a short conversation)

``chat.{room}`` is a channel.  The inbound half is what the member says (the first line travels
with the request); the outbound half is everything said in the room, the member's own lines
included.  Names come from simple auth in the SETUP (any name, password ``chat``).  Each member's
outbox is a bounded queue: a member too slow to keep up loses lines instead of growing the
server's memory.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiorsocket
from aiorsocket.app import Principal, Requester, Router, SimpleAuthenticator
from aiorsocket.extensions import SimpleAuth

OUTBOX_SIZE = 256


@dataclass
class Line:
    text: str
    sender: str = ""


def _member(username: str, password: str) -> Principal | None:
    return Principal(username) if password == "chat" else None


app = Router(auth=SimpleAuthenticator(verify=_member), setup_auth_required=True)
rooms: defaultdict[str, set[asyncio.Queue[Line]]] = defaultdict(set)


def broadcast(room: str, line: Line) -> None:
    for outbox in rooms[room]:
        if not outbox.full():
            outbox.put_nowait(line)


@app.channel("chat.{room}")
async def chat(room: str, said: AsyncIterator[Line], principal: Principal) -> AsyncIterator[Line]:
    outbox: asyncio.Queue[Line] = asyncio.Queue(maxsize=OUTBOX_SIZE)
    rooms[room].add(outbox)

    async def relay() -> None:
        async for line in said:
            broadcast(room, Line(line.text, principal.name))

    relaying = asyncio.ensure_future(relay())
    try:
        while True:
            yield await outbox.get()
    finally:
        # The member left (CANCEL) or the connection closed.
        rooms[room].discard(outbox)
        relaying.cancel()


@dataclass
class Member:
    """A scripted chat member: says each line once it has heard its cue, leaves after ``last``."""

    name: str
    script: list[tuple[str, str]]
    last: str

    def __post_init__(self) -> None:
        self.heard: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.transcript: list[str] = []

    async def _say(self) -> AsyncIterator[Line]:
        yield Line(f"hi, {self.name} here")
        for cue, text in self.script:
            await self.heard[cue].wait()
            yield Line(text)

    async def run(self, address: str) -> list[str]:
        async with (
            Requester.connect(address, auth=SimpleAuth(self.name, "chat")) as requester,
            requester.route("chat.{room}", room="lobby").data(self._say()).retrieve_stream(Line) as room,
        ):
            async for line in room:
                self.transcript.append(f"{line.sender}: {line.text}")
                self.heard[line.text].set()
                if line.text == self.last:
                    break
        return self.transcript


async def conversation(address: str) -> tuple[list[str], list[str]]:
    question = "Shall we compute Bernoulli numbers?"
    answer = "Only if it halts."
    ada = Member("ada", [("hi, alan here", question)], last=answer)
    alan = Member("alan", [(question, answer)], last=answer)
    ada_done = asyncio.ensure_future(ada.run(address))
    # Alan joins once Ada is in the room, or Ada could miss his greeting.
    await ada.heard["hi, ada here"].wait()
    alan_heard = await alan.run(address)
    return await ada_done, alan_heard


async def main() -> None:
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        async with asyncio.timeout(30):
            ada, alan = await conversation(server.bound_uris[0])
        print("ada heard:", *ada, sep="\n  ")
        print("alan heard:", *alan, sep="\n  ")


if __name__ == "__main__":
    asyncio.run(main())
