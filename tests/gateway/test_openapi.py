"""The generated OpenAPI document: valid OpenAPI 3.1, faithful to the protos, and the echo
operations survive schemathesis (no 5xx, responses match the schema)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway_rest.config import GatewayConfig
from gateway_rest.status import http_status
from mesh.client import ClientConfig
from tests.gateway.gwkit import echo_env, run_in_loop


async def _spec() -> dict[str, Any]:
    async with echo_env() as env:
        r = await env.http.get("/openapi.json")
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]


async def test_document_is_valid_openapi_3_1() -> None:
    spec = await _spec()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


async def test_echo_operations_follow_the_http_rules_and_comments() -> None:
    spec = await _spec()
    echo = spec["paths"]["/v1/echo"]["post"]
    assert echo["operationId"] == "EchoService_Echo"
    assert echo["summary"] == "Echo returns the payload and the id of the instance that answered."
    assert echo["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/lilo.echo.v1.EchoRequest"
    }
    assert echo["security"] == [{"bearer": []}]
    assert echo["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/google.rpc.Status"
    }
    request = spec["components"]["schemas"]["lilo.echo.v1.EchoRequest"]
    assert set(request["properties"]) == {"payload", "delayMs", "failCode"}
    assert request["properties"]["delayMs"]["description"].startswith("DelayMs makes the server")
    assert request["properties"]["delayMs"]["maximum"] == 4294967295
    stream = spec["paths"]["/v1/echo:stream"]["get"]
    query = {p["name"] for p in stream["parameters"] if p["in"] == "query"}
    assert query == {"payload", "count", "resumeAfter", "intervalMs", "access_token"}
    assert any(p["name"] == "Last-Event-ID" and p["in"] == "header" for p in stream["parameters"])
    content = stream["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream", "application/x-ndjson"}
    assert "resumeAfter" not in content["text/event-stream"]["schema"]["description"]
    assert "/v1/echo:bidi" not in spec["paths"]
    bidi = [w for w in spec["x-websocket-endpoints"] if w["path"] == "/v1/echo:bidi"]
    assert bidi and bidi[0]["rpc"] == "lilo.echo.v1.EchoService.EchoBidi"
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_other_services_path_and_query_parameters_and_public_rpcs() -> None:
    spec = await _spec()
    get_alert = spec["paths"]["/v1/alerts/{alert_id}"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in get_alert["parameters"]] == [
        ("alert_id", "path", True)
    ]
    listing = {p["name"]: p for p in spec["paths"]["/v1/alerts"]["get"]["parameters"]}
    assert listing["states"]["schema"]["type"] == "array"
    assert listing["states"]["explode"] is True
    assert listing["pageSize"]["schema"]["format"] == "int32"
    login = spec["paths"]["/v1/auth:login"]["post"]
    assert login["security"] == []  # a public rpc needs no token
    alert = spec["components"]["schemas"]["lilo.crisis.v1.Alert"]["properties"]
    assert alert["createdAt"]["format"] == "date-time"
    assert alert["state"]["$ref"] == "#/components/schemas/lilo.crisis.v1.AlertState"


async def test_docs_page_is_self_contained() -> None:
    async with echo_env() as env:
        r = await env.http.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in r.text
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, works offline


def _injected_code(kwargs: dict[str, Any]) -> int | None:
    """The gRPC status a generated request asked the echo backend to fail with, if any."""
    body = kwargs.get("json")
    params = kwargs.get("params") or {}
    value = (body if isinstance(body, dict) else params).get("failCode")
    if not isinstance(value, (int, str)):
        return None
    try:
        code = int(value)
    except ValueError:
        return None
    return code if 0 < code <= 16 else None


async def test_schemathesis_echo_operations_no_5xx_and_schema_conformance() -> None:
    loop = asyncio.get_running_loop()
    config = GatewayConfig(default_timeout=0.3, max_timeout=0.3)
    # Generated requests inject failures (failCode 13, 14, ...): keep the only endpoint in
    # rotation, or the mesh client would rightly eject it and answer 503 for the rest.
    lenient = ClientConfig(default_timeout=None, outliers=None, breaker_fail_max=1_000_000)
    async with echo_env(config=config, client_config=lenient) as env:
        spec = (await env.http.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(spec)
        checks = [
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            content_type_conformance,
        ]
        started = time.monotonic()
        for path, method in (("/v1/echo", "POST"), ("/v1/echo:stream", "GET")):
            operation = schema[path][method]

            async def send(kwargs: dict[str, Any]) -> httpx.Response:
                headers = dict(kwargs.get("headers") or {})
                # Deadlines bound generated delays and endless streams; 5xx from them are
                # the DEADLINE_EXCEEDED mapping (504), which the check below allows.
                headers["Grpc-Timeout"] = "300m"
                return await env.http.request(
                    kwargs["method"],
                    kwargs["url"],
                    params=kwargs.get("params"),
                    json=kwargs.get("json"),
                    headers=headers,
                )

            @settings(
                max_examples=40,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url="http://gw")
                response = run_in_loop(loop, send(kwargs))
                if response.status_code == 504:
                    assert response.json()["code"] == 4  # the deadline we imposed
                    return
                injected = _injected_code(kwargs)
                if response.status_code >= 500 and injected is not None:
                    # The backend failed as asked (failCode 12 -> UNIMPLEMENTED -> 501):
                    # the gateway's part is the mapping, checked here.
                    assert response.status_code == http_status(injected), response.text
                    assert response.json()["code"] == injected
                    return
                assert response.status_code < 500, (response.status_code, response.text)
                case.validate_response(response, checks=checks)

            await asyncio.to_thread(check)
        assert time.monotonic() - started < 60
