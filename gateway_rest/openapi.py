"""OpenAPI 3.1 document of the gateway, built from the route table and the descriptor set.

Pure: no I/O. Rules:

* one operation per ``Route``; the path is the http rule's template with ``{field=...}``
  shortened to ``{field}`` (OpenAPI has no multi-segment parameters; the pattern goes into
  the parameter's description);
* path parameters from template variables; query parameters for the scalar, enum, wrapper and
  string-form leaves of fields bound by neither path nor body, dotted lowerCamel names, when
  the body is not ``"*"`` (nested messages up to three levels);
* request body from the ``body`` mapping; response from the response message or its
  ``response_body`` field, with proto3 JSON names (lowerCamel) and JSON forms of the
  well-known types (Timestamp is a date-time string, 64-bit integers are decimal strings);
* errors as ``default`` responses with the ``google.rpc.Status`` schema;
* server streams as ``text/event-stream`` and ``application/x-ndjson`` 200 responses;
  client- and bidi-streaming rpcs are WebSocket endpoints, which OpenAPI cannot describe:
  they are listed under the top-level ``x-websocket-endpoints`` extension instead;
* comments of services, methods, messages, fields and enums from the descriptor set's
  ``source_code_info`` become summaries and descriptions;
* a bearer (JWT) security scheme, required by every operation except public rpcs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway_rest.routes import Route, RouteTable

__all__ = ["build_openapi", "comments_by_name", "openapi_path"]

_REF = "#/components/schemas/"
_VAR = re.compile(r"\{([^}=]+)(=[^}]*)?\}")
_INT32: dict[str, Any] = {"type": "integer", "format": "int32"}
_UINT32: dict[str, Any] = {
    "type": "integer",
    "format": "int64",
    "minimum": 0,
    "maximum": 4294967295,
}
_INT64: dict[str, Any] = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64: dict[str, Any] = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_NUMBER: dict[str, Any] = {"type": "number"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_FLOAT: _NUMBER,
    FieldDescriptor.TYPE_DOUBLE: _NUMBER,
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WRAPPERS: dict[str, dict[str, Any]] = {
    "google.protobuf.DoubleValue": _NUMBER,
    "google.protobuf.FloatValue": _NUMBER,
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    **_WRAPPERS,
}
_ANY = {
    "type": "object",
    "description": "A message of any type: `@type` names it, the other keys are its fields.",
    "properties": {"@type": {"type": "string"}},
    "required": ["@type"],
    "additionalProperties": True,
}
_STATUS = {
    "type": "object",
    "description": "google.rpc.Status: the gRPC status code, a message and typed details.",
    "properties": {
        "code": {"type": "integer", "format": "int32", "description": "gRPC status code."},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"$ref": _REF + "google.protobuf.Any"}},
    },
    "required": ["code", "message"],
}
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def openapi_path(route: Route) -> str:
    """The OpenAPI path of a route: ``{field=pattern}`` becomes ``{field}``."""
    return _VAR.sub(lambda m: "{" + m.group(1) + "}", route.pattern)


def comments_by_name(files: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Leading (else trailing) comments by full name of services, methods, messages, fields,
    enums and enum values, from the files' ``source_code_info``."""
    out: dict[str, str] = {}
    for f in files.file:
        by_path = {
            tuple(loc.path): (loc.leading_comments or loc.trailing_comments).strip()
            for loc in f.source_code_info.location
        }
        prefix = f.package + "." if f.package else ""

        def note(path: tuple[int, ...], name: str) -> None:
            text = by_path.get(path)  # noqa: B023 - used inside this iteration only
            if text:
                out[name] = text

        def enum(e: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], name: str) -> None:
            note(path, name)
            for i, v in enumerate(e.value):
                note((*path, 2, i), f"{name}.{v.name}")

        def message(m: descriptor_pb2.DescriptorProto, path: tuple[int, ...], name: str) -> None:
            note(path, name)
            for i, fd in enumerate(m.field):
                note((*path, 2, i), f"{name}.{fd.name}")
            for i, nested in enumerate(m.nested_type):
                message(nested, (*path, 3, i), f"{name}.{nested.name}")
            for i, e in enumerate(m.enum_type):
                enum(e, (*path, 4, i), f"{name}.{e.name}")

        for i, m in enumerate(f.message_type):
            message(m, (4, i), prefix + m.name)
        for i, e in enumerate(f.enum_type):
            enum(e, (5, i), prefix + e.name)
        for i, s in enumerate(f.service):
            note((6, i), prefix + s.name)
            for j, method in enumerate(s.method):
                note((6, i, 2, j), f"{prefix}{s.name}.{method.name}")
    return out


class _Builder:
    def __init__(self, comments: dict[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, Any] = {
            "google.rpc.Status": _STATUS,
            "google.protobuf.Any": _ANY,
        }

    def _described(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        text = self.comments.get(name)
        if not text:
            return schema
        if "$ref" in schema:  # a sibling of $ref is allowed in 3.1
            return {**schema, "description": text}
        return {**schema, "description": text}

    def enum_ref(self, enum: EnumDescriptor) -> dict[str, Any]:
        if enum.full_name not in self.schemas:
            schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
            lines = [
                f"- `{v.name}`: {self.comments[f'{enum.full_name}.{v.name}']}"
                for v in enum.values
                if f"{enum.full_name}.{v.name}" in self.comments
            ]
            text = "\n".join(filter(None, [self.comments.get(enum.full_name, ""), *lines]))
            if text:
                schema["description"] = text
            self.schemas[enum.full_name] = schema
        return {"$ref": _REF + enum.full_name}

    def message_ref(self, message: Descriptor) -> dict[str, Any]:
        name = message.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
            self.schemas[name] = schema  # before recursing: messages may refer to themselves
            if name in self.comments:
                schema["description"] = self.comments[name]
            schema["properties"] = {
                fd.json_name: self._described(self.field(fd), f"{name}.{fd.name}")
                for fd in message.fields
            }
        return {"$ref": _REF + name}

    def value(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            assert fd.message_type is not None
            return self.message_ref(fd.message_type)
        if fd.type == FieldDescriptor.TYPE_ENUM:
            assert fd.enum_type is not None
            return self.enum_ref(fd.enum_type)
        return dict(_SCALARS[fd.type])

    def field(self, fd: FieldDescriptor) -> dict[str, Any]:
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            return {
                "type": "object",
                "additionalProperties": self.value(mt.fields_by_name["value"]),
            }
        if fd.is_repeated:
            return {"type": "array", "items": self.value(fd)}
        return self.value(fd)


def _is_leaf(fd: FieldDescriptor) -> bool:
    if fd.type != FieldDescriptor.TYPE_MESSAGE:
        return True
    assert fd.message_type is not None
    return fd.message_type.full_name in _WELL_KNOWN and fd.message_type.full_name not in (
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Empty",
    )


def _query_fields(
    message: Descriptor, bound: frozenset[str], prefix: str, json_prefix: str, depth: int
) -> Iterable[tuple[str, str, FieldDescriptor]]:
    """(proto path, JSON name path, field) of every query-settable leaf."""
    for fd in message.fields:
        path, json_path = prefix + fd.name, json_prefix + fd.json_name
        if path in bound or any(b.startswith(path + ".") for b in bound):
            if fd.type == FieldDescriptor.TYPE_MESSAGE and path not in bound and depth < 3:
                assert fd.message_type is not None
                yield from _query_fields(
                    fd.message_type, bound, path + ".", json_path + ".", depth + 1
                )
            continue
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            continue
        if _is_leaf(fd):
            if fd.is_repeated and fd.type == FieldDescriptor.TYPE_MESSAGE:
                continue
            yield path, json_path, fd
        elif not fd.is_repeated and depth < 3:
            assert mt is not None
            yield from _query_fields(mt, bound, path + ".", json_path + ".", depth + 1)


def _short(service: str) -> str:
    return service.rsplit(".", 1)[-1]


def build_openapi(
    table: RouteTable,
    files: descriptor_pb2.FileDescriptorSet,
    *,
    public_methods: frozenset[str] = frozenset(),
    resume_fields: dict[str, str] | None = None,
    title: str = "Lilo Mesh REST gateway",
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-ready dict).

    ``public_methods`` are gRPC paths that need no token; ``resume_fields`` maps the gRPC
    path of a resumable server stream to its resume request field (documented for SSE).
    """
    comments = comments_by_name(files)
    b = _Builder(comments)
    resume = resume_fields or {}
    paths: dict[str, dict[str, Any]] = {}
    websockets: list[dict[str, Any]] = []
    used_ids: set[str] = set()
    for route in table.routes:
        rpc_doc = comments.get(route.rpc, "")
        if route.client_streaming:
            websockets.append(
                {
                    "path": openapi_path(route),
                    "rpc": route.rpc,
                    "description": rpc_doc,
                    "request": b.message_ref(route.request_type),
                    "response": b.message_ref(route.response_type),
                    "serverStreaming": route.server_streaming,
                }
            )
            continue
        method = route.http_method.lower()
        if method not in _HTTP_METHODS:
            continue  # custom "*" or a kind OpenAPI has no operation for
        op_id = f"{_short(route.service)}_{route.method}" + (
            f"_{route.binding}" if route.binding else ""
        )
        while op_id in used_ids:
            op_id += "_"
        used_ids.add(op_id)
        op: dict[str, Any] = {
            "operationId": op_id,
            "tags": [_short(route.service)],
            "summary": rpc_doc.split("\n", 1)[0] if rpc_doc else route.method,
            "description": rpc_doc + f"\n\ngRPC: `{route.grpc_path}`",
        }
        params: list[dict[str, Any]] = []
        bound = route.template_fields
        for var in route.template.variables:
            fd = _resolve(route.request_type, var.field_path)
            source = var.field_path
            params.append(
                {
                    "name": var.field_path,
                    "in": "path",
                    "required": True,
                    "schema": b.value(fd) if fd is not None else {"type": "string"},
                    "description": comments.get(fd.full_name if fd else "", source),
                }
            )
        if route.body != "*":
            exclude = bound | ({route.body} if route.body else frozenset())
            for path, json_path, fd in _query_fields(route.request_type, exclude, "", "", 0):
                param: dict[str, Any] = {
                    "name": json_path,
                    "in": "query",
                    "required": False,
                    "schema": b.field(fd),
                }
                if fd.is_repeated:
                    param.update(style="form", explode=True)
                text = comments.get(fd.full_name)
                if text:
                    param["description"] = text
                del path
                params.append(param)
        if route.body:
            if route.body == "*":
                body_schema = b.message_ref(route.request_type)
            else:
                body_schema = b.field(route.request_type.fields_by_name[route.body])
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        if route.response_body:
            fd = route.response_type.fields_by_name[route.response_body]
            reply = b.field(fd)
            if fd.has_presence and fd.type != FieldDescriptor.TYPE_MESSAGE:
                reply = {"anyOf": [reply, {"type": "null"}]}
        else:
            reply = b.message_ref(route.response_type)
        if route.server_streaming:
            cursor = resume.get(route.grpc_path)
            params.append(
                {
                    "name": "access_token",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Bearer token for clients that cannot send headers "
                    "(EventSource); used only when there is no Authorization header.",
                }
            )
            if cursor:
                params.append(
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": f"Resume after this SSE event id; copied into `{cursor}`.",
                    }
                )
            sse_text = "Server-sent events: `event: message` with `data:` one JSON message"
            if cursor:
                sse_text += f" and `id:` its resume cursor (pass back as `{cursor}`)"
            sse_text += "; a failure ends the stream with `event: error`, data google.rpc.Status."
            op["responses"] = {
                "200": {
                    "description": "A stream of messages. Ask for SSE with "
                    "`Accept: text/event-stream`, otherwise newline-delimited JSON.",
                    "content": {
                        "text/event-stream": {
                            "schema": {"type": "string", "description": sse_text}
                        },
                        "application/x-ndjson": {
                            "schema": {
                                "type": "object",
                                "description": 'One line per message: {"result": message}; '
                                'a failure ends with {"error": Status}.',
                                "properties": {
                                    "result": reply,
                                    "error": {"$ref": _REF + "google.rpc.Status"},
                                },
                            }
                        },
                    },
                },
            }
        else:
            op["responses"] = {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": reply}},
                }
            }
        op["responses"]["default"] = {
            "description": "An error: the gRPC status mapped to HTTP (see the gateway docs).",
            "content": {"application/json": {"schema": {"$ref": _REF + "google.rpc.Status"}}},
        }
        if params:
            op["parameters"] = params
        op["security"] = [] if route.grpc_path in public_methods else [{"bearer": []}]
        paths.setdefault(openapi_path(route), {})[method] = op
    tags = sorted({_short(r.service): r.service for r in table.routes}.items())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "REST/JSON transcoding of the Lilo Mesh gRPC services, generated "
            "from the protos' google.api.http rules. Send `Authorization: Bearer <token>`; "
            "`Grpc-Timeout` (e.g. `500m`) sets the call deadline; `Grpc-Metadata-<key>` "
            "headers become gRPC metadata.",
        },
        "tags": [{"name": short, "description": comments.get(full, full)} for short, full in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(b.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "x-websocket-endpoints": websockets,
    }


def _resolve(message: Descriptor, path: str) -> FieldDescriptor | None:
    current: Descriptor | None = message
    fd: FieldDescriptor | None = None
    for part in path.split("."):
        if current is None:
            return None
        fd = current.fields_by_name.get(part)
        if fd is None:
            return None
        current = fd.message_type
    return fd
