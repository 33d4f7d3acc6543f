"""HTTP headers <-> gRPC metadata, as pure functions (no I/O).

Request side (``request_metadata``):

* ``Authorization`` is forwarded as ``authorization``; without it, an ``access_token`` taken
  from the query string (WebSocket and streaming routes only, decided by the caller) becomes
  ``authorization: Bearer <token>``.
* ``Grpc-Metadata-<key>: value`` becomes ``<key>: value``. Keys must be lower-case
  ``[0-9a-z_.-]``; keys ending in ``-bin`` carry base64 and are decoded. Keys the gateway owns
  (``grpc-*``, ``authorization``, ``x-correlation-id``, ``x-forwarded-for``, ``traceparent``,
  ``tracestate``, transport headers) are rejected with 400: a client must not spoof them.
* ``X-Forwarded-For``: the incoming list plus the address of the peer that connected.
* ``x-correlation-id``: the client's when it is well formed, otherwise a new one.

Response side (``response_headers``): initial and trailing metadata come back as
``Grpc-Metadata-<key>`` headers (binary values base64), minus ``grpc-*`` keys, whose content
(status, details) is already in the body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence

from gateway_rest.errors import TranscodeError

__all__ = [
    "CORRELATION_HEADER",
    "METADATA_PREFIX",
    "correlation_id",
    "request_metadata",
    "response_headers",
]

METADATA_PREFIX = "grpc-metadata-"
CORRELATION_HEADER = "x-correlation-id"
_KEY = re.compile(r"[0-9a-z_.\-]+")
_CORRELATION = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_OWNED = frozenset(
    {
        "authorization",
        CORRELATION_HEADER,
        "x-forwarded-for",
        "traceparent",
        "tracestate",
        "content-type",
        "te",
        "user-agent",
        "host",
        "connection",
    }
)


def correlation_id(given: str | None, new_id: Callable[[], str]) -> str:
    """The client's correlation id when it is 1-128 safe characters, else ``new_id()``."""
    if given and _CORRELATION.fullmatch(given):
        return given
    return new_id()


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))  # " " to "~"


def _printable(value: str, header: str) -> str:
    # isascii() is O(1); deleting every printable byte and finding nothing left is one C
    # pass, where isprintable() looks each character up in the Unicode tables (~3 us for
    # a bearer token of 700 characters, on every request).
    if not value.isascii() or value.encode("ascii").translate(None, _PRINTABLE_ASCII):
        raise TranscodeError(f"header {header} must be printable ASCII")
    return value


def request_metadata(
    headers: Iterable[tuple[str, str]],
    *,
    peer: str | None,
    correlation: str,
    access_token: str | None = None,
) -> list[tuple[str, str | bytes]]:
    """gRPC metadata for an HTTP request (rules in the module docstring).

    ``headers`` are (name, value) pairs in any case; ``peer`` is the connecting client's
    address. Raises ``TranscodeError`` (400) for a forbidden or malformed metadata header.
    """
    out: list[tuple[str, str | bytes]] = []
    authorization: str | None = None
    forwarded: list[str] = []
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == "authorization":
            authorization = _printable(value, "Authorization")
        elif name == "x-forwarded-for":
            forwarded.extend(p.strip() for p in value.split(",") if p.strip())
        elif name.startswith(METADATA_PREFIX):
            key = name[len(METADATA_PREFIX) :]
            if not _KEY.fullmatch(key) or key.startswith("grpc-") or key in _OWNED:
                raise TranscodeError(
                    f"header {raw_name} cannot be forwarded: metadata key {key!r} is reserved "
                    "or not of the form [0-9a-z_.-]+"
                )
            if key.endswith("-bin"):
                try:
                    out.append((key, base64.b64decode(value + "=" * (-len(value) % 4))))
                except (binascii.Error, ValueError):
                    raise TranscodeError(f"header {raw_name} must be base64") from None
            else:
                out.append((key, _printable(value, raw_name)))
    if authorization is None and access_token:
        authorization = "Bearer " + _printable(access_token, "access_token")
    if authorization is not None:
        out.append(("authorization", authorization))
    if peer:
        forwarded.append(peer)
    if forwarded:
        out.append(("x-forwarded-for", ", ".join(forwarded)))
    out.append((CORRELATION_HEADER, correlation))
    return out


def response_headers(*metadata: Sequence[tuple[str, str | bytes]] | None) -> list[tuple[str, str]]:
    """``Grpc-Metadata-*`` headers for response metadata (initial first, then trailing)."""
    out: list[tuple[str, str]] = []
    for md in metadata:
        for key, value in md or ():
            key = key.lower()
            if key.startswith("grpc-") or key.startswith(":") or key in ("content-type",):
                continue
            text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
            out.append((f"Grpc-Metadata-{key}", text))
    return out
