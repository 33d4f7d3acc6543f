"""The unary hot path's shortcuts give exactly what the general code gives.

Each shortcut (fixed-path routing, the C JSON encoder, plain-number request metrics, the
byte-level printable check, the correlation header added without a send wrapper) is checked
against the slower code it replaces or against the behaviour a client sees.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import JSONResponse

from gateway_rest import app as app_module
from gateway_rest import metrics
from gateway_rest.errors import MethodNotAllowed, RouteNotFound, TranscodeError
from gateway_rest.headers import request_metadata
from gateway_rest.routes import RouteTable

from .gwkit import echo_env

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "generated" / "descriptor_set.binpb"


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable.from_file_descriptor_set(DESCRIPTOR_SET.read_bytes())


# -- routing ---------------------------------------------------------------------------------


def test_fixed_paths_route_as_the_general_matcher_does(table: RouteTable) -> None:
    literal = [r for r in table.routes if not r.template.variables and r.http_method != "*"]
    assert literal, "the project has literal-only routes (POST /v1/echo among them)"
    for route in literal:
        for path in (route.pattern, route.pattern.encode()):
            found = table.match(route.http_method, path)
            general = table._match(route.http_method, path)
            assert found == general
            assert found.route is route
            assert dict(found.variables) == {}


def test_other_spellings_of_a_fixed_path_still_route(table: RouteTable) -> None:
    echo = table.match("POST", "/v1/echo").route
    # An escaped unreserved character, a lower-case method, a query string: general path.
    assert table.match("POST", b"/v1/%65cho").route is echo
    assert table.match("post", "/v1/echo").route is echo
    assert table.match("POST", b"/v1/echo?x=1").route is echo
    with pytest.raises(MethodNotAllowed):
        table.match("DELETE", "/v1/echo")
    with pytest.raises(RouteNotFound):
        table.match("POST", "/v1/echo/extra")


# -- JSON rendering --------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(exclude_categories=["Cs"])), inner)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(content=_JSON)
def test_json_bytes_are_what_starlette_renders(content: Any) -> None:
    assert app_module._json_bytes(content) == JSONResponse(content).body


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_bytes_refuse_non_finite_floats_as_starlette_does(bad: float) -> None:
    with pytest.raises(ValueError):
        JSONResponse({"x": bad})
    with pytest.raises(ValueError):
        app_module._json_bytes({"x": bad})


# -- metrics ---------------------------------------------------------------------------------


def _native(observations: list[tuple[str, str, int, float]]) -> str:
    """What prometheus_client's own Counter and Histogram write for the same requests."""
    registry = CollectorRegistry()
    counter = Counter(
        "lilo_gateway_http_requests_total",
        "HTTP requests answered by the gateway.",
        ("method", "route", "code"),
        registry=registry,
    )
    histogram = Histogram(
        "lilo_gateway_http_request_seconds",
        "Time to the end of the HTTP response (streams: their whole life).",
        ("method", "route"),
        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        registry=registry,
    )
    for method, route, status, seconds in observations:
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)
    return generate_latest(registry).decode()


def _ours(observations: list[tuple[str, str, int, float]]) -> str:
    registry = CollectorRegistry()
    collector = metrics._HttpCollector()
    registry.register(collector)
    for method, route, status, seconds in observations:
        key = (method, route)
        stats = collector.stats.get(key) or collector.stats.setdefault(key, metrics.RouteStats(key))
        stats.record(status, seconds)
    return generate_latest(registry).decode()


def _without_timestamps(text: str) -> str:
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)


def test_request_metrics_expose_what_prometheus_client_would() -> None:
    observations = [
        ("POST", "/v1/echo", 200, 0.0004),
        ("POST", "/v1/echo", 200, 0.001),  # on a bucket bound: counted in that bucket
        ("POST", "/v1/echo", 404, 0.07),
        ("GET", "unmatched", 404, 61.0),  # above every bound: +Inf only
        ("GET", "/health", 200, 0.005),
    ]
    assert _without_timestamps(_ours(observations)) == _without_timestamps(_native(observations))


# -- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Bearer " + "eyJ0eXAiOiJKV1Qi.x-_~" * 40, True),
        ("a b ~ !", True),
        ("", True),
        ("tab\there", False),
        ("del\x7f", False),
        ("unit\x1fsep", False),
        ("caf\u00e9", False),
        ("snow\u2603", False),
    ],
)
def test_authorization_must_be_printable_ascii(value: str, ok: bool) -> None:
    headers = [("authorization", value)]
    if ok:
        md = request_metadata(headers, peer=None, correlation="c")
        assert ("authorization", value) in md
    else:
        with pytest.raises(TranscodeError, match="printable ASCII"):
            request_metadata(headers, peer=None, correlation="c")


# -- the correlation header ------------------------------------------------------------------


async def test_every_response_kind_carries_one_correlation_header() -> None:
    async with echo_env() as env:
        ok = await env.http.post(
            "/v1/echo", json={"payload": "a"}, headers={"X-Correlation-Id": "c-1"}
        )
        missing = await env.http.post("/v1/nothing", json={})
        page = await env.http.get("/health/live")
    assert ok.status_code == 200 and ok.json()["payload"] == "a"
    assert ok.headers.get_list("x-correlation-id") == ["c-1"]
    assert missing.status_code == 404
    assert len(missing.headers.get_list("x-correlation-id")) == 1
    assert page.status_code == 200
    assert len(page.headers.get_list("x-correlation-id")) == 1


async def test_requests_under_a_root_path_reach_the_catch_all_with_one_header() -> None:
    # uvicorn --root-path /api behind a proxy that strips the prefix: the scope's path has
    # the root path, raw_path is the path as received. Such a request goes through the
    # router to the catch-all mount, and its answer back out through the middleware.
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/echo",
        "raw_path": b"/v1/echo",
        "root_path": "/api",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"x-correlation-id", b"c-3")],
        "client": ("127.0.0.1", 5000),
        "server": ("gw", 80),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b'{"payload": "p"}', "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async with echo_env() as env:
        await env.app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    assert [v for k, v in start["headers"] if k == b"x-correlation-id"] == [b"c-3"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["payload"] == "p"
    assert env.echo.seen[-1]["x-correlation-id"] == "c-3"


async def test_an_exception_on_a_gateway_page_is_a_json_500_with_a_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with echo_env() as env:

        async def broken() -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(env.app.state.gateway, "readiness", broken)
        r = await env.http.get("/health/ready")
    assert r.status_code == 500
    assert r.json()["code"] == 13
    assert re.search(r"ref [0-9a-f]{12}", r.json()["message"])
    assert "secret" not in r.text
    assert len(r.headers.get_list("x-correlation-id")) == 1
