"""Path template grammar, matching, precedence keys and percent-decoding."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_rest.errors import TemplateSyntaxError, TranscodeError
from gateway_rest.httprule import SegmentKind, parse_template, split_request_path

L, S, M = SegmentKind.LITERAL, SegmentKind.SINGLE, SegmentKind.MULTI


# --- grammar: valid templates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "kinds", "variables", "verb"),
    [
        ("/", [], [], None),
        ("/v1", [L], [], None),
        ("/v1/alerts", [L, L], [], None),
        ("/v1/*", [L, S], [], None),
        ("/v1/**", [L, M], [], None),
        ("/v1/*/x/**", [L, S, L, M], [], None),
        ("/v1/{id}", [L, S], [("id", 1, 2, False)], None),
        ("/v1/{id=*}", [L, S], [("id", 1, 2, False)], None),
        ("/v1/{a.b.c}", [L, S], [("a.b.c", 1, 2, False)], None),
        ("/v1/{name=messages/*}", [L, L, S], [("name", 1, 3, True)], None),
        ("/v1/{name=**}", [L, M], [("name", 1, 2, True)], None),
        ("/v1/{name=shelves/*/books/**}", [L, L, S, L, M], [("name", 1, 5, True)], None),
        ("/v1/{name=lit}", [L, L], [("name", 1, 2, False)], None),
        (
            "/v1/alerts/{alert_id}:acknowledge",
            [L, L, S],
            [("alert_id", 2, 3, False)],
            "acknowledge",
        ),
        ("/v1/alerts:watch", [L, L], [], "watch"),
        ("/v1/{name=**}:undelete", [L, M], [("name", 1, 2, True)], "undelete"),
        ("/v1/**:custom", [L, M], [], "custom"),
        (
            "/v1/{a}/{b}/x/{c=y/*}",
            [L, S, S, L, L, S],
            [("a", 1, 2, False), ("b", 2, 3, False), ("c", 4, 6, True)],
            None,
        ),
        ("/v1/_a-b.c~d!$&'()+,;=@", [L, L], [], None),
        ("/v1/caf%C3%A9", [L, L], [], None),
        ("/v1/x:changePlan", [L, L], [], "changePlan"),
    ],
)
def test_valid_templates_compile(
    template: str,
    kinds: list[SegmentKind],
    variables: list[tuple[str, int, int, bool]],
    verb: str | None,
) -> None:
    t = parse_template(template)
    assert [s.kind for s in t.segments] == kinds
    assert [(v.field_path, v.start, v.end, v.multi_segment) for v in t.variables] == variables
    assert t.verb == verb
    assert t.source == template


def test_literals_are_normalised_at_compile_time() -> None:
    t = parse_template("/v1/%61lerts/%2f")
    assert [s.literal for s in t.segments] == ["v1", "alerts", "%2F"]


# --- grammar: errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "position", "reason"),
    [
        ("", 0, "expected '/'"),
        ("v1/alerts", 0, "expected '/'"),
        ("/v1/", 4, "empty segment"),
        ("//", 1, "empty segment"),
        ("/v1//x", 4, "empty segment"),
        ("/v1/{", 5, "field name"),
        ("/v1/{id", 7, "expected '}'"),
        ("/v1/{}", 5, "field name"),
        ("/v1/{1id}", 5, "field name"),
        ("/v1/{a.}", 7, "field name"),
        ("/v1/{a..b}", 7, "field name"),
        ("/v1/{a=}", 7, "empty segment"),
        ("/v1/{a=b/}", 9, "empty segment"),
        ("/v1/{a={b}}", 7, "must not contain another variable"),
        ("/v1/{a=x/{b}}", 9, "must not contain another variable"),
        ("/v1/{a}/{a}", 8, "bound twice"),
        ("/v1/**/x", 6, "'**' must be the last segment"),
        ("/v1/{a=**/x}", 9, "'**' must be the last segment"),
        ("/v1/{a=**}/x", 10, "'**' must be the last segment"),
        ("/**/{a=**}", 3, "'**' must be the last segment"),
        ("/v1/a*", 5, "unexpected '*'"),
        ("/v1/*a", 5, "wildcard must be a whole segment"),
        ("/v1/***", 6, "wildcard must be a whole segment"),
        ("/v1/{a=*b}", 8, "wildcard must be a whole segment"),
        ("/v1/:verb", 4, "empty segment"),
        ("/v1:", 4, "empty verb"),
        ("/v1:a/b", 5, "unexpected '/'"),
        ("/v1:a:b", 5, "unexpected ':'"),
        ("/v1/{a:b}", 6, "expected '}'"),
        ("/v1/%zz", 4, "two-digit hex escape"),
        ("/v1/%4", 4, "two-digit hex escape"),
        ("/v1/a b", 5, "unexpected ' '"),
        ("/v1/a?b", 5, "unexpected '?'"),
        ("/v1/é", 4, "not allowed"),
        ("/v1/a}", 5, "unexpected '}'"),
    ],
)
def test_bad_templates_raise_with_position(template: str, position: int, reason: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse_template(template)
    assert info.value.position == position
    assert reason in info.value.reason
    assert repr(template) in str(info.value)


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("/", "/", {}),
        ("/", "/v1", None),
        ("/v1/alerts", "/v1/alerts", {}),
        ("/v1/alerts", "/v1/alerts/", None),  # trailing slash is an empty segment
        ("/v1/alerts", "/v1//alerts", None),
        ("/v1/alerts", "/v1/alert", None),
        ("/v1/alerts", "/v1/alerts/x", None),
        ("/v1/alerts", "v1/alerts", None),
        ("/v1/alerts", "/v1/%61lerts", {}),  # escaped unreserved char == the char
        ("/v1/alerts", "/V1/alerts", None),  # literals are case-sensitive
        ("/v1/alerts", "/v1/alerts?x=1#frag", {}),
        ("/v1/{id}", "/v1/abc", {"id": "abc"}),
        ("/v1/{id}", "/v1/", None),
        ("/v1/{id}", "/v1/a/b", None),
        ("/v1/*", "/v1/x", {}),
        ("/v1/**", "/v1", {}),
        ("/v1/**", "/v1/a/b/c", {}),
        ("/v1/{path=**}", "/v1", {"path": ""}),
        ("/v1/{path=**}", "/v1/a", {"path": "a"}),
        ("/v1/{path=**}", "/v1/a/b/c", {"path": "a/b/c"}),
        ("/v1/{path=**}", "/v1/a//c", None),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/s/books/b", {"name": "shelves/s/books/b"}),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/s/cars/b", None),
        ("/v1/{name=shelves/*}/books", "/v1/shelves/1/books", {"name": "shelves/1"}),
        ("/v1/{a}/{b.c}", "/v1/x/y", {"a": "x", "b.c": "y"}),
        ("/v1/{id}:go", "/v1/x:go", {"id": "x"}),
        ("/v1/{id}:go", "/v1/x:stop", None),
        ("/v1/{id}:go", "/v1/x", None),
        ("/v1/{id}:go", "/v1/x%3Ago", None),  # an escaped ':' is data, not a verb
        ("/v1/{id}:go", "/v1/a:b:go", {"id": "a:b"}),  # the last ':' starts the verb
        ("/v1/{id}:go", "/v1/:go", None),
        ("/v1/{id}", "/v1/x:go", {"id": "x:go"}),  # no verb in template: ':' is data
        ("/v1/alerts:watch", "/v1/alerts:watch", {}),
        ("/v1/alerts:watch", "/v1/alerts", None),
        ("/v1/alerts", "/v1/alerts:watch", None),
        ("/v1/{name=**}:undelete", "/v1/a/b:undelete", {"name": "a/b"}),
        ("/v1/{name=**}:undelete", "/v1:undelete", {"name": ""}),
        ("/v1/x:%61b", "/v1/x:ab", {}),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert parse_template(template).match(path) == expected


def test_match_accepts_raw_bytes_path() -> None:
    assert parse_template("/v1/{id}").match(b"/v1/caf%C3%A9") == {"id": "café"}
    # Raw UTF-8 bytes (not escaped by the client) survive too.
    assert parse_template("/v1/{id}").match("/v1/café".encode()) == {"id": "café"}


def test_split_request_path_extracts_verb_from_last_segment_only() -> None:
    req = split_request_path("/v1/a:b/c:d")
    assert req.segments == ("v1", "a:b", "c:d")
    assert req.verb == "d"
    assert req.verb_segments == ("v1", "a:b", "c")
    assert split_request_path("/v1/a").verb is None


# --- percent-decoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "value"),
    [
        # Single segment: everything decoded, %2F included.
        ("/v1/{v}", "/v1/a%2Fb", "a/b"),
        ("/v1/{v}", "/v1/a%2fb", "a/b"),
        ("/v1/{v}", "/v1/a%20b", "a b"),
        ("/v1/{v}", "/v1/a+b", "a+b"),  # '+' is not a space in a path
        ("/v1/{v}", "/v1/%3A%40%25", ":@%"),
        ("/v1/{v}", "/v1/%E2%9C%93", "✓"),
        ("/v1/{v=*}", "/v1/a%2Fb", "a/b"),
        # Multi segment: everything but %2F / %2f decoded.
        ("/v1/{v=**}", "/v1/a%2Fb/c%20d", "a%2Fb/c d"),
        ("/v1/{v=**}", "/v1/a%2fb", "a%2fb"),
        ("/v1/{v=**}", "/v1/%25%2F", "%%2F"),
        ("/v1/{v=x/*}", "/v1/x/a%2Fb%3F", "x/a%2Fb?"),
        ("/v1/{v=x/*}", "/v1/x/%C3%A9", "x/é"),
    ],
)
def test_percent_decoding_by_variable_kind(template: str, path: str, value: str) -> None:
    assert parse_template(template).match(path) == {"v": value}


@pytest.mark.parametrize(
    "path", ["/v1/a%", "/v1/a%2", "/v1/a%zz", "/v1/%FF", "/v1/%C3", "/v1/%ED%A0%80"]
)
def test_undecodable_variable_raises_transcode_error_naming_it(path: str) -> None:
    with pytest.raises(TranscodeError) as info:
        parse_template("/v1/{thing.id}").match(path)
    assert info.value.field == "thing.id"


# --- precedence keys --------------------------------------------------------------------------


def _key(template: str) -> tuple[bool, int, tuple[int, ...]]:
    return parse_template(template).precedence


@pytest.mark.parametrize(
    ("winner", "loser"),
    [
        ("/v1/alerts/x", "/v1/alerts/{id}"),
        ("/v1/{a}/x/y", "/v1/b/{c}/{d}"),  # more literals beat an earlier literal
        ("/v1/x/{a}", "/v1/{a}/x"),  # equal literals: earlier literal wins
        ("/v1/{a}", "/v1/**"),
        ("/v1/{a}", "/v1/*/**"),  # the end of a template beats '**' matching nothing
        ("/v1/x/**", "/v1/**"),
        ("/v1/{id}:go", "/v1/x/{id}"),  # a matched verb beats literals
    ],
)
def test_precedence_order(winner: str, loser: str) -> None:
    assert _key(winner) > _key(loser)


def test_shape_ignores_variable_names() -> None:
    assert parse_template("/v1/{a}").shape == parse_template("/v1/{b=*}").shape
    assert parse_template("/v1/{a=**}").shape == parse_template("/v1/**").shape
    assert parse_template("/v1/{a}").shape != parse_template("/v1/{a}:x").shape
    assert parse_template("/v1/%61").shape == parse_template("/v1/a").shape


# --- properties ------------------------------------------------------------------------------

_segment_text = st.text(min_size=1).filter(lambda s: "/" not in s)


@settings(deadline=None)  # the machine is shared: timing is not what is tested
@given(st.text(min_size=1))
def test_single_segment_round_trip(value: str) -> None:
    """A client encoding all but [-_.~0-9a-zA-Z] gets the exact value back."""
    encoded = quote(value, safe="-_.~")
    assert parse_template("/v1/{v}").match("/v1/" + encoded) == {"v": value}


@settings(deadline=None)
@given(st.lists(_segment_text, min_size=1, max_size=5))
def test_multi_segment_round_trip(parts: list[str]) -> None:
    """A client encoding all but [-_.~/0-9a-zA-Z] gets the value back, '/' as separators."""
    value = "/".join(parts)
    encoded = quote(value, safe="-_.~/")
    assert parse_template("/v1/{v=**}").match("/v1/" + encoded) == {"v": value}
