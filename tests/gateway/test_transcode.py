"""Request building (path, query, body) and response rendering."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lilo.crisis.v1 import crisis_service_pb2
from lilo.discovery.v1 import discovery_service_pb2
from lilo.safety.v1 import safety_service_pb2

from gateway_rest.errors import TranscodeError
from gateway_rest.routes import Route, RouteTable
from gateway_rest.transcode import (
    build_request,
    message_class,
    message_to_json,
    response_to_json,
)

# 3e38 rounded to the nearest float32, so hypothesis accepts it as a width-32 bound.
_F32_LIMIT_HIGH = struct.unpack("f", struct.pack("f", 3.0e38))[0]
_F32_LIMIT_LOW = -_F32_LIMIT_HIGH

RouteBy = Callable[..., Route]


@pytest.fixture(scope="module")
def project() -> RouteTable:
    return RouteTable.from_services(
        [
            crisis_service_pb2.DESCRIPTOR.services_by_name["CrisisService"],
            discovery_service_pb2.DESCRIPTOR.services_by_name["DiscoveryService"],
        ]
    )


def _request(
    table: RouteTable,
    method: str,
    path: str,
    query: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    **kwargs: Any,
) -> Any:
    m = table.match(method, path)
    return build_request(m.route, m.variables, query or [], body, **kwargs)


def _query(table: RouteTable, *pairs: tuple[str, str], **kwargs: Any) -> Any:
    return _request(table, "GET", "/v1/everything/e1", list(pairs), **kwargs)


def _error(fn: Callable[[], object]) -> TranscodeError:
    with pytest.raises(TranscodeError) as info:
        fn()
    return info.value


# --- project protos ---------------------------------------------------------------------------


def test_project_path_and_query(project: RouteTable) -> None:
    msg = _request(
        project,
        "GET",
        "/v1/alerts",
        [
            ("resident_id", "r-1"),
            ("states", "ALERT_STATE_OPEN"),
            ("states", "3"),
            ("minLevel", "CRISIS_LEVEL_HIGH"),
            ("page_size", "25"),
            ("pageToken", "t"),
        ],
    )
    assert isinstance(msg, crisis_service_pb2.ListAlertsRequest)
    assert msg.resident_id == "r-1"
    assert list(msg.states) == [
        crisis_service_pb2.ALERT_STATE_OPEN,
        crisis_service_pb2.ALERT_STATE_ESCALATED,
    ]
    assert msg.min_level == safety_service_pb2.CRISIS_LEVEL_HIGH
    assert (msg.page_size, msg.page_token) == (25, "t")


def test_project_body_star_with_path(project: RouteTable) -> None:
    body = json.dumps({"content": "I feel unsafe", "source": "chat"}).encode()
    msg = _request(project, "POST", "/v1/residents/r%2F1/content:screen", body=body)
    assert (msg.resident_id, msg.content, msg.source) == ("r/1", "I feel unsafe", "chat")


def test_project_path_wins_and_disagreeing_body_is_rejected(project: RouteTable) -> None:
    same = json.dumps({"residentId": "r-1", "content": "x"}).encode()
    assert _request(project, "POST", "/v1/residents/r-1/content:screen", body=same).content == "x"
    other = json.dumps({"residentId": "r-2", "content": "x"}).encode()
    err = _error(lambda: _request(project, "POST", "/v1/residents/r-1/content:screen", body=other))
    assert err.field == "resident_id"
    assert "disagrees" in err.message


def test_project_body_star_rejects_query(project: RouteTable) -> None:
    err = _error(
        lambda: _request(project, "POST", "/v1/alerts", [("source", "chat")], b'{"source": "x"}')
    )
    assert err.field == "source"
    msg = _request(
        project,
        "POST",
        "/v1/alerts",
        [("access_token", "secret")],
        b'{"residentId": "r", "level": "CRISIS_LEVEL_HIGH", '
        b'"categories": ["CRISIS_CATEGORY_SELF_HARM"]}',
        ignored_query_params=frozenset({"access_token"}),
    )
    assert msg.resident_id == "r"
    assert len(msg.categories) == 1


def test_project_delete_two_path_variables(project: RouteTable) -> None:
    msg = _request(project, "DELETE", "/v1/services/svc.A/instances/i%3A1")
    assert isinstance(msg, discovery_service_pb2.DeregisterRequest)
    assert (msg.service, msg.instance_id) == ("svc.A", "i:1")


# --- query parameter types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("i32", "-2147483648", lambda m: m.i32 == -(2**31)),
        ("i64", "9223372036854775807", lambda m: m.i64 == 2**63 - 1),
        ("u32", "4294967295", lambda m: m.u32 == 2**32 - 1),
        ("u64", "18446744073709551615", lambda m: m.u64 == 2**64 - 1),
        ("s32", "-5", lambda m: m.s32 == -5),
        ("s64", "-5", lambda m: m.s64 == -5),
        ("f32", "7", lambda m: m.f32 == 7),
        ("f64", "7", lambda m: m.f64 == 7),
        ("sf32", "-7", lambda m: m.sf32 == -7),
        ("sf64", "-7", lambda m: m.sf64 == -7),
        ("flt", "1.5", lambda m: m.flt == 1.5),
        ("dbl", "-2.5e3", lambda m: m.dbl == -2500.0),
        ("dbl", ".5", lambda m: m.dbl == 0.5),
        ("dbl", "Infinity", lambda m: m.dbl == float("inf")),
        ("dbl", "NaN", lambda m: m.dbl != m.dbl),
        ("flag", "true", lambda m: m.flag is True),
        ("flag", "TRUE", lambda m: m.flag is True),
        ("flag", "1", lambda m: m.flag is True),
        ("flag", "false", lambda m: m.flag is False),
        ("blob", base64.b64encode(b"\xfb\xff\x00").decode(), lambda m: m.blob == b"\xfb\xff\x00"),
        ("blob", "-_8A", lambda m: m.blob == b"\xfb\xff\x00"),  # URL-safe
        ("blob", "+/8A", lambda m: m.blob == b"\xfb\xff\x00"),
        ("blob", " /8A", lambda m: m.blob == b"\xfb\xff\x00"),  # '+' form-decoded to ' '
        ("blob", "aGk", lambda m: m.blob == b"hi"),  # padding optional
        ("color", "COLOR_BLUE", lambda m: m.color == 2),
        ("color", "1", lambda m: m.color == 1),
        ("inner.name", "n", lambda m: m.inner.name == "n"),
        ("inner.count", "3", lambda m: m.inner.count == 3),
        ("inner.color", "COLOR_RED", lambda m: m.inner.color == 1),
        ("inner.deep.leaf_value", "L", lambda m: m.inner.deep.leaf_value == "L"),
        ("inner.deep.leafValue", "L", lambda m: m.inner.deep.leaf_value == "L"),
        (
            "at",
            "2024-05-06T07:08:09.5Z",
            lambda m: (m.at.seconds, m.at.nanos) == (1714979289, 5 * 10**8),
        ),
        ("at", "2024-05-06T09:08:09+02:00", lambda m: m.at.seconds == 1714979289),
        ("ttl", "1.5s", lambda m: (m.ttl.seconds, m.ttl.nanos) == (1, 5 * 10**8)),
        ("ttl", "-3s", lambda m: m.ttl.seconds == -3),
        ("mask", "a,b.c", lambda m: list(m.mask.paths) == ["a", "b.c"]),
        ("mask", "fooBar,baz.quxQuux", lambda m: list(m.mask.paths) == ["foo_bar", "baz.qux_quux"]),
        ("mask", "foo_bar", lambda m: list(m.mask.paths) == ["foo_bar"]),
        ("mask", "", lambda m: m.HasField("mask") and not m.mask.paths),
        ("maybe_i32", "0", lambda m: m.HasField("maybe_i32") and m.maybe_i32.value == 0),
        ("maybeI32", "-4", lambda m: m.maybe_i32.value == -4),
        ("maybe_str", "", lambda m: m.HasField("maybe_str") and m.maybe_str.value == ""),
        ("maybe_flag", "false", lambda m: m.HasField("maybe_flag") and not m.maybe_flag.value),
        ("maybe_blob", "aGk=", lambda m: m.maybe_blob.value == b"hi"),
        ("maybe_dbl", "0.25", lambda m: m.maybe_dbl.value == 0.25),
        ("maybe_u64", "18446744073709551615", lambda m: m.maybe_u64.value == 2**64 - 1),
        ("pick_a", "a", lambda m: m.WhichOneof("choice") == "pick_a"),
        ("pickB", "0", lambda m: m.WhichOneof("choice") == "pick_b"),
        ("opt", "", lambda m: m.HasField("opt")),
    ],
)
def test_query_parameter_types(
    table: RouteTable, key: str, value: str, check: Callable[[Any], bool]
) -> None:
    assert check(_query(table, (key, value)))


def test_query_repeated_fields_collect_every_value(table: RouteTable) -> None:
    msg = _query(
        table,
        ("tags", "a"),
        ("nums", "1"),
        ("tags", "b"),
        ("nums", "-2"),
        ("colors", "COLOR_RED"),
        ("colors", "2"),
        ("tags", ""),
    )
    assert list(msg.tags) == ["a", "b", ""]
    assert list(msg.nums) == [1, -2]
    assert list(msg.colors) == [1, 2]


def test_query_unset_fields_stay_unset(table: RouteTable) -> None:
    msg = _query(table, ("i32", "1"))
    assert not msg.HasField("inner") and not msg.HasField("maybe_i32") and not msg.HasField("opt")


@pytest.mark.parametrize(
    ("pairs", "field", "fragment"),
    [
        ([("i32", "abc")], "i32", "integer"),
        ([("i32", "1.0")], "i32", "integer"),
        ([("i32", " 1")], "i32", "integer"),
        ([("i32", "1_000")], "i32", "integer"),
        ([("i32", "2147483648")], "i32", "[-2147483648, 2147483647]"),
        ([("u32", "-1")], "u32", "[0, 4294967295]"),
        ([("u64", "18446744073709551616")], "u64", "integer in"),
        ([("i64", "")], "i64", "integer"),
        ([("flt", "1e39")], "flt", "float32"),
        ([("dbl", "1e999")], "dbl", "finite"),
        ([("dbl", "abc")], "dbl", "number"),
        ([("dbl", "inf")], "dbl", "number"),
        ([("flag", "yes")], "flag", "true or false"),
        ([("blob", "!!!")], "blob", "base64"),
        ([("blob", "a")], "blob", "base64"),
        ([("color", "PURPLE")], "color", "gwtest.v1.Color"),
        ([("color", "7")], "color", "gwtest.v1.Color"),
        ([("color", "color_red")], "color", "gwtest.v1.Color"),
        ([("at", "yesterday")], "at", "RFC 3339"),
        ([("at", "2024-05-06T07:08:09")], "at", "RFC 3339"),
        ([("ttl", "5")], "ttl", "duration"),
        ([("mask", "a,,b")], "mask", "field paths"),
        ([("maybe_i32", "x")], "maybe_i32", "integer"),
        ([("nope", "1")], "nope", "unknown query parameter"),
        ([("inner.nope", "1")], "inner.nope", "unknown query parameter"),
        ([("i32.x", "1")], "i32.x", "unknown query parameter"),
        ([("", "1")], "", "unknown query parameter"),
        ([("inner.", "1")], "inner.", "unknown query parameter"),
        ([("inner", "x")], "inner", "inner.<field>"),
        ([("inners.name", "x")], "inners.name", "unknown query parameter"),
        ([("inners", "x")], "inners", "repeated message"),
        ([("labels", "x")], "labels", "map field"),
        ([("stamps", "2024-05-06T07:08:09Z")], "stamps", "repeated message"),
        ([("extra", "{}")], "extra", "message"),
        ([("i32", "1"), ("i32", "2")], "i32", "more than once"),
        ([("i32", "1"), ("i_32", "2")], "i_32", "unknown"),
        ([("maybeI32", "1"), ("maybe_i32", "2")], "maybe_i32", "more than once"),
        ([("pick_a", "a"), ("pick_b", "1")], "pick_b", "same oneof"),
        ([("id", "other")], "id", "URL path binds"),
    ],
)
def test_query_parameter_errors_name_the_parameter(
    table: RouteTable, pairs: list[tuple[str, str]], field: str, fragment: str
) -> None:
    err = _error(lambda: _query(table, *pairs))
    assert err.field == field
    assert fragment in err.message


def test_query_parent_of_path_variable_is_rejected(table: RouteTable) -> None:
    err = _error(lambda: _request(table, "GET", "/v1/groups/g/everything/e", [("inner.name", "x")]))
    assert err.field == "inner.name"
    err = _error(lambda: _request(table, "GET", "/v1/groups/g/everything/e", [("inner", "x")]))
    assert err.field == "inner"
    # A sibling of the path-bound field is fine.
    msg = _request(table, "GET", "/v1/groups/g/everything/e", [("inner.count", "2")])
    assert (msg.inner.name, msg.inner.count, msg.id) == ("g", 2, "e")


def test_ignore_unknown_fields_and_ignored_params(table: RouteTable) -> None:
    msg = _query(table, ("nope", "1"), ("i32", "4"), ignore_unknown_fields=True)
    assert msg.i32 == 4
    msg = _query(table, ("access_token", "t"), ignored_query_params=frozenset({"access_token"}))
    assert msg.id == "e1"
    # Ignoring unknown names does not relax type errors on known ones.
    assert _error(lambda: _query(table, ("i32", "x"), ignore_unknown_fields=True)).field == "i32"


# --- path variables ---------------------------------------------------------------------------


def test_path_variables_convert_to_field_types(make_table: Callable[[str], RouteTable]) -> None:
    table = make_table(
        'service { name: "P" method { name: "M" input_type: ".gwtest.v1.Everything" '
        'output_type: ".gwtest.v1.Everything" options { [google.api.http] { '
        'get: "/p/{i64}/{flag}/{color}/{at}/{maybe_i32}/{ttl}/{blob}/{inner.deep.leaf_value}" '
        "} } } }"
    )
    msg = _request(table, "GET", "/p/-9/true/COLOR_RED/2024-01-02T03:04:05Z/0/2s/aGk/x%2Fy")
    assert (msg.i64, msg.flag, msg.color) == (-9, True, 1)
    assert (msg.at.seconds, msg.at.nanos) == (1704164645, 0)
    assert msg.HasField("maybe_i32") and msg.maybe_i32.value == 0
    assert (msg.ttl.seconds, msg.blob, msg.inner.deep.leaf_value) == (2, b"hi", "x/y")
    err = _error(
        lambda: _request(table, "GET", "/p/x/true/COLOR_RED/2024-01-02T03:04:05Z/0/2s/a/b")
    )
    assert err.field == "i64"


def test_multi_segment_path_variable_keeps_encoded_slash(table: RouteTable) -> None:
    msg = _request(table, "GET", "/v1/messages/a%2Fb%20c")
    assert msg.name == "messages/a%2Fb c"


# --- bodies -----------------------------------------------------------------------------------


def _echo(table: RouteTable, body: Any, raw: bytes | None = None, **kwargs: Any) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    return _request(table, "POST", "/v1/everything/e1:echo", body=data, **kwargs)


def test_body_star_accepts_camel_and_original_names(table: RouteTable) -> None:
    msg = _echo(
        table,
        {
            "i64": "12",
            "maybeI32": 5,
            "maybe_str": "s",
            "inner": {"deep": {"leafValue": "a"}},
            "inners": [{"name": "x"}, {"count": 2}],
            "innerMap": {"k": {"name": "v"}},
            "labels": {"a": "b"},
            "at": "2024-01-02T03:04:05Z",
            "mask": "fooBar,baz",
            "extra": {"anything": [1, "two", None]},
            "pickB": 3,
        },
    )
    assert (msg.id, msg.i64, msg.maybe_i32.value, msg.maybe_str.value) == ("e1", 12, 5, "s")
    assert msg.inner.deep.leaf_value == "a"
    assert [i.name for i in msg.inners] == ["x", ""]
    assert msg.inner_map["k"].name == "v" and dict(msg.labels) == {"a": "b"}
    assert list(msg.mask.paths) == ["foo_bar", "baz"]
    assert msg.extra["anything"][1] == "two"
    assert msg.WhichOneof("choice") == "pick_b"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"inner": {"bogus": 1}}, "inner.bogus"),
        ({"inner": {"deep": {"leaf": "x"}}}, "inner.deep.leaf"),
        ({"inners": [{}, {"bogus": 1}]}, "inners[1].bogus"),
        ({"innerMap": {"k": {"bogus": 1}}}, "innerMap[k].bogus"),
    ],
)
def test_unknown_body_field_is_named(table: RouteTable, body: Any, field: str) -> None:
    err = _error(lambda: _echo(table, body))
    assert err.field == field
    assert "unknown field" in err.message
    # With ignore_unknown_fields the same body is accepted.
    assert _echo(table, body, ignore_unknown_fields=True).id == "e1"


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (b'{"i32": "abc"}', "i32", "i32"),
        (b'{"inner": {"count": "x"}}', "inner.count", "invalid request body"),
        (b'{"at": "yesterday"}', "at", "invalid request body"),
        (b'{"color": "PURPLE"}', "color", "PURPLE"),
        (b'{"tags": "notalist"}', "tags", "a JSON array"),
        (b'{"inner": 5}', "inner", "a JSON object"),
        (b'{"inners": [{}, 5]}', "inners[1]", "a JSON object"),
        (b'{"labels": []}', "labels", "a JSON object"),
        (b'{"maybeI32": 1, "maybe_i32": 2}', "maybe_i32", "given twice"),
        (b'{"i32": 1, "i32": 2}', "i32", "repeats the JSON key"),
        (b'{"i32": NaN}', None, "not valid JSON"),
        (b'{"i32": ', None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b"null", None, "JSON object"),
        (b'"text"', None, "JSON object"),
        (b'{"id": "\xff"}', None, "not UTF-8"),
        (b'{"id": "other"}', "id", "disagrees"),
    ],
)
def test_bad_bodies(table: RouteTable, raw: bytes, field: str | None, fragment: str) -> None:
    err = _error(lambda: _echo(table, None, raw=raw))
    assert err.field == field
    assert fragment in err.message


def test_deeply_nested_body_is_a_clean_error(table: RouteTable) -> None:
    raw = b'{"extra": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    err = _error(lambda: _echo(table, None, raw=raw))
    assert "nested" in err.message or "invalid request body" in err.message


def test_json_null_leaves_fields_unset(table: RouteTable) -> None:
    msg = _echo(table, {"inner": None, "tags": None, "i32": None, "maybeI32": None})
    assert not msg.HasField("inner") and not msg.tags and msg.i32 == 0
    assert not msg.HasField("maybe_i32")


def test_empty_body_is_an_empty_object(table: RouteTable) -> None:
    assert _echo(table, None, raw=b"").id == "e1"
    assert _echo(table, None, raw=b" \n").i32 == 0


def test_body_field_maps_json_into_that_field(table: RouteTable) -> None:
    msg = _request(
        table,
        "PATCH",
        "/v1/everything/e9",
        [("update_mask", "i32,inner.name"), ("tags", "t1")],
        json.dumps({"i32": 4, "inner": {"name": "n"}}).encode(),
    )
    assert (msg.id, msg.item.i32, msg.item.inner.name) == ("e9", 4, "n")
    assert list(msg.update_mask.paths) == ["i32", "inner.name"]
    assert list(msg.tags) == ["t1"]


def test_body_field_errors_are_request_relative(table: RouteTable) -> None:
    err = _error(lambda: _request(table, "PATCH", "/v1/everything/e", body=b'{"bogus": 1}'))
    assert err.field == "item.bogus"
    err = _error(lambda: _request(table, "PATCH", "/v1/everything/e", body=b'{"i32": "x"}'))
    assert err.field == "item.i32"
    err = _error(lambda: _request(table, "PATCH", "/v1/everything/e", [("item.i32", "1")], b"{}"))
    assert err.field == "item.i32"
    assert "inside the request body" in err.message


def test_path_variable_inside_body_field(table: RouteTable) -> None:
    msg = _request(
        table,
        "PATCH",
        "/v1/shelves/s1/books/b1",
        [("validate_only", "true")],
        b'{"title": "T"}',
    )
    assert (msg.book.name, msg.book.title, msg.validate_only) == ("shelves/s1/books/b1", "T", True)
    same = b'{"name": "shelves/s1/books/b1", "title": "T"}'
    assert _request(table, "PATCH", "/v1/shelves/s1/books/b1", body=same).book.title == "T"
    other = b'{"name": "shelves/s1/books/b2"}'
    err = _error(lambda: _request(table, "PATCH", "/v1/shelves/s1/books/b1", body=other))
    assert err.field == "book.name"


def test_no_body_rule_rejects_a_body(table: RouteTable) -> None:
    err = _error(lambda: _request(table, "GET", "/v1/everything/e1", body=b'{"i32": 1}'))
    assert err.field is None
    assert "takes no request body" in err.message
    assert _request(table, "GET", "/v1/everything/e1", body=b"  ").id == "e1"


def test_message_type_override(table: RouteTable, route_by: Callable[..., Route]) -> None:
    cls = message_class(route_by("Query").request_type)
    m = table.match("GET", "/v1/everything/x")
    assert type(build_request(m.route, m.variables, message_type=cls)) is cls


# --- responses --------------------------------------------------------------------------------


def test_message_to_json_prints_zero_values_in_camel_case(everything_cls: type[Any]) -> None:
    out = message_to_json(everything_cls(id="x"))
    assert out["id"] == "x"
    assert out["i32"] == 0 and out["i64"] == "0" and out["flag"] is False
    assert out["tags"] == [] and out["labels"] == {} and out["innerMap"] == {}
    assert out["color"] == "COLOR_UNSPECIFIED"
    assert "inner" not in out and "opt" not in out and "maybeI32" not in out


def test_response_body_selects_one_field(table: RouteTable) -> None:
    def response_for(path: str) -> tuple[Route, Any]:
        route = table.match("GET", path).route
        return route, message_class(route.response_type)

    route, cls = response_for("/v1/books")
    msg = cls(books=[{"name": "a"}], next_page_token="n")
    assert response_to_json(route, msg) == [{"name": "a", "title": ""}]
    route, cls = response_for("/v1/books:first")
    assert response_to_json(route, cls()) == {"name": "", "title": ""}
    assert response_to_json(route, cls(first={"title": "T"})) == {"name": "", "title": "T"}
    route, cls = response_for("/v1/books:total")
    assert response_to_json(route, cls()) is None
    assert response_to_json(route, cls(total=0)) == 0
    route, cls = response_for("/v1/books:token")
    assert response_to_json(route, cls(next_page_token="n")) == "n"
    route, cls = response_for("/v1/books:all")
    assert response_to_json(route, cls()) == {"books": [], "nextPageToken": ""}


def test_project_response_json(project: RouteTable) -> None:
    route = project.match("GET", "/v1/alerts/a").route
    resp = crisis_service_pb2.GetAlertResponse(alert={"alert_id": "a", "categories": [1]})
    out = response_to_json(route, resp)
    assert out["alert"]["alertId"] == "a"
    assert out["alert"]["state"] == "ALERT_STATE_UNSPECIFIED"
    assert len(out["alert"]["categories"]) == 1


# --- property: JSON -> proto -> JSON ----------------------------------------------------------

_i32 = st.integers(-(2**31), 2**31 - 1)
_u32 = st.integers(0, 2**32 - 1)
_i64 = st.integers(-(2**63), 2**63 - 1)
_u64 = st.integers(0, 2**64 - 1)
_text = st.text(max_size=8)
_color = st.integers(0, 2)
_inner = st.fixed_dictionaries(
    {},
    optional={
        "name": _text,
        "count": _i32,
        "color": _color,
        "deep": st.fixed_dictionaries({}, optional={"leaf_value": _text}),
    },
)
_timestamp = st.fixed_dictionaries(
    {"seconds": st.integers(-62135596800, 253402300799), "nanos": st.integers(0, 999_999_999)}
)
_duration = st.integers(-(10**9), 10**9).flatmap(
    lambda s: st.fixed_dictionaries(
        {
            "seconds": st.just(s),
            "nanos": st.integers(0, 999_999_999)
            if s > 0
            else st.integers(-999_999_999, 0)
            if s < 0
            else st.integers(-999_999_999, 999_999_999),
        }
    )
)
_snake = st.from_regex(r"[a-z]{1,5}(_[a-z]{1,5})?(\.[a-z]{1,5}(_[a-z]{1,5})?)?", fullmatch=True)

_everything = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8)},
    optional={
        "i32": _i32,
        "i64": _i64,
        "u32": _u32,
        "u64": _u64,
        "s32": _i32,
        "s64": _i64,
        "f32": _u32,
        "f64": _u64,
        "sf32": _i32,
        "sf64": _i64,
        # protobuf's JSON printer rounds float32 extremes (max, subnormals) to text that
        # parses back out of float32 range; values inside the normal range round-trip.
        "flt": st.floats(
            width=32,
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
            min_value=_F32_LIMIT_LOW,
            max_value=_F32_LIMIT_HIGH,
        ),
        "dbl": st.floats(allow_nan=False),
        "flag": st.booleans(),
        "blob": st.binary(max_size=16),
        "color": _color,
        "tags": st.lists(_text, max_size=3),
        "nums": st.lists(_i32, max_size=3),
        "colors": st.lists(_color, max_size=3),
        "inner": _inner,
        "inners": st.lists(_inner, max_size=2),
        "labels": st.dictionaries(_text, _text, max_size=2),
        "inner_map": st.dictionaries(_text, _inner, max_size=2),
        "at": _timestamp,
        "ttl": _duration,
        "mask": st.fixed_dictionaries({"paths": st.lists(_snake, max_size=3)}),
        "maybe_i32": st.fixed_dictionaries({"value": _i32}),
        "maybe_str": st.fixed_dictionaries({"value": _text}),
        "maybe_flag": st.fixed_dictionaries({"value": st.booleans()}),
        "maybe_blob": st.fixed_dictionaries({"value": st.binary(max_size=8)}),
        "maybe_dbl": st.fixed_dictionaries({"value": st.floats(allow_nan=False)}),
        "maybe_u64": st.fixed_dictionaries({"value": _u64}),
        "pick_a": _text,
        "opt": _text,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_everything)
def test_json_proto_json_round_trip(
    fields: dict[str, Any], table: RouteTable, everything_cls: type[Any]
) -> None:
    original = everything_cls(**fields)
    rendered = message_to_json(original)
    body = json.dumps(rendered).encode()
    m = table.match("POST", "/v1/everything/" + quote(original.id, safe="") + ":echo")
    rebuilt = build_request(m.route, m.variables, [], body)
    assert rebuilt == original
    assert message_to_json(rebuilt) == rendered
