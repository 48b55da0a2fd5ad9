"""An app module whose import fails, for ``aiorsocket serve``'s bad-module test."""

from __future__ import annotations

raise RuntimeError("the database is not configured")
