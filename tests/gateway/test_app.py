"""The gateway app against a real echo gRPC backend: unary calls, errors, headers, CORS,
health, metrics, and a property test of JSON -> proto -> JSON through the gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gateway_rest.app as app_module
from gateway_rest.config import GatewayConfig
from mesh.registry import InstanceRecord, ServingStatus
from mesh.testing import TestIdentity
from tests.gateway.gwkit import echo_env, run_in_loop

# Written out here, not imported, so a change to the mapping table fails a test.
EXPECTED_HTTP = {
    1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip


async def test_unary_echo_returns_json_with_lower_camel_names() -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={"payload": "hello"})
    assert r.status_code == 200
    assert r.json() == {"payload": "hello", "instanceId": "echo-1"}
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("code", sorted(EXPECTED_HTTP))
async def test_every_grpc_status_maps_to_its_http_status(code: int) -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={"payload": "x", "failCode": code})
    assert r.status_code == EXPECTED_HTTP[code]
    body = r.json()
    assert body["code"] == code
    assert "failure injected" in body["message"]
    assert body["details"] == []


async def test_status_details_trailer_becomes_status_details() -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={"payload": "rich"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 3 and body["message"] == "rich payload refused"
    assert body["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "payload", "description": "too rich", "reason": ""}],
        }
    ]


async def test_unknown_route_is_404_and_wrong_method_is_405_with_allow() -> None:
    async with echo_env() as env:
        missing = await env.http.get("/v1/nothing/here")
        wrong = await env.http.get("/v1/echo")
    assert missing.status_code == 404 and missing.json()["code"] == 5
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["code"] == 12


async def test_malformed_json_is_400_naming_the_field() -> None:
    async with echo_env() as env:
        wrong_type = await env.http.post("/v1/echo", json={"payload": {"nested": 1}})
        unknown = await env.http.post("/v1/echo", json={"payload": "a", "bogus": 1})
        not_json = await env.http.post("/v1/echo", content=b"{nope")
    for r, field in ((wrong_type, "payload"), (unknown, "bogus")):
        assert r.status_code == 400
        body = r.json()
        assert body["code"] == 3
        assert field in body["message"]
        violations = body["details"][0]["fieldViolations"]
        assert violations[0]["field"] == field
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["message"]
    assert env.echo.calls == 0  # nothing reached the backend


async def test_unknown_fields_can_be_ignored_by_configuration() -> None:
    async with echo_env(config=GatewayConfig(ignore_unknown_fields=True)) as env:
        r = await env.http.post("/v1/echo", json={"payload": "a", "bogus": 1})
    assert r.status_code == 200 and r.json()["payload"] == "a"


async def test_request_headers_become_metadata_and_response_metadata_comes_back() -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    async with echo_env() as env:
        r = await env.http.post(
            "/v1/echo",
            json={"payload": "m"},
            headers={
                "Authorization": "Bearer abc",
                "Grpc-Metadata-X-Tenant": "t-1",
                "Grpc-Metadata-X-Raw-Bin": base64.b64encode(b"\xff\x00").decode(),
                "X-Forwarded-For": "10.0.0.1",
                "X-Correlation-Id": "corr-42",
                "traceparent": f"00-{trace_id}-b7ad6b7169203331-01",
            },
        )
    assert r.status_code == 200
    seen = env.echo.seen[-1]
    assert seen["authorization"] == "Bearer abc"
    assert seen["x-tenant"] == "t-1"
    assert seen["x-raw-bin"] == b"\xff\x00"
    assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["x-correlation-id"] == "corr-42"
    assert seen["traceparent"].split("-")[1] == trace_id  # the caller's trace continues
    assert r.headers["x-correlation-id"] == "corr-42"
    assert r.headers["grpc-metadata-x-served-by"] == "echo-1"
    assert r.headers["grpc-metadata-x-trailer"] == "done"
    assert base64.b64decode(r.headers["grpc-metadata-x-blob-bin"]) == b"\x00\x01"


async def test_correlation_id_is_generated_when_absent_or_malformed() -> None:
    async with echo_env() as env:
        a = await env.http.post("/v1/echo", json={})
        b = await env.http.post("/v1/echo", json={}, headers={"X-Correlation-Id": "bad id!"})
    assert re.fullmatch(r"[0-9a-f]{32}", a.headers["x-correlation-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", b.headers["x-correlation-id"])
    assert a.headers["x-correlation-id"] != b.headers["x-correlation-id"]
    assert env.echo.seen[0]["x-correlation-id"] == a.headers["x-correlation-id"]


async def test_reserved_metadata_headers_are_refused() -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={}, headers={"Grpc-Metadata-Grpc-Status": "0"})
        spoof = await env.http.post(
            "/v1/echo", json={}, headers={"Grpc-Metadata-X-Forwarded-For": "6.6.6.6"}
        )
    assert r.status_code == 400 and spoof.status_code == 400
    assert env.echo.calls == 0


async def test_grpc_timeout_header_gives_deadline_exceeded_504() -> None:
    async with echo_env() as env:
        r = await env.http.post(
            "/v1/echo", json={"payload": "slow", "delayMs": 3000}, headers={"Grpc-Timeout": "100m"}
        )
        bad = await env.http.post("/v1/echo", json={}, headers={"Grpc-Timeout": "soon"})
    assert r.status_code == 504 and r.json()["code"] == 4
    assert bad.status_code == 400 and "Grpc-Timeout" in bad.json()["message"]


async def test_default_deadline_applies_without_header() -> None:
    async with echo_env(config=GatewayConfig(default_timeout=0.1)) as env:
        r = await env.http.post("/v1/echo", json={"delayMs": 3000})
    assert r.status_code == 504


async def test_real_access_controller_maps_to_401_and_403() -> None:
    ident = TestIdentity()
    async with echo_env(access=ident.access) as env:
        anonymous = await env.http.post("/v1/echo", json={"payload": "a"})
        family = dict(ident.bearer("family_member"))
        denied = await env.http.post("/v1/echo", json={"payload": "a"}, headers=family)
        system = dict(ident.bearer("system"))
        allowed = await env.http.post("/v1/echo", json={"payload": "a"}, headers=system)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 16
    assert denied.status_code == 403 and denied.json()["code"] == 7
    assert allowed.status_code == 200 and allowed.json()["payload"] == "a"


async def test_access_token_query_parameter_is_not_accepted_on_unary_routes() -> None:
    ident = TestIdentity()
    token = ident.bearer("system")[0][1].removeprefix("Bearer ")
    async with echo_env(access=ident.access) as env:
        r = await env.http.post(f"/v1/echo?access_token={token}", json={})
    assert r.status_code == 400
    assert env.echo.calls == 0


async def test_unexpected_exception_is_500_with_reference_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app_module, "response_to_json", boom)
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={"payload": "a"})
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == 13
    ref = re.search(r"ref ([0-9a-f]{12})", body["message"])
    assert ref is not None
    assert "secret" not in r.text and "Traceback" not in r.text
    assert any(ref.group(1) in rec.getMessage() for rec in caplog.records)
    assert r.headers["x-correlation-id"]


async def test_client_streaming_route_over_plain_http_points_to_websocket() -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo:bidi", json={"payload": "a"})
    assert r.status_code == 501 and "WebSocket" in r.json()["message"]


async def test_cors_allows_configured_origins_only() -> None:
    config = GatewayConfig(cors_origins=("https://ops.example",))
    async with echo_env(config=config) as env:
        preflight = await env.http.options(
            "/v1/echo",
            headers={
                "Origin": "https://ops.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, grpc-metadata-x-tenant",
            },
        )
        simple = await env.http.post("/v1/echo", json={}, headers={"Origin": "https://ops.example"})
        other = await env.http.post("/v1/echo", json={}, headers={"Origin": "https://evil.example"})
        other_pre = await env.http.options(
            "/v1/echo",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ops.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert simple.headers["access-control-allow-origin"] == "https://ops.example"
    assert "access-control-allow-origin" not in other.headers
    assert other_pre.status_code == 400


async def test_no_cors_headers_without_configuration() -> None:
    async with echo_env() as env:
        r = await env.http.post("/v1/echo", json={}, headers={"Origin": "https://ops.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_health_live_and_ready() -> None:
    async with echo_env() as env:
        live = await env.http.get("/health/live")
        ready = await env.http.get("/health/ready")
        health = await env.http.get("/health")
        console = await env.http.get("/console/health.json")
        # A registered service with no serving endpoint makes the gateway not ready.
        await env.registry.register(
            InstanceRecord(
                service="lilo.crisis.v1.CrisisService",
                instance_id="c-1",
                address="127.0.0.1:9",
                status=ServingStatus.NOT_SERVING,
            )
        )
        degraded = await env.http.get("/health/ready")
        console_degraded = await env.http.get("/console/health.json")
    assert live.status_code == 200 and live.json() == {"status": "live"}
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    services = ready.json()["services"]
    assert services["lilo.echo.v1.EchoService"] == {"status": "serving", "endpoints": 1, "known": 1}
    assert services["lilo.crisis.v1.CrisisService"]["status"] == "absent"
    assert health.status_code == 200
    assert console.status_code == 200
    assert degraded.status_code == 503
    assert degraded.json()["services"]["lilo.crisis.v1.CrisisService"]["status"] == "unavailable"
    assert console_degraded.status_code == 200  # the console always gets the report


async def test_not_ready_when_the_backend_stops_serving_or_leaves() -> None:
    async with echo_env(config=GatewayConfig(ready_wait_s=0.2)) as env:
        await env.server.set_serving(False)
        not_serving = await env.http.get("/health/ready")
        await env.server.drain(grace=0)
        gone = await env.http.get("/health/ready")
    assert not_serving.status_code == 503
    assert not_serving.json()["services"]["lilo.echo.v1.EchoService"]["status"] == "unavailable"
    assert gone.status_code == 503  # no routed service is registered at all
    assert gone.json()["services"]["lilo.echo.v1.EchoService"]["status"] == "absent"


async def test_metrics_expose_grpc_client_and_gateway_series() -> None:
    async with echo_env() as env:
        await env.http.post("/v1/echo", json={"payload": "m"})
        await env.http.get("/v1/nothing")
        r = await env.http.get("/metrics")
    text = r.text
    assert r.status_code == 200
    assert re.search(
        r'grpc_client_handled_total\{grpc_code="OK",grpc_method="Echo",'
        r'grpc_service="lilo.echo.v1.EchoService",grpc_type="unary"\} [1-9]',
        text,
    )
    assert re.search(
        r'lilo_gateway_http_requests_total\{code="200",method="POST",route="/v1/echo"\} [1-9]',
        text,
    )
    assert re.search(
        r'lilo_gateway_http_requests_total\{code="404",method="GET",route="unmatched"\} [1-9]',
        text,
    )
    assert (
        'lilo_gateway_http_request_seconds_bucket{le="0.001",method="POST",route="/v1/echo"}'
        in text
    )


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)


async def test_property_payload_survives_json_proto_json_through_the_gateway() -> None:
    loop = asyncio.get_running_loop()
    async with echo_env() as env:

        async def roundtrip(payload: str) -> Any:
            r = await env.http.post(
                "/v1/echo", content=json.dumps({"payload": payload}).encode("utf-8")
            )
            assert r.status_code == 200, r.text
            return r.json()

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(_TEXT)
        def check(payload: str) -> None:
            body = run_in_loop(loop, roundtrip(payload))
            assert body == {"payload": payload, "instanceId": "echo-1"}

        await asyncio.to_thread(check)
