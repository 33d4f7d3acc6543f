"""The server interceptor: every call passes the same stages, in this order.

    error mapping -> deadline -> auth -> audit -> metrics/tracing -> handler

* error mapping: ``ServiceError`` becomes its status; anything unexpected becomes
  INTERNAL with a reference id (logged with its traceback, never sent).
* deadline: the caller's deadline is put in ``mesh.context`` for outgoing calls.
* auth: the rpc's ``AccessRule`` (from its proto) is enforced by an
  ``AccessController``; an rpc without a rule is denied.
* audit: a PHI rpc is recorded before anything of it reaches the caller; if the record
  cannot be written, the call fails with UNAVAILABLE (fail closed). An rpc that may change
  state is recorded before its handler runs (a refused audit means the handler never
  ran). A unary rpc that only reads (``audit_runs_alongside``) has its record written
  while the handler runs; the response, or the handler's error, is held back until the
  record is committed, and replaced by UNAVAILABLE if it was not.
* metrics: ``grpc_server_*`` series. Traces come from OpenTelemetry's own
  interceptor, which ``MeshServer`` installs ahead of this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.descriptor_pb2 import MethodOptions
from grpc import aio

from mesh import context, telemetry
from mesh.policy import MethodPolicy, method_policy, service_descriptor
from mesh.status import ServiceError, Unavailable

log = logging.getLogger(__name__)

#: Infrastructure services every caller may use: they carry no data.
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

#: Request headers forwarded on outgoing calls made while handling a call.
FORWARDED_HEADERS = ("authorization", "x-correlation-id", "x-lilo-on-behalf-of")

AUDIT_REFUSAL = "audit log unavailable; PHI access refused"

#: Access-rule actions that only read.
READ_ACTIONS = frozenset({"read", "list"})

_T = TypeVar("_T")


def audit_runs_alongside(policy: MethodPolicy, idempotency_level: int) -> bool:
    """May this rpc's audit record be written while its handler runs?

    Only a unary rpc that cannot change state: declared ``NO_SIDE_EFFECTS``, or with a
    read/list access action and not declared ``IDEMPOTENT`` (which says "has side
    effects, safe to repeat": DeleteMemory, AppendMessage). Everything else, streams
    included (a stream handler can send before it returns), is audited before it runs.
    """
    if policy.client_streaming or policy.server_streaming:
        return False
    if idempotency_level == MethodOptions.NO_SIDE_EFFECTS:
        return True
    return policy.action in READ_ACTIONS and idempotency_level != MethodOptions.IDEMPOTENT


@functools.cache
def _audit_alongside(policy: MethodPolicy) -> bool:
    method = service_descriptor(policy.service).methods_by_name[policy.name]
    return audit_runs_alongside(policy, method.GetOptions().idempotency_level)


class AccessController(Protocol):
    """Decides who is calling and whether they may; raises ``ServiceError`` to refuse."""

    async def authorize(
        self,
        policy: MethodPolicy,
        metadata: Mapping[str, str],
        peer: aio.ServicerContext[Any, Any],
        request: Any,
    ) -> Any:
        """Return the caller's principal, or raise Unauthenticated / PermissionDenied."""
        ...


class AuditSink(Protocol):
    """Writes audit records; a raise means the record was NOT stored.

    A sink may also offer ``begin_call`` (same arguments, not a coroutine) returning a
    future that resolves as ``record_call`` returns: PHI calls then cost no extra task.
    """

    async def record_call(
        self, policy: MethodPolicy, principal: Any, request: Any, *, allowed: bool, reason: str
    ) -> None: ...


class MeshServerInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, access: AccessController, audit: AuditSink | None = None) -> None:
        self._access = access
        self._audit = audit
        # Optional on a sink: ``begin_call(...)`` = ``record_call`` returning a future.
        self._begin_audit: Callable[..., Awaitable[Any]] | None = getattr(audit, "begin_call", None)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        path: str = details.method
        service = path.lstrip("/").split("/", 1)[0]
        if service in OPEN_SERVICES:
            return handler
        policy = method_policy(path)
        call = _Stages(self, path, policy)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.server_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            call.server_stream(handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _Stages:
    """The stages for one method; ``unary``/``server_stream`` wrap its behaviour."""

    def __init__(
        self, owner: MeshServerInterceptor, path: str, policy: MethodPolicy | None
    ) -> None:
        self._owner = owner
        self._path = path
        self._policy = policy
        service, _, method = path.lstrip("/").partition("/")
        cs = bool(policy and policy.client_streaming)
        ss = bool(policy and policy.server_streaming)
        self._labels = (telemetry.grpc_type(cs, ss), service, method)
        self._service = service

    def unary(self, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def handle(request: Any, ctx: aio.ServicerContext[Any, Any]) -> Any:
            start, token, audit = await self._enter(request, ctx)
            code = grpc.StatusCode.OK
            try:
                if audit is None:
                    return await behaviour(request, ctx)
                return await _held_until_audited(
                    audit, behaviour(request, _HeldContext(ctx, audit))
                )
            except BaseException as exc:
                code = _code_of(exc, ctx)
                await self._map_error(exc, ctx)
                raise
            finally:
                self._leave(start, token, code, ctx)

        return handle

    def server_stream(self, behaviour: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def handle(request: Any, ctx: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            # Streams are never audited alongside (audit_runs_alongside): audit is None.
            start, token, _ = await self._enter(request, ctx)
            telemetry.server_active_streams.labels(self._service).inc()
            code = grpc.StatusCode.OK
            try:
                result = behaviour(request, ctx)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                else:
                    await result
            except BaseException as exc:
                code = _code_of(exc, ctx)
                await self._map_error(exc, ctx)
                raise
            finally:
                telemetry.server_active_streams.labels(self._service).dec()
                self._leave(start, token, code, ctx)

        return handle

    async def _enter(
        self, request: Any, ctx: aio.ServicerContext[Any, Any]
    ) -> tuple[float, Any, _AuditInFlight | None]:
        start = time.perf_counter()
        telemetry.server_started.labels(*self._labels).inc()
        try:
            call, audit = await self._admit(request, ctx)
        except BaseException as exc:
            self._leave(start, None, _code_of(exc, ctx), ctx)
            await self._map_error(exc, ctx)
            raise
        return start, context.current_call.set(call), audit

    async def _admit(
        self, request: Any, ctx: aio.ServicerContext[Any, Any]
    ) -> tuple[context.CallContext, _AuditInFlight | None]:
        """Who is calling and may they; for a PHI rpc, its audit record: written already,
        or (a read, see ``audit_runs_alongside``) in flight for the handler to wait on."""
        metadata = {
            k.lower(): v for k, v in (ctx.invocation_metadata() or ()) if isinstance(v, str)
        }
        remaining = ctx.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        policy = self._policy
        if policy is None:
            # Not in our contracts at all: nothing declares who may call it.
            raise _denied(f"{self._path} is not part of any Lilo contract")
        # For client-streaming calls the request is an iterator: scope checks that need
        # a field are the handler's job (it reads mesh.context.current().principal).
        message = None if policy.client_streaming else request
        owner = self._owner
        try:
            principal = await owner._access.authorize(policy, metadata, ctx, message)
        except ServiceError as exc:
            if owner._audit is not None and exc.code is not grpc.StatusCode.UNAUTHENTICATED:
                try:
                    # AccessDenied names the refused principal; other refusals have none.
                    refused = getattr(exc, "principal", None)
                    await owner._audit.record_call(
                        policy, refused, message, allowed=False, reason=exc.message
                    )
                except Exception:
                    log.exception("could not audit a denial of %s", self._path)
            raise
        in_flight = None
        if policy.phi and owner._audit is not None:
            write: Awaitable[Any]
            if owner._begin_audit is not None:  # a future: no task, no coroutine per call
                write = owner._begin_audit(policy, principal, message, allowed=True, reason="")
            else:
                write = owner._audit.record_call(
                    policy, principal, message, allowed=True, reason=""
                )
            if _audit_alongside(policy):
                in_flight = _AuditInFlight(write, self._path)
            else:
                try:
                    await write
                except Exception as exc:
                    log.error("audit write failed for %s: %s", self._path, exc)
                    raise Unavailable(AUDIT_REFUSAL) from exc
        call = context.CallContext(
            method=self._path,
            deadline=deadline,
            admission=principal,
            forward_metadata=tuple((k, metadata[k]) for k in FORWARDED_HEADERS if k in metadata),
            correlation_id=metadata.get("x-correlation-id", ""),
        )
        return call, in_flight

    async def _map_error(
        self, exc: BaseException, ctx: aio.ServicerContext[Any, Any]
    ) -> grpc.StatusCode:
        """Classify ``exc`` and turn it into a status on the wire; return the code.

        Aborts (raising ``AbortError``) for service errors and unexpected ones, so the
        caller's ``raise`` only runs for aborts and cancellations already under way.
        """
        if isinstance(exc, aio.AbortError):
            return ctx.code() or grpc.StatusCode.UNKNOWN
        if not isinstance(exc, Exception):  # cancellation: the client went away
            return grpc.StatusCode.CANCELLED
        if isinstance(exc, ServiceError):
            code, message = exc.code, exc.message
        else:
            ref = uuid.uuid4().hex[:12]
            log.error(
                "unhandled error in %s (ref %s)", self._path, ref, exc_info=exc, extra={"ref": ref}
            )
            code, message = grpc.StatusCode.INTERNAL, f"internal error (ref {ref})"
        await ctx.abort(code, message)
        return code  # pragma: no cover  (abort always raises)

    def _leave(
        self, start: float, token: Any, code: grpc.StatusCode, ctx: aio.ServicerContext[Any, Any]
    ) -> None:
        if token is not None:
            # A cancelled stream's generator is closed from another task's context, which
            # never saw the token; that context ends with the call anyway.
            with contextlib.suppress(ValueError):
                context.current_call.reset(token)
        telemetry.server_seconds.labels(*self._labels).observe(time.perf_counter() - start)
        telemetry.server_handled.labels(*self._labels, code.name).inc()


class _AuditInFlight:
    """One PHI call's audit write, under way while the handler runs: the sink's future
    (``begin_call``) or a task around its ``record_call``.

    It is shielded: a caller that goes away does not stop the record of its access from
    being written, and a failure is logged even if nobody waits for it any more.
    """

    def __init__(self, write: Awaitable[Any], path: str) -> None:
        self._path = path
        self._task = asyncio.ensure_future(write)  # a future is used as it is
        self._task.add_done_callback(self._log_failure)

    def _log_failure(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("audit write failed for %s: %s", self._path, task.exception())

    async def settled(self) -> None:
        """Return once the record is committed; raise Unavailable if it was not."""
        try:
            await asyncio.shield(self._task)
        except Exception as exc:
            raise Unavailable(AUDIT_REFUSAL) from exc


async def _held_until_audited(audit: _AuditInFlight, handler: Awaitable[_T]) -> _T:
    """The handler's result once its audit record is committed: an unaudited call
    reveals nothing, not even which error its handler ran into."""
    try:
        result = await handler
    except Exception:
        await audit.settled()
        raise
    await audit.settled()
    return result


class _HeldContext:
    """The servicer context a read handler sees while its audit record is in flight.

    The response itself is held back by ``_held_until_audited``; what a handler could
    send earlier through the context (an abort's status and message, initial metadata)
    first waits for the commit here. Everything else is the real context.
    """

    def __init__(self, ctx: aio.ServicerContext[Any, Any], audit: _AuditInFlight) -> None:
        self._ctx = ctx
        self._audit = audit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        await self._audit.settled()
        await self._ctx.abort(code, details, trailing_metadata)

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        await self._audit.settled()
        await self._ctx.send_initial_metadata(initial_metadata)


def _denied(message: str) -> ServiceError:
    from mesh.status import PermissionDenied

    return PermissionDenied(message)


def _code_of(exc: BaseException, ctx: aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    """The status an exception from a handler ends the call with."""
    if isinstance(exc, ServiceError):
        return exc.code
    if isinstance(exc, aio.AbortError):
        return ctx.code() or grpc.StatusCode.UNKNOWN
    if not isinstance(exc, Exception):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.INTERNAL
