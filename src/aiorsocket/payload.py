"""The unit every interaction carries: data plus optional metadata."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Payload:
    """``metadata`` is None when absent and ``b""`` when present but empty (D-9)."""

    data: bytes = b""
    metadata: bytes | None = None

    @classmethod
    def text(cls, data: str, metadata: str | None = None) -> Payload:
        """A payload from UTF-8 text."""
        return cls(data.encode(), None if metadata is None else metadata.encode())

    @property
    def data_text(self) -> str:
        return self.data.decode("utf-8")
