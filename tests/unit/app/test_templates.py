"""Route templates: Spring-style ``{var}`` patterns matched by the router and expanded by the requester."""

from __future__ import annotations

import pytest

from aiorsocket.app import RouteTemplate


def test_literal_template_matches_only_its_own_route() -> None:
    template = RouteTemplate("users.list")
    assert template.is_literal
    assert template.match("users.list") == {}
    assert template.match("users.lis") is None
    assert template.match("users.list.all") is None


def test_variable_matches_one_segment_between_dots_or_slashes() -> None:
    template = RouteTemplate("users.{id}.orders")
    assert template.variables == ("id",)
    assert template.match("users.42.orders") == {"id": "42"}
    assert template.match("users.4.2.orders") is None
    assert template.match("users./x.orders") is None
    assert template.match("users..orders") is None


def test_variable_with_explicit_regex_may_span_separators() -> None:
    template = RouteTemplate("files.{path:.+}")
    assert template.match("files.a/b.txt") == {"path": "a/b.txt"}
    assert RouteTemplate("v{major:[0-9]+}.ping").match("v12.ping") == {"major": "12"}
    assert RouteTemplate("v{major:[0-9]+}.ping").match("vx.ping") is None


def test_regex_metacharacters_in_literal_parts_are_literal() -> None:
    assert RouteTemplate("a+b.{x}").match("a+b.1") == {"x": "1"}
    assert RouteTemplate("a+b.{x}").match("aab.1") is None


def test_expand_fills_variables_and_checks_them_against_the_pattern() -> None:
    assert RouteTemplate("users.{id}").expand({"id": 42}) == "users.42"
    with pytest.raises(ValueError, match="needs values for id"):
        RouteTemplate("users.{id}").expand({})
    with pytest.raises(ValueError, match="has no variables other"):
        RouteTemplate("users.{id}").expand({"id": 1, "other": 2})
    with pytest.raises(ValueError, match="do not fit"):
        RouteTemplate("users.{id}").expand({"id": "a.b"})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("users.{id", "unbalanced"),
        ("users.{id}.{id}", "twice"),
        ("users.{1id}", "unbalanced"),
        ("users.{id:[}", "bad pattern"),
    ],
)
def test_malformed_templates_fail_when_declared(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RouteTemplate(pattern)


def test_specificity_orders_more_literal_templates_first() -> None:
    templates = [RouteTemplate(p) for p in ("{a}.{b}", "users.{id}", "users.{id}.orders")]
    ordered = sorted(templates, key=lambda t: t.specificity)
    assert [t.pattern for t in ordered] == ["users.{id}.orders", "users.{id}", "{a}.{b}"]
