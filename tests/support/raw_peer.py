"""A client that writes whatever bytes a test wants and reads frames back, for exact-answer tests."""

from __future__ import annotations

import asyncio

from aiorsocket.frames import (
    Frame,
    PayloadFrame,
    RequestResponseFrame,
    decode_frame,
    encode_frame_with_length,
)


class RawPeer:
    """One raw TCP connection speaking frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, *frames: Frame | bytes) -> None:
        for frame in frames:
            if isinstance(frame, bytes):
                self.writer.write(len(frame).to_bytes(3, "big") + frame)
            else:
                self.writer.write(encode_frame_with_length(frame))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next_frame(self) -> Frame:
        async with asyncio.timeout(5):
            length = int.from_bytes(await self.reader.readexactly(3), "big")
            return decode_frame(await self.reader.readexactly(length))

    async def assert_closed(self) -> None:
        async with asyncio.timeout(5):
            assert await self.reader.read() == b""

    async def ping(self, stream_id: int) -> None:
        """Prove the connection still works: the very next frame must answer this request."""
        await self.send(RequestResponseFrame(stream_id, b"ping"))
        assert await self.next_frame() == PayloadFrame(stream_id, b"pong:ping", None, False, True, True)

    @classmethod
    async def open(cls, port: int) -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()
