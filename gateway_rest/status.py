"""gRPC status <-> HTTP status, ``google.rpc.Status`` JSON, WebSocket close codes, Grpc-Timeout.

HTTP mapping (the one table the gateway uses)::

    gRPC code                HTTP      gRPC code                HTTP
    0  OK                    200       9  FAILED_PRECONDITION   400
    1  CANCELLED             499       10 ABORTED               409
    2  UNKNOWN               500       11 OUT_OF_RANGE          400
    3  INVALID_ARGUMENT      400       12 UNIMPLEMENTED         501
    4  DEADLINE_EXCEEDED     504       13 INTERNAL              500
    5  NOT_FOUND             404       14 UNAVAILABLE           503
    6  ALREADY_EXISTS        409       15 DATA_LOSS             500
    7  PERMISSION_DENIED     403       16 UNAUTHENTICATED       401
    8  RESOURCE_EXHAUSTED    429       any other code           500

WebSocket close codes: OK closes with 1000 (normal closure); every other code closes with
``4000 + code`` (4001 CANCELLED ... 4016 UNAUTHENTICATED), in the private-use range of
RFC 6455 section 7.4.2. Chosen over the 1xxx codes because those describe the WebSocket
connection, not the call (1007 means "payload inconsistent with the message type", 1011
"server error"), several gRPC codes would share one, and clients could not recover the exact
gRPC code; ``4000 + code`` is lossless (``grpc_code_from_ws_close`` inverts it).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway_rest.errors import (
    GatewayError,
    MethodNotAllowed,
    RouteNotFound,
    TranscodeError,
)

__all__ = [
    "HTTP_STATUS_BY_GRPC_CODE",
    "WS_CLOSE_OK",
    "WS_CLOSE_PRIVATE_BASE",
    "code_number",
    "gateway_error_response",
    "grpc_code_from_ws_close",
    "http_status",
    "parse_grpc_timeout",
    "status_json",
    "ws_close_code",
    "ws_close_reason",
]

#: gRPC status code number -> HTTP status.
HTTP_STATUS_BY_GRPC_CODE: Mapping[int, int] = MappingProxyType(
    {
        code_pb2.OK: 200,
        code_pb2.CANCELLED: 499,
        code_pb2.UNKNOWN: 500,
        code_pb2.INVALID_ARGUMENT: 400,
        code_pb2.DEADLINE_EXCEEDED: 504,
        code_pb2.NOT_FOUND: 404,
        code_pb2.ALREADY_EXISTS: 409,
        code_pb2.PERMISSION_DENIED: 403,
        code_pb2.RESOURCE_EXHAUSTED: 429,
        code_pb2.FAILED_PRECONDITION: 400,
        code_pb2.ABORTED: 409,
        code_pb2.OUT_OF_RANGE: 400,
        code_pb2.UNIMPLEMENTED: 501,
        code_pb2.INTERNAL: 500,
        code_pb2.UNAVAILABLE: 503,
        code_pb2.DATA_LOSS: 500,
        code_pb2.UNAUTHENTICATED: 401,
    }
)

WS_CLOSE_OK = 1000
WS_CLOSE_PRIVATE_BASE = 4000
_WS_REASON_MAX_BYTES = 123  # RFC 6455: control frame payload 125 bytes minus the 2-byte code

_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_TIMEOUT_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def code_number(code: grpc.StatusCode | int) -> int:
    """The numeric gRPC code of a ``grpc.StatusCode`` or an int (as in ``grpc-status``)."""
    if isinstance(code, grpc.StatusCode):
        return int(code.value[0])
    return int(code)


def http_status(code: grpc.StatusCode | int) -> int:
    """HTTP status for a gRPC code; codes outside the table (future or bogus) give 500."""
    return HTTP_STATUS_BY_GRPC_CODE.get(code_number(code), 500)


def _any_json(detail: any_pb2.Any) -> Any:
    try:
        return json_format.MessageToDict(detail, always_print_fields_with_no_presence=True)
    except (TypeError, KeyError, json_format.Error):
        # The packed type is not linked into this process: pass it through undecoded rather
        # than lose it or fail the whole error response.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode("ascii")}


def status_json(
    code: grpc.StatusCode | int,
    message: str,
    details_bin: bytes | None = None,
    *,
    details: Iterable[Message] = (),
) -> dict[str, Any]:
    """The ``google.rpc.Status`` JSON body: ``{"code", "message", "details": [...]}``.

    ``details_bin`` is the raw ``grpc-status-details-bin`` trailer (already base64-decoded
    by the gRPC library): a serialized ``google.rpc.Status`` whose details are taken; an
    undecodable trailer is ignored, because an error response must not fail. ``code`` and a
    non-empty ``message`` win over the trailer's. ``details`` are extra messages to pack.
    Each detail renders as Any JSON (``"@type"`` plus fields); a type unknown to this process
    renders as ``{"@type", "value": base64}``.
    """
    packed: list[any_pb2.Any] = []
    if details_bin:
        try:
            trailer = status_pb2.Status.FromString(details_bin)
        except DecodeError:
            trailer = status_pb2.Status()
        packed.extend(trailer.details)
        message = message or trailer.message
    for extra in details:
        item = any_pb2.Any()
        item.Pack(extra)
        packed.append(item)
    return {
        "code": code_number(code),
        "message": message,
        "details": [_any_json(d) for d in packed],
    }


def gateway_error_response(exc: GatewayError) -> tuple[int, dict[str, Any]]:
    """HTTP status and ``google.rpc.Status`` JSON for an exception of this package.

    RouteNotFound -> 404 NOT_FOUND; MethodNotAllowed -> 405 UNIMPLEMENTED (send
    ``Allow: ", ".join(exc.allowed)``); TranscodeError -> 400 INVALID_ARGUMENT with a
    ``google.rpc.BadRequest`` field violation when a field is named; anything else (build-time
    errors) -> 500 INTERNAL.
    """
    if isinstance(exc, RouteNotFound):
        return 404, status_json(code_pb2.NOT_FOUND, str(exc))
    if isinstance(exc, MethodNotAllowed):
        return 405, status_json(code_pb2.UNIMPLEMENTED, str(exc))
    if isinstance(exc, TranscodeError):
        extra: list[Message] = []
        if exc.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=exc.field, description=exc.message
            )
            extra.append(error_details_pb2.BadRequest(field_violations=[violation]))
        return 400, status_json(code_pb2.INVALID_ARGUMENT, exc.message, details=extra)
    return 500, status_json(code_pb2.INTERNAL, str(exc))


def ws_close_code(code: grpc.StatusCode | int) -> int:
    """WebSocket close code for a call's final gRPC status (see module docstring)."""
    number = code_number(code)
    return WS_CLOSE_OK if number == code_pb2.OK else WS_CLOSE_PRIVATE_BASE + number


def grpc_code_from_ws_close(close_code: int) -> int | None:
    """Inverse of ``ws_close_code``; None for close codes it never produces."""
    if close_code == WS_CLOSE_OK:
        return 0
    number = close_code - WS_CLOSE_PRIVATE_BASE
    if number != 0 and number in HTTP_STATUS_BY_GRPC_CODE:
        return number
    return None


def ws_close_reason(message: str) -> str:
    """``message`` cut to the 123 UTF-8 bytes a close frame allows, on a character boundary."""
    data = message.encode("utf-8")
    if len(data) <= _WS_REASON_MAX_BYTES:
        return message
    return data[:_WS_REASON_MAX_BYTES].decode("utf-8", "ignore")


def parse_grpc_timeout(value: str) -> float:
    """Seconds from a ``grpc-timeout`` header: 1-8 ASCII digits and a unit (H M S m u n).

    Raises ``TranscodeError`` (HTTP 400) for anything else, including surrounding spaces
    after the HTTP layer stripped the usual ones, signs, or a ninth digit.
    """
    m = _TIMEOUT.fullmatch(value)
    if m is None:
        raise TranscodeError(
            f"invalid Grpc-Timeout header {value!r}: expected 1-8 digits and a unit "
            "(H, M, S, m, u, n), for example 100m",
        )
    return int(m.group(1)) * _TIMEOUT_UNIT_SECONDS[m.group(2)]
