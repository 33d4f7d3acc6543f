"""Exceptions of the REST gateway's transcoding core.

Exception tree::

    GatewayError                 base of everything this package raises
    ├── RouteError               routing failed or the route table is not valid
    │   ├── RouteNotFound        no template matches the path           -> HTTP 404
    │   ├── MethodNotAllowed     a template matches, the method does not -> HTTP 405
    │   ├── AmbiguousRoute       two bindings match the same requests (build time)
    │   └── InvalidBinding       an http rule names missing or unusable fields (build time)
    ├── TemplateSyntaxError      a path template breaks the http.proto grammar (build time)
    └── TranscodeError           the request cannot become a message    -> HTTP 400

Build-time errors (AmbiguousRoute, InvalidBinding, TemplateSyntaxError) mean the protos are
wrong and the gateway must refuse to start; request-time errors map to HTTP statuses with
``gateway_rest.status.gateway_error_response``.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every exception raised by ``gateway_rest``."""


class RouteError(GatewayError):
    """Routing failed at request time, or the route table cannot be built."""


class RouteNotFound(RouteError):
    """No route's path template matches the request path (HTTP 404)."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"no route matches {method} {path}")
        self.method = method
        self.path = path


class MethodNotAllowed(RouteError):
    """A path template matches but not for this HTTP method (HTTP 405).

    ``allowed`` is sorted and goes into the ``Allow`` response header.
    """

    def __init__(self, method: str, path: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"method {method} is not allowed on {path}; allowed: {', '.join(allowed)}")
        self.method = method
        self.path = path
        self.allowed = allowed


class AmbiguousRoute(RouteError):
    """Two bindings would match exactly the same requests with the same precedence."""

    def __init__(self, first: str, second: str, detail: str) -> None:
        super().__init__(f"ambiguous HTTP bindings: {first} and {second} both bind {detail}")
        self.first = first
        self.second = second


class InvalidBinding(RouteError):
    """An http rule refers to a field that is missing or cannot be bound that way."""

    def __init__(self, rpc: str, reason: str) -> None:
        super().__init__(f"{rpc}: {reason}")
        self.rpc = rpc
        self.reason = reason


class TemplateSyntaxError(GatewayError):
    """A path template does not follow the grammar in google/api/http.proto.

    ``position`` is the 0-based offset in ``template`` where parsing failed.
    """

    def __init__(self, template: str, position: int, reason: str) -> None:
        super().__init__(f"bad path template {template!r} at offset {position}: {reason}")
        self.template = template
        self.position = position
        self.reason = reason


class TranscodeError(GatewayError):
    """The HTTP request cannot be turned into the gRPC request message (HTTP 400).

    ``field`` is the dotted request field path the problem is about, spelled as the client
    spelled it (query keys, JSON keys, template variables), or None when no single field is
    at fault (for example, a body that is not JSON).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
