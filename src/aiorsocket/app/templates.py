"""Route templates: ``"users.{id}"``, ``"files.{path:.+}"``, as Spring's ``@MessageMapping`` patterns.

A ``{name}`` variable matches one segment: anything but the separators ``.``
and ``/``.  ``{name:regex}`` gives the pattern explicitly.  The same template
expands a route on the requester side, so both ends share one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_VARIABLE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::((?:[^{}]|\{[^{}]*\})+))?\}")
_SEGMENT: Final = r"[^./]+"


class RouteTemplate:
    """A compiled route pattern; literal routes compare as plain strings."""

    __slots__ = ("_literal_length", "_regex", "pattern", "variables")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts: list[str] = []
        names: list[str] = []
        position = 0
        literal = 0
        for match in _VARIABLE.finditer(pattern):
            text = pattern[position : match.start()]
            _check_literal(pattern, text)
            parts.append(re.escape(text))
            literal += len(text)
            name, regex = match.group(1), match.group(2)
            if name in names:
                raise ValueError(f"route template {pattern!r} uses the variable {name!r} twice")
            if regex is not None:
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise ValueError(f"route template {pattern!r}: bad pattern for {name!r}: {exc}") from None
            names.append(name)
            parts.append(f"(?P<{name}>{regex if regex is not None else _SEGMENT})")
            position = match.end()
        tail = pattern[position:]
        _check_literal(pattern, tail)
        parts.append(re.escape(tail))
        literal += len(tail)
        self.variables: tuple[str, ...] = tuple(names)
        self._literal_length = literal
        self._regex = re.compile("".join(parts)) if names else None

    @property
    def is_literal(self) -> bool:
        return self._regex is None

    def match(self, route: str) -> dict[str, str] | None:
        """The variables of ``route`` when it fits the template, else None."""
        if self._regex is None:
            return {} if route == self.pattern else None
        found = self._regex.fullmatch(route)
        return found.groupdict() if found is not None else None

    def expand(self, values: Mapping[str, Any]) -> str:
        """The route for ``values``; each must fit its variable's pattern."""
        if self._regex is None:
            if values:
                raise ValueError(f"route {self.pattern!r} has no variables, got {sorted(values)}")
            return self.pattern
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise ValueError(f"route template {self.pattern!r} needs values for {', '.join(missing)}")
        extra = sorted(set(values) - set(self.variables))
        if extra:
            raise ValueError(f"route template {self.pattern!r} has no variables {', '.join(extra)}")

        def substitute(match: re.Match[str]) -> str:
            return str(values[match.group(1)])

        route = _VARIABLE.sub(substitute, self.pattern)
        if self._regex.fullmatch(route) is None:
            raise ValueError(f"values {dict(values)!r} do not fit route template {self.pattern!r}")
        return route

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: more literal text first, then fewer variables (Spring's order)."""
        return (-self._literal_length, len(self.variables))

    def __repr__(self) -> str:
        return f"RouteTemplate({self.pattern!r})"


def _check_literal(pattern: str, text: str) -> None:
    if "{" in text or "}" in text:
        raise ValueError(f"route template {pattern!r} has an unbalanced or malformed '{{...}}' variable")
