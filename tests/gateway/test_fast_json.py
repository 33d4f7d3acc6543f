"""The transcoder's fast paths give exactly what json_format gives.

``message_to_json`` renders common messages without json_format, and ``build_request`` sets
flat bodies without it; both must agree with json_format byte for byte (key order included)
and fall back to it for everything they do not cover.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from google.protobuf import json_format, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lilo.crisis.v1 import crisis_service_pb2 as crisis_pb

from gateway_rest.errors import TranscodeError
from gateway_rest.routes import Route, RouteTable
from gateway_rest.transcode import build_request, message_to_json
from tests.gateway.test_transcode import _everything


def _reference(message: Any) -> str:
    return json.dumps(json_format.MessageToDict(message, always_print_fields_with_no_presence=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_everything)
def test_rendering_matches_json_format(fields: dict[str, Any], everything_cls: type[Any]) -> None:
    message = everything_cls(**fields)
    assert json.dumps(message_to_json(message)) == _reference(message)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"flt": math.inf, "dbl": -math.inf},
        {"flt": math.nan, "dbl": math.nan},
        {"flt": 0.1, "dbl": 0.1},  # float32 printed at its shortest form
        {"color": 7, "colors": [1, 9]},  # enum numbers with no name (open enum)
        {"i64": -(2**63), "u64": 2**64 - 1, "blob": b"\x00\xff"},
        {"labels": {"b": "2", "a": "1"}, "inner_map": {"k": {"name": "x"}}},
        {"opt": "", "pick_b": 0},  # presence: set to zero, still printed
        {"extra": {"fields": {"k": {"number_value": 1.5}}}},
    ],
)
def test_rendering_edge_values(fields: dict[str, Any], everything_cls: type[Any]) -> None:
    message = everything_cls(**fields)
    assert json.dumps(message_to_json(message)) == _reference(message)


def test_project_messages_and_well_known_types() -> None:
    alert = crisis_pb.Alert(alert_id="a-1", excerpt="Grüße", state=crisis_pb.ALERT_STATE_OPEN)
    alert.created_at.FromSeconds(1_700_000_000)
    event = crisis_pb.AlertEvent(cursor="00000001", type=crisis_pb.ALERT_EVENT_TYPE_CREATED)
    event.alert.CopyFrom(alert)
    stamp = timestamp_pb2.Timestamp(seconds=5)
    for message in (alert, event, crisis_pb.WatchAlertsResponse(event=event), stamp):
        assert json.dumps(message_to_json(message)) == _reference(message)
    assert message_to_json(stamp) == "1970-01-01T00:00:05Z"


# -- request bodies ------------------------------------------------------------------------

_flat = st.fixed_dictionaries(
    {},
    optional={
        "i32": st.integers(-(2**31), 2**31 - 1),
        "u32": st.integers(0, 2**32 - 1),
        "s64": st.integers(-(2**63), 2**63 - 1),
        "u64": st.integers(0, 2**64 - 1),
        "flag": st.booleans(),
        "color": st.sampled_from(["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_BLUE"]),
        "maybeI32": st.none(),
        "inner": st.fixed_dictionaries({"name": st.text(max_size=4)}),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_flat, ident=st.text(min_size=1, max_size=6))
def test_flat_body_gives_the_json_format_message(
    document: dict[str, Any],
    ident: str,
    table: RouteTable,
    everything_cls: type[Any],
) -> None:
    document = {"id": ident, **document}
    m = table.match("POST", "/v1/everything/" + quote(ident, safe="") + ":echo")
    built = build_request(m.route, m.variables, [], json.dumps(document).encode())
    assert built == json_format.ParseDict(document, everything_cls())


def _echo_route(route_by: Callable[..., Route]) -> Route:
    return route_by("Echo")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"id": "x", "i32": "5"}', {"id": "x", "i32": 5}),  # a string for an int: converted
        ('{"id": "x", "i32": 5.0}', {"id": "x", "i32": 5}),
        ('{"id": "x", "i64": "-7"}', {"id": "x", "i64": -7}),
        ('{"id": "x", "color": 2}', {"id": "x", "color": 2}),
        ('{"id": "x", "flag": null, "opt": "o"}', {"id": "x", "opt": "o"}),
        ('{"id": "x", "tags": ["a"]}', {"id": "x", "tags": ["a"]}),
    ],
)
def test_bodies_the_fast_path_declines_still_parse(
    body: str,
    expected: dict[str, Any],
    route_by: Callable[..., Route],
    everything_cls: type[Any],
) -> None:
    built = build_request(_echo_route(route_by), {"id": "x"}, [], body.encode())
    assert built == everything_cls(**expected)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ('{"id": "x", "i32": 1, "I32": 2}', "I32", "unknown field"),
        ('{"id": "x", "i32": 2147483648}', "i32", "invalid request body for field i32"),
        ('{"id": "x", "u32": -1}', "u32", "invalid request body for field u32"),
        ('{"id": "x", "color": "COLOR_GREEN"}', "color", "invalid request body for field color"),
        ('{"id": "x", "flag": "true"}', "flag", "invalid request body for field flag"),
        ('{"id": "x", "maybe_i32": 1, "maybeI32": 1}', "maybeI32", "given twice"),
        ('{"id": "x", "inner": {"name": "a"}, "inner": {}}', "inner", "repeats the JSON key"),
    ],
)
def test_bad_flat_bodies_name_the_field(
    body: str, field: str, words: str, route_by: Callable[..., Route]
) -> None:
    with pytest.raises(TranscodeError) as info:
        build_request(_echo_route(route_by), {"id": "x"}, [], body.encode())
    assert info.value.field == field
    assert words in info.value.message


def test_unpaired_surrogate_is_refused_like_json_format(route_by: Callable[..., Route]) -> None:
    with pytest.raises(TranscodeError) as info:
        build_request(_echo_route(route_by), {"id": "x"}, [], b'{"id": "x", "pickA": "\\ud800"}')
    assert "surrogate" in info.value.message.lower()
    with pytest.raises(TranscodeError) as info:
        build_request(_echo_route(route_by), {"id": "x"}, [], b'{"id": "x\\udc00"}')
    assert "surrogate" in info.value.message.lower()


def test_non_ascii_text_is_kept(route_by: Callable[..., Route]) -> None:
    body = '{"id": "ü\\ud83d\\ude00", "pickA": "日本"}'.encode()
    m = build_request(_echo_route(route_by), {"id": "ü😀"}, [], body)
    assert (m.id, m.pick_a) == ("ü😀", "日本")
