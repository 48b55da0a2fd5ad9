"""Typed bodies: from decoded data (dicts, lists, numbers, strings) to the types a handler declares, and back.

A codec turns bytes into plain values; a *converter* then checks those values
against an annotation and builds the declared type: dataclasses (nested, with
defaults), pydantic models when pydantic is installed, ``TypedDict``, enums,
``Literal``, unions and ``Optional``, lists, tuples, sets, dicts, ``datetime``,
``UUID`` and ``Decimal``.  Converters are built once per type (the router does
it when a handler is decorated) and a failure names the path of the bad value,
e.g. ``body.items[2].price: expected float, got str``.

Unknown keys in a mapping are ignored, as in Spring Boot's Jackson setup, so a
newer client can talk to an older server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sys
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Final

from ..errors import RSocketError

Converter = Callable[[Any, str], Any]
"""``converter(value, path) -> typed value``; raises :class:`ConversionError`."""

StringConverter = Callable[[str, str], Any]

_NONE_TYPE: Final = type(None)


class ConversionError(RSocketError, ValueError):
    """A value does not fit the declared type; ``path`` says where (``body.items[2]``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def describe(tp: Any) -> str:
    """A short readable name for an annotation, for error messages."""
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic (v2) model class, without importing pydantic."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(tp, type):
        return False
    return issubclass(tp, pydantic.BaseModel)


def is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _identity(value: Any, path: str) -> Any:
    return value


def converter_for(tp: Any, *, localns: Mapping[str, Any] | None = None) -> Converter:
    """The converter for annotation ``tp``.

    ``localns`` resolves string annotations that name local classes (a dataclass
    defined inside a function); converters built with one are not cached, since
    the same name may mean another class elsewhere.
    """
    if localns:
        return _build(tp, _Namespace(localns))
    try:
        return _cached_converter(tp)
    except TypeError:
        # Unhashable annotations (Annotated with a list in it) are built every time.
        return _build(tp, _Namespace(None))


class _Namespace:
    __slots__ = ("mapping",)

    def __init__(self, mapping: Mapping[str, Any] | None) -> None:
        self.mapping = dict(mapping) if mapping else None


@cache
def _cached_converter(tp: Any) -> Converter:
    return _build(tp, _Namespace(None))


def _build(tp: Any, ns: _Namespace) -> Converter:
    if tp is Any or tp is object:
        return _identity
    if tp is None or tp is _NONE_TYPE:
        return _expect_none
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # typing.NewType
        return _build(supertype, ns)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _build(args[0], ns)
    if origin is typing.Union or origin is types.UnionType:
        return _union(tuple(_build(arg, ns) for arg in args), tp)
    if origin is typing.Literal:
        return _literal(args)
    if origin in (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection):
        return _sequence(_build(args[0] if args else Any, ns), list)
    if origin in (set, abc.Set, abc.MutableSet):
        return _sequence(_build(args[0] if args else Any, ns), set)
    if origin is frozenset:
        return _sequence(_build(args[0] if args else Any, ns), frozenset)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(_build(args[0], ns), tuple)
        if args == ((),):
            return _fixed_tuple(())
        return _fixed_tuple(tuple(_build(arg, ns) for arg in args))
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        key_type, value_type = args if args else (Any, Any)
        return _mapping(_dict_key_converter(key_type, ns), _build(value_type, ns))
    if origin is not None:
        return _instance_of(origin)
    return _build_class(tp, ns)


def _build_class(tp: Any, ns: _Namespace) -> Converter:
    if tp is bool:
        return _bool
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is str:
        return _str
    if tp is bytes:
        return _bytes
    if tp in (list, tuple, set, frozenset):
        return _sequence(_identity, tp)
    if tp is dict:
        return _mapping(_identity, _identity)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if tp is dt.datetime:
        return _iso(dt.datetime, dt.datetime.fromisoformat)
    if tp is dt.date:
        return _iso(dt.date, dt.date.fromisoformat)
    if tp is dt.time:
        return _iso(dt.time, dt.time.fromisoformat)
    if tp is uuid.UUID:
        return _uuid
    if tp is Decimal:
        return _decimal
    if pydantic_model(tp):
        return _pydantic(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _DataclassConverter(tp, ns)
    if is_typed_dict(tp):
        return _TypedDictConverter(tp, ns)
    if isinstance(tp, type):
        return _instance_of(tp)
    raise TypeError(f"cannot convert values to {tp!r}: not a type")


def _expect_none(value: Any, path: str) -> None:
    if value is not None:
        raise ConversionError(path, f"expected null, got {_kind(value)}")


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConversionError(path, f"expected bool, got {_kind(value)}")
    return value


def _int(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConversionError(path, f"expected int, got {_kind(value)}")
    return value


def _float(value: Any, path: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConversionError(path, f"expected float, got {_kind(value)}")
    return float(value)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConversionError(path, f"expected str, got {_kind(value)}")
    return value


def _bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ConversionError(path, f"expected bytes, got {_kind(value)}")
    return bytes(value)


def _uuid(value: Any, path: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ConversionError(path, f"expected a UUID string, got {value!r}")


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            pass
    raise ConversionError(path, f"expected a decimal number, got {value!r}")


def _iso(cls: type[Any], parse: Callable[[str], Any]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, cls) and (cls is not dt.date or not isinstance(value, dt.datetime)):
            return value
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError:
                pass
        raise ConversionError(path, f"expected an ISO 8601 {cls.__name__}, got {value!r}")

    return convert


def _instance_of(cls: type[Any]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if not isinstance(value, cls):
            raise ConversionError(path, f"expected {cls.__name__}, got {_kind(value)}")
        return value

    return convert


def _enum(cls: type[enum.Enum]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in cls)
            raise ConversionError(path, f"{value!r} is not one of {allowed}") from None

    return convert


def _literal(allowed: tuple[Any, ...]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        # bool is an int, so `Literal[1]` must not accept True.
        for candidate in allowed:
            if value == candidate and type(value) is type(candidate):
                return candidate
        raise ConversionError(path, f"{value!r} is not one of {', '.join(map(repr, allowed))}")

    return convert


def _union(members: tuple[Converter, ...], tp: Any) -> Converter:
    """Members are tried in the order written; the first that fits wins."""
    if len(members) == 2 and _expect_none in members:
        inner = members[0] if members[1] is _expect_none else members[1]

        def optional(value: Any, path: str) -> Any:
            return None if value is None else inner(value, path)

        return optional

    def convert(value: Any, path: str) -> Any:
        for member in members:
            try:
                return member(value, path)
            except ConversionError:
                continue
        raise ConversionError(path, f"expected {describe(tp)}, got {_kind(value)}")

    return convert


def _sequence(item: Converter, build: Callable[[Any], Any]) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            raise ConversionError(path, f"expected an array, got {_kind(value)}")
        if item is _identity:
            return build(value)
        return build(item(element, f"{path}[{index}]") for index, element in enumerate(value))

    return convert


def _fixed_tuple(items: tuple[Converter, ...]) -> Converter:
    def convert(value: Any, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ConversionError(path, f"expected an array, got {_kind(value)}")
        if len(value) != len(items):
            raise ConversionError(path, f"expected {len(items)} items, got {len(value)}")
        return tuple(
            item(element, f"{path}[{index}]")
            for index, (item, element) in enumerate(zip(items, value, strict=True))
        )

    return convert


def _dict_key_converter(key_type: Any, ns: _Namespace) -> Converter:
    # JSON object keys are always strings; `dict[int, X]` still works when they hold numbers.
    if key_type in (Any, str, object):
        return _identity
    from_string = string_converter_for(key_type)
    to_type = _build(key_type, ns)

    def convert(value: Any, path: str) -> Any:
        return from_string(value, path) if isinstance(value, str) else to_type(value, path)

    return convert


def _mapping(key: Converter, item: Converter) -> Converter:
    def convert(value: Any, path: str) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise ConversionError(path, f"expected an object, got {_kind(value)}")
        if key is _identity and item is _identity:
            return dict(value)
        return {key(k, f"{path}.<key>"): item(v, f"{path}.{k}") for k, v in value.items()}

    return convert


def _pydantic(model: Any) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, model):
            return value
        try:
            return model.model_validate(value)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            errors = getattr(exc, "errors", None)
            if callable(errors):
                details = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ())) or '<root>'}: {err.get('msg')}"
                    for err in errors()
                )
                raise ConversionError(path, details) from None
            raise ConversionError(path, str(exc)) from None

    return convert


def _resolve_hints(cls: type[Any], ns: _Namespace) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, localns=ns.mapping)
    except NameError as exc:
        raise TypeError(f"cannot resolve the annotations of {cls.__qualname__}: {exc}") from None


class _DataclassConverter:
    """Fields are resolved on first use so that recursive dataclasses work."""

    def __init__(self, cls: type[Any], ns: _Namespace) -> None:
        self._cls = cls
        self._ns = ns
        self._fields: list[tuple[str, Converter, bool]] | None = None

    def _compile(self) -> list[tuple[str, Converter, bool]]:
        hints = _resolve_hints(self._cls, self._ns)
        compiled = []
        for field in dataclasses.fields(self._cls):
            if not field.init:
                continue
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            compiled.append((field.name, _build(hints.get(field.name, Any), self._ns), required))
        return compiled

    def __call__(self, value: Any, path: str) -> Any:
        if isinstance(value, self._cls):
            return value
        if not isinstance(value, Mapping):
            raise ConversionError(path, f"expected an object for {self._cls.__name__}, got {_kind(value)}")
        fields = self._fields
        if fields is None:
            fields = self._fields = self._compile()
        kwargs = {}
        for name, convert, required in fields:
            if name in value:
                kwargs[name] = convert(value[name], f"{path}.{name}")
            elif required:
                raise ConversionError(f"{path}.{name}", "missing required field")
        try:
            return self._cls(**kwargs)
        except (TypeError, ValueError) as exc:
            # __post_init__ validation speaks for itself.
            raise ConversionError(path, str(exc)) from None


class _TypedDictConverter:
    def __init__(self, cls: type[Any], ns: _Namespace) -> None:
        self._cls = cls
        self._ns = ns
        self._fields: list[tuple[str, Converter, bool]] | None = None

    def __call__(self, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise ConversionError(path, f"expected an object for {self._cls.__name__}, got {_kind(value)}")
        fields = self._fields
        if fields is None:
            hints = _resolve_hints(self._cls, self._ns)
            required_keys: frozenset[str] = getattr(self._cls, "__required_keys__", frozenset())
            fields = self._fields = [
                (name, _build(tp, self._ns), name in required_keys) for name, tp in hints.items()
            ]
        result = {}
        for name, convert, required in fields:
            if name in value:
                result[name] = convert(value[name], f"{path}.{name}")
            elif required:
                raise ConversionError(f"{path}.{name}", "missing required key")
        return result


# ---------------------------------------------------------------------------------------------- strings


def string_converter_for(tp: Any) -> StringConverter:
    """Converter from text (route variables, dict keys) to ``tp``: ``"42"`` becomes 42 for ``int``."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return string_converter_for(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(tp) if arg is not _NONE_TYPE]
        if len(members) == 1:
            return string_converter_for(members[0])
    if tp in (str, Any, object) or tp is None:
        return _identity
    if tp is int:
        return _parse(int, "an integer")
    if tp is float:
        return _parse(float, "a number")
    if tp is bool:
        return _parse_bool
    if tp is uuid.UUID:
        return _uuid
    if tp is Decimal:
        return _decimal
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _string_enum(tp)
    return _build(tp, _Namespace(None))


def _parse(cls: Callable[[str], Any], what: str) -> StringConverter:
    def convert(value: str, path: str) -> Any:
        try:
            return cls(value)
        except ValueError:
            raise ConversionError(path, f"expected {what}, got {value!r}") from None

    return convert


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _parse_bool(value: str, path: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConversionError(path, f"expected true or false, got {value!r}")


def _string_enum(cls: type[enum.Enum]) -> StringConverter:
    by_text = {str(member.value): member for member in cls}

    def convert(value: str, path: str) -> Any:
        member = by_text.get(value)
        if member is None:
            raise ConversionError(path, f"{value!r} is not one of {', '.join(by_text)}")
        return member

    return convert


# ---------------------------------------------------------------------------------------------- encoding


def to_builtins(value: Any) -> Any:
    """One level of ``value`` as plain data, for an encoder's ``default`` hook.

    Encoders call this only for values they cannot write themselves and recurse
    into the result, so nested dataclasses cost one call each.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if pydantic_model(type(value)):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode a {type(value).__name__}")
