"""What the contract says about each rpc: who may call it and whether it is safe to retry.

Built once from the protobuf descriptors, so the interceptor, the client and the
gateway read the same rules the ``.proto`` files declare.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from lilo.options.v1 import options_pb2

from mesh.retry import is_idempotent


@dataclass(frozen=True, kw_only=True)
class MethodPolicy:
    """The rules one rpc carries in its proto options."""

    path: str
    """``/package.Service/Method``."""
    service: str
    name: str
    client_streaming: bool
    server_streaming: bool
    idempotent: bool
    """Safe to retry or hedge: a unary rpc declared IDEMPOTENT or NO_SIDE_EFFECTS."""
    has_access_rule: bool
    """False means the rpc is denied to everyone: deny by default."""
    resource: str = ""
    action: str = ""
    public: bool = False
    phi: bool = False
    resident_field: str = ""
    resume_request_field: str = ""
    resume_response_field: str = ""


# protoc's stubs type extensions loosely; the values are read as the messages they are.
_ACCESS: Any = options_pb2.access
_STREAM: Any = options_pb2.stream


def policy_for(method: MethodDescriptor) -> MethodPolicy:
    opts = method.GetOptions()
    has_rule = opts.HasExtension(_ACCESS)
    rule = opts.Extensions[_ACCESS]
    stream = opts.Extensions[_STREAM]
    return MethodPolicy(
        path=f"/{method.containing_service.full_name}/{method.name}",
        service=method.containing_service.full_name,
        name=method.name,
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        idempotent=is_idempotent(method),
        has_access_rule=has_rule,
        resource=rule.resource,
        action=rule.action,
        public=rule.public,
        phi=rule.phi,
        resident_field=rule.resident_field,
        resume_request_field=stream.resume_request_field,
        resume_response_field=stream.resume_response_field,
    )


@cache
def load_contracts() -> None:
    """Import every generated ``lilo.*_pb2`` module so the default pool knows all contracts."""
    import lilo

    for info in pkgutil.walk_packages(lilo.__path__, "lilo."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)


def service_descriptor(name: str) -> ServiceDescriptor:
    try:
        return descriptor_pool.Default().FindServiceByName(name)
    except KeyError:
        load_contracts()
        return descriptor_pool.Default().FindServiceByName(name)


@cache
def method_policy(path: str) -> MethodPolicy | None:
    """The policy of ``/package.Service/Method``, or None for an unknown method."""
    try:
        service_name, method_name = path.lstrip("/").split("/", 1)
        service = service_descriptor(service_name)
    except (KeyError, ValueError):
        return None
    method = service.methods_by_name.get(method_name)
    return policy_for(method) if method else None


def service_policies(name: str) -> list[MethodPolicy]:
    return [policy_for(m) for m in service_descriptor(name).methods]
