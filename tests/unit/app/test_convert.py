"""Typed bodies: decoded data checked against annotations, errors naming the path of the bad value."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, NewType, TypedDict

import pydantic
import pytest

from aiorsocket.app import ConversionError
from aiorsocket.app.convert import converter_for, string_converter_for, to_builtins


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Item:
    sku: str
    price: float
    tags: list[str] = field(default_factory=list)


@dataclass
class Order:
    id: int
    items: list[Item]
    color: Color = Color.RED
    note: str | None = None


@dataclass
class Node:
    value: int
    children: list[Node] = field(default_factory=list)


class Movie(TypedDict, total=False):
    title: str
    year: int


class Account(pydantic.BaseModel):
    name: str
    balance: int = pydantic.Field(ge=0)


UserId = NewType("UserId", int)


def convert(tp: Any, value: Any) -> Any:
    return converter_for(tp)(value, "body")


def test_nested_dataclasses_are_built_with_defaults_and_unknown_keys_ignored() -> None:
    order = convert(Order, {"id": 1, "items": [{"sku": "a", "price": 2}], "extra": True})
    assert order == Order(1, [Item("a", 2.0)])
    assert isinstance(order.items[0].price, float)


def test_error_path_points_at_the_bad_value() -> None:
    with pytest.raises(ConversionError, match=r"body\.items\[1\]\.price: expected float, got str"):
        convert(Order, {"id": 1, "items": [{"sku": "a", "price": 1}, {"sku": "b", "price": "x"}]})
    with pytest.raises(ConversionError, match=r"body\.id: missing required field"):
        convert(Order, {"items": []})
    with pytest.raises(ConversionError, match=r"body\.color: 'green' is not one of 'red', 'blue'"):
        convert(Order, {"id": 1, "items": [], "color": "green"})


def test_recursive_dataclasses_convert() -> None:
    tree = convert(Node, {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})
    assert tree.children[0].children[0].value == 3


def test_dataclass_post_init_validation_becomes_a_conversion_error() -> None:
    @dataclass
    class Positive:
        n: int

        def __post_init__(self) -> None:
            if self.n <= 0:
                raise ValueError("n must be positive")

    with pytest.raises(ConversionError, match="body: n must be positive"):
        converter_for(Positive, localns={"Positive": Positive})({"n": 0}, "body")


def test_local_classes_resolve_through_the_given_namespace() -> None:
    @dataclass
    class Inner:
        x: int

    @dataclass
    class Outer:
        inner: Inner

    converted = converter_for(Outer, localns=locals())({"inner": {"x": 1}}, "body")
    assert converted == Outer(Inner(1))


@pytest.mark.parametrize(
    ("tp", "good", "bad"),
    [
        (int, 3, True),
        (float, 3, "3"),
        (bool, False, 0),
        (str, "s", 1),
        (bytes, b"b", "b"),
        (Literal[1, "x"], "x", True),
        (int | str, "5", 5.5),
        (list[int], [1, 2], [1, "2"]),
        (tuple[int, str], [1, "a"], [1, "a", 2]),
        (tuple[int, ...], [1, 2, 3], [1, None]),
        (dict[str, int], {"a": 1}, {"a": "1"}),
        (set[int], [1, 2], "12"),
        (UserId, 7, "7"),
        (Annotated[int, "doc"], 1, "1"),
        (Any, object, None),
    ],
)
def test_builtin_types_accept_their_values_and_refuse_others(tp: Any, good: Any, bad: Any) -> None:
    convert(tp, good)
    if tp is not Any:
        with pytest.raises(ConversionError):
            convert(tp, bad)


def test_optional_accepts_null() -> None:
    assert convert(int | None, None) is None
    assert convert(int | None, 3) == 3


def test_dict_keys_from_json_strings_become_ints_when_declared() -> None:
    assert convert(dict[int, str], {"1": "a", "2": "b"}) == {1: "a", 2: "b"}


def test_iso_strings_become_datetimes_uuids_and_decimals() -> None:
    assert convert(dt.datetime, "2024-05-01T12:30:00+00:00") == dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    assert convert(dt.date, "2024-05-01") == dt.date(2024, 5, 1)
    ident = uuid.uuid4()
    assert convert(uuid.UUID, str(ident)) == ident
    assert convert(Decimal, "1.10") == Decimal("1.10")
    with pytest.raises(ConversionError, match="ISO 8601"):
        convert(dt.date, "yesterday")


def test_typed_dict_checks_declared_keys() -> None:
    assert convert(Movie, {"title": "Alien", "year": 1979}) == {"title": "Alien", "year": 1979}
    with pytest.raises(ConversionError, match=r"body\.year: expected int"):
        convert(Movie, {"year": "1979"})


def test_pydantic_models_validate_and_report_pydantic_errors() -> None:
    assert convert(Account, {"name": "a", "balance": 3}) == Account(name="a", balance=3)
    with pytest.raises(ConversionError, match="body: balance: Input should be greater than or equal to 0"):
        convert(Account, {"name": "a", "balance": -1})


def test_route_variables_convert_from_text() -> None:
    assert string_converter_for(int)("42", "id") == 42
    assert string_converter_for(bool)("true", "flag") is True
    assert string_converter_for(Color)("blue", "c") is Color.BLUE
    assert string_converter_for(int | None)("5", "n") == 5
    with pytest.raises(ConversionError, match="id: expected an integer, got 'x'"):
        string_converter_for(int)("x", "id")


def test_to_builtins_flattens_one_level_for_encoders() -> None:
    assert to_builtins(Item("a", 1.0)) == {"sku": "a", "price": 1.0, "tags": []}
    assert to_builtins(Color.BLUE) == "blue"
    assert to_builtins(Account(name="a", balance=1)) == {"name": "a", "balance": 1}
    assert sorted(to_builtins({1, 2})) == [1, 2]
    with pytest.raises(TypeError, match="cannot encode a object"):
        to_builtins(object())
