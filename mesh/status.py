"""Errors a handler raises to answer with a gRPC status, and the one table that maps them.

Handlers raise these instead of calling ``context.abort`` so that domain code
stays free of grpc and the interceptor owns the wire format::

    ServiceError                  (code)
    ├── InvalidArgument           INVALID_ARGUMENT   bad input; the message says what
    ├── NotFound                  NOT_FOUND
    ├── AlreadyExists             ALREADY_EXISTS
    ├── FailedPrecondition        FAILED_PRECONDITION  valid input, wrong state
    ├── Aborted                   ABORTED            lost a race; retry
    ├── Unauthenticated           UNAUTHENTICATED
    ├── PermissionDenied          PERMISSION_DENIED
    ├── ResourceExhausted         RESOURCE_EXHAUSTED
    └── Unavailable               UNAVAILABLE        a dependency is down; retry later

Any other exception becomes INTERNAL with a reference id and no traceback on the wire.
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """An expected failure with a status code and a message meant for the caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(ServiceError):
    code = grpc.StatusCode.ABORTED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
