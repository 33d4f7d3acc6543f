"""gRPC -> HTTP status table, google.rpc.Status JSON, WebSocket close codes, Grpc-Timeout."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway_rest.errors import (
    AmbiguousRoute,
    MethodNotAllowed,
    RouteNotFound,
    TranscodeError,
)
from gateway_rest.status import (
    HTTP_STATUS_BY_GRPC_CODE,
    gateway_error_response,
    grpc_code_from_ws_close,
    http_status,
    parse_grpc_timeout,
    status_json,
    ws_close_code,
    ws_close_reason,
)

EXPECTED_HTTP = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


@pytest.mark.parametrize(("code", "status"), list(EXPECTED_HTTP.items()), ids=lambda x: str(x))
def test_http_status_for_every_code(code: grpc.StatusCode, status: int) -> None:
    assert http_status(code) == status
    assert http_status(code.value[0]) == status


def test_table_covers_exactly_the_17_codes() -> None:
    assert sorted(HTTP_STATUS_BY_GRPC_CODE) == list(range(17))


@pytest.mark.parametrize("code", [17, 99, -1])
def test_unknown_codes_map_to_500(code: int) -> None:
    assert http_status(code) == 500


# --- google.rpc.Status JSON -------------------------------------------------------------------


def _packed(msg: object) -> any_pb2.Any:
    item = any_pb2.Any()
    item.Pack(msg)  # type: ignore[arg-type]
    return item


def test_status_json_without_details() -> None:
    body = status_json(grpc.StatusCode.NOT_FOUND, "alert a-1 not found")
    assert body == {"code": 5, "message": "alert a-1 not found", "details": []}
    json.dumps(body)


def test_status_json_renders_trailer_details_as_any_json() -> None:
    trailer = status_pb2.Status(
        code=3,
        message="from trailer",
        details=[
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field="x", description="bad")
                    ]
                )
            ),
            _packed(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))),
        ],
    )
    body = status_json(3, "", trailer.SerializeToString())
    assert body["code"] == 3
    assert body["message"] == "from trailer"  # an empty message falls back to the trailer's
    bad, retry = body["details"]
    assert bad["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert bad["fieldViolations"][0]["field"] == "x"
    assert retry == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}
    json.dumps(body)


def test_status_json_code_and_message_beat_trailer() -> None:
    trailer = status_pb2.Status(code=13, message="trailer").SerializeToString()
    body = status_json(grpc.StatusCode.ABORTED, "header", trailer)
    assert (body["code"], body["message"]) == (10, "header")


def test_unknown_detail_type_passes_through_undecoded() -> None:
    unknown = any_pb2.Any(type_url="type.googleapis.com/acme.Secret", value=b"\x08\x01")
    trailer = status_pb2.Status(code=9, details=[unknown]).SerializeToString()
    body = status_json(9, "m", trailer)
    assert body["details"] == [{"@type": "type.googleapis.com/acme.Secret", "value": "CAE="}]


def test_garbage_trailer_is_ignored() -> None:
    assert status_json(13, "m", b"\xff\xff\xff") == {"code": 13, "message": "m", "details": []}


def test_extra_details_are_packed() -> None:
    info = error_details_pb2.ErrorInfo(reason="QUOTA", domain="lilo")
    body = status_json(8, "slow down", details=[info])
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert body["details"][0]["reason"] == "QUOTA"


# --- gateway errors -> responses --------------------------------------------------------------


def test_gateway_error_responses() -> None:
    status, body = gateway_error_response(RouteNotFound("GET", "/x"))
    assert (status, body["code"]) == (404, 5)
    status, body = gateway_error_response(MethodNotAllowed("PUT", "/x", ("GET", "POST")))
    assert (status, body["code"]) == (405, 12)
    assert "GET, POST" in body["message"]
    status, body = gateway_error_response(
        TranscodeError("page_size: expected an integer", "page_size")
    )
    assert (status, body["code"], body["message"]) == (400, 3, "page_size: expected an integer")
    violation = body["details"][0]["fieldViolations"][0]
    assert (violation["field"], violation["description"]) == (
        "page_size",
        "page_size: expected an integer",
    )
    status, body = gateway_error_response(TranscodeError("body is not JSON"))
    assert (status, body["details"]) == (400, [])
    status, body = gateway_error_response(AmbiguousRoute("a", "b", "GET"))
    assert (status, body["code"]) == (500, 13)


# --- WebSocket close codes --------------------------------------------------------------------


def test_ws_close_codes() -> None:
    assert ws_close_code(grpc.StatusCode.OK) == 1000
    assert ws_close_code(grpc.StatusCode.INVALID_ARGUMENT) == 4003
    assert ws_close_code(16) == 4016
    for code in grpc.StatusCode:
        close = ws_close_code(code)
        assert close == 1000 or 4000 < close <= 4016
        assert grpc_code_from_ws_close(close) == code.value[0]


@pytest.mark.parametrize("close", [1001, 1006, 1011, 4000, 4017, 3000, 999])
def test_foreign_close_codes_have_no_grpc_code(close: int) -> None:
    assert grpc_code_from_ws_close(close) is None


def test_ws_close_reason_fits_a_control_frame() -> None:
    assert ws_close_reason("short") == "short"
    long = "é" * 100  # 200 bytes
    cut = ws_close_reason(long)
    assert len(cut.encode()) <= 123
    assert cut == "é" * 61  # cut on a character boundary, never half a code point


# --- Grpc-Timeout -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("100m", 0.1),
        ("5S", 5.0),
        ("1H", 3600.0),
        ("2M", 120.0),
        ("250u", 0.00025),
        ("1000000n", 0.001),
        ("0m", 0.0),
        ("99999999S", 99999999.0),
        ("00000001S", 1.0),
    ],
)
def test_parse_grpc_timeout(header: str, seconds: float) -> None:
    assert parse_grpc_timeout(header) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "header", ["", "100", "m", "1.5S", "-1S", "+1S", "123456789S", "10s", "1 S", " 1S", "1Sx", "1h"]
)
def test_bad_grpc_timeout_is_a_transcode_error(header: str) -> None:
    with pytest.raises(TranscodeError, match="Grpc-Timeout"):
        parse_grpc_timeout(header)
