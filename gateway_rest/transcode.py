"""HTTP request pieces -> gRPC request message, and gRPC response message -> JSON.

Request (``build_request``), applied in this order:

1. Body, by the rule's ``body``: none (a non-blank body is rejected), ``"*"`` (the JSON
   object is the whole request) or a top-level field name (the JSON value is that field).
   JSON is proto3 JSON via ``json_format``; lowerCamel and original names are both accepted;
   a blank body counts as ``{}``. Unknown fields are rejected naming the field path unless
   ``ignore_unknown_fields``; a key given under both its names and duplicate JSON keys are
   always rejected.
2. Path variables, converted to the field's type. The path is authoritative: a body that
   sets the same field to a different value is rejected (the route and any access check were
   decided on the path, so the message must agree with it).
3. Query parameters, only for fields bound by neither path nor body. With ``body: "*"`` no
   query parameter may name a field (http.proto: "there is no URL query parameter").
   Keys are dotted field paths, each part an original or a lowerCamel name. Leaves may be
   scalars, enums (name or defined number), or the well-known types that have a string form
   (Timestamp RFC 3339, Duration ``"1.5s"``, FieldMask ``"a,b.c"``, the wrappers). Repeated
   scalars and enums take one value per occurrence; any other field given twice is an
   error, as is setting two members of one oneof. Maps, repeated messages and other messages
   as leaves cannot be set from the query. Names in ``ignored_query_params`` are skipped
   (for parameters the gateway itself consumes, such as an access token).

Every request-side problem raises ``TranscodeError(message, field)`` where ``field`` is the
request-relative dotted path as the client spelled it.

Response: ``message_to_json`` renders proto3 JSON with lowerCamel names and zero values
printed; ``response_to_json`` honours the rule's ``response_body``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

from gateway_rest.errors import TranscodeError

if TYPE_CHECKING:
    from gateway_rest.routes import Route

__all__ = [
    "STRING_FORM_TYPES",
    "build_request",
    "is_string_settable",
    "message_class",
    "message_to_json",
    "resolve_field_path",
    "response_to_json",
]

_WRAPPERS = frozenset(
    f"google.protobuf.{n}"
    for n in (
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
)
#: Message types that a single path or query string can set.
STRING_FORM_TYPES = _WRAPPERS | {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}
# Types whose JSON form is not an object of their own fields, or takes arbitrary keys:
# unknown-field checking stops at them and json_format decides.
_OPAQUE_JSON = STRING_FORM_TYPES | {
    "google.protobuf.Any",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
}

_INT_RANGES: dict[int, tuple[int, int]] = {}
for _t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
    _INT_RANGES[_t] = (-(2**31), 2**31 - 1)
for _t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
    _INT_RANGES[_t] = (0, 2**32 - 1)
for _t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
    _INT_RANGES[_t] = (-(2**63), 2**63 - 1)
for _t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
    _INT_RANGES[_t] = (0, 2**64 - 1)

_INT_TEXT = re.compile(r"-?[0-9]+")
_FLOAT_TEXT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_FLOAT_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT32_MAX = 3.4028234663852886e38
_FIELD_MASK_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PARSE_CHAIN = re.compile(r"Failed to parse (\S+) field: ")
_AT_SUFFIX = re.compile(r'\s+at "?[\w.\[\]]*"?\.*$')


def _msg_type(field: FieldDescriptor) -> Descriptor:
    """The field's message type; only called for TYPE_MESSAGE fields."""
    assert field.message_type is not None, field.full_name
    return field.message_type


def _descriptor(msg: Message) -> Descriptor:
    return cast(Descriptor, msg.DESCRIPTOR)


def message_class(descriptor: Descriptor) -> type[Message]:
    """The message class for a descriptor (the generated one for generated types)."""
    return message_factory.GetMessageClass(descriptor)


def is_map(field: FieldDescriptor) -> bool:
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and _msg_type(field).GetOptions().map_entry
        and field.is_repeated
    )


def is_string_settable(field: FieldDescriptor) -> bool:
    """True when one string can set the field's (element) value: scalar, enum, string-form WKT."""
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return field.type != FieldDescriptor.TYPE_GROUP
    return _msg_type(field).full_name in STRING_FORM_TYPES


def resolve_field_path(
    descriptor: Descriptor, path: str, *, json_names: bool = False
) -> list[FieldDescriptor] | None:
    """Resolve a dotted path to its chain of fields, or None if a part does not exist.

    Only the last part may be repeated, a map or a non-message; every earlier part must be a
    singular message field (callers check what the last part may be). With ``json_names``
    each part may also be the field's lowerCamel JSON name.
    """
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = descriptor
    for part in path.split("."):
        if current is None:
            return None
        field = current.fields_by_name.get(part)
        if field is None and json_names:
            field = _by_json_name(current).get(part)
        if field is None:
            return None
        chain.append(field)
        current = (
            field.message_type
            if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated
            else None
        )
    return chain


@functools.cache
def _by_json_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in descriptor.fields}


# ---------------------------------------------------------------------------------------------
# Scalar conversion from one string (path variables and query parameters).


def _fail(field: str, text: str, expected: str) -> NoReturn:
    raise TranscodeError(f"invalid value {text!r} for field {field}: expected {expected}", field)


def _parse_int(fd_type: int, text: str, name: str) -> int:
    if not _INT_TEXT.fullmatch(text):
        _fail(name, text, "an integer")
    value = int(text)
    low, high = _INT_RANGES[fd_type]
    if not low <= value <= high:
        _fail(name, text, f"an integer in [{low}, {high}]")
    return value


def _parse_float(fd_type: int, text: str, name: str) -> float:
    if text in _FLOAT_SPECIAL:
        return _FLOAT_SPECIAL[text]
    if not _FLOAT_TEXT.fullmatch(text):
        _fail(name, text, "a number")
    value = float(text)
    if fd_type == FieldDescriptor.TYPE_FLOAT and abs(value) > _FLOAT32_MAX:
        _fail(name, text, "a number within float32 range")
    if math.isinf(value):
        _fail(name, text, "a finite number (or Infinity)")
    return value


def _parse_bool(text: str, name: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    _fail(name, text, "true or false")


def _parse_bytes(text: str, name: str) -> bytes:
    # Standard or URL-safe alphabet, padding optional. A space can only be a "+" that
    # form-decoding of the query string turned into a space.
    cleaned = text.replace(" ", "+").replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        _fail(name, text, "base64")


def _scalar(field: FieldDescriptor, text: str, name: str) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return text
    if t == FieldDescriptor.TYPE_BYTES:
        return _parse_bytes(text, name)
    if t == FieldDescriptor.TYPE_BOOL:
        return _parse_bool(text, name)
    if t in _INT_RANGES:
        return _parse_int(t, text, name)
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _parse_float(t, text, name)
    if t == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        value = enum.values_by_name.get(text)
        if value is not None:
            return value.number
        if _INT_TEXT.fullmatch(text) and int(text) in enum.values_by_number:
            return int(text)
        _fail(name, text, f"a value of {enum.full_name}")
    raise TranscodeError(f"field {name} cannot be set from a string", name)


def _camel_to_snake(path: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), path)


def _well_known(field: FieldDescriptor, text: str, name: str) -> Message:
    msg_type = _msg_type(field)
    msg = message_class(msg_type)()
    full = msg_type.full_name
    if full in _WRAPPERS:
        inner = msg_type.fields_by_name["value"]
        setattr(msg, "value", _scalar(inner, text, name))  # noqa: B010 - dynamic message
        return msg
    if full == "google.protobuf.FieldMask":
        paths = [p.strip() for p in text.split(",")] if text else []
        if not all(_FIELD_MASK_PATH.fullmatch(p) for p in paths):
            _fail(name, text, "a comma-separated list of field paths")
        cast(Any, msg).paths.extend(_camel_to_snake(p) for p in paths)
        return msg
    try:
        msg.FromJsonString(text)  # type: ignore[attr-defined]  # Timestamp / Duration
    except ValueError:
        expected = (
            "an RFC 3339 timestamp" if full.endswith("Timestamp") else 'a duration like "1.5s"'
        )
        _fail(name, text, expected)
    return msg


def _convert(field: FieldDescriptor, text: str, name: str) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _well_known(field, text, name)
    return _scalar(field, text, name)


# ---------------------------------------------------------------------------------------------
# Setting fields.


def _has_value(parent: Message, field: FieldDescriptor) -> bool:
    if field.has_presence:
        return parent.HasField(field.name)
    return bool(getattr(parent, field.name) != field.default_value)


def _descend(msg: Message, chain: list[FieldDescriptor]) -> Message:
    parent = msg
    for fd in chain[:-1]:
        parent = getattr(parent, fd.name)
    return parent


def _check_oneof(parent: Message, field: FieldDescriptor, name: str) -> None:
    oneof = field.containing_oneof
    if oneof is None:
        return
    current = parent.WhichOneof(oneof.name)
    if current is not None and current != field.name:
        raise TranscodeError(
            f"field {name} and field {current} belong to the same oneof {oneof.name!r}; "
            "set only one",
            name,
        )


def _assign(parent: Message, field: FieldDescriptor, value: Any) -> None:
    if isinstance(value, Message):
        target = getattr(parent, field.name)
        target.SetInParent()
        target.CopyFrom(value)
    else:
        setattr(parent, field.name, value)


def _set_path_variable(msg: Message, field_path: str, text: str) -> None:
    chain = resolve_field_path(_descriptor(msg), field_path)
    if chain is None:  # the route table checked this at build time
        raise TranscodeError(f"unknown path field {field_path}", field_path)
    leaf = chain[-1]
    value = _convert(leaf, text, field_path)
    parent = _descend(msg, chain)
    if _has_value(parent, leaf) and getattr(parent, leaf.name) != value:
        raise TranscodeError(
            f"field {field_path} in the body disagrees with the URL path value {text!r}",
            field_path,
        )
    _check_oneof(parent, leaf, field_path)
    _assign(parent, leaf, value)


def _resolve_query_key(msg_desc: Descriptor, key: str) -> list[FieldDescriptor] | None:
    if not key or any(not part for part in key.split(".")):
        return None
    return resolve_field_path(msg_desc, key, json_names=True)


def _set_query_params(
    msg: Message,
    route: Route,
    query: Iterable[tuple[str, str]],
    ignore_unknown_fields: bool,
    ignored: frozenset[str],
) -> None:
    seen: set[str] = set()
    for key, text in query:
        if key in ignored:
            continue
        if route.body == "*":
            raise TranscodeError(
                f'query parameter {key!r} is not allowed: with body "*" every field not '
                "in the URL path comes from the body",
                key,
            )
        chain = _resolve_query_key(_descriptor(msg), key)
        if chain is None:
            if ignore_unknown_fields:
                continue
            raise TranscodeError(f"unknown query parameter {key!r}: no such field", key)
        proto_path = ".".join(fd.name for fd in chain)
        for bound in route.template_fields:
            if (
                proto_path == bound
                or bound.startswith(proto_path + ".")
                or proto_path.startswith(bound + ".")
            ):
                raise TranscodeError(
                    f"query parameter {key!r} sets field {bound}, which the URL path binds", key
                )
        if route.body and chain[0].name == route.body:
            raise TranscodeError(
                f"query parameter {key!r} sets a field inside the request body field "
                f"{route.body!r}; send it in the body",
                key,
            )
        leaf = chain[-1]
        if is_map(leaf):
            raise TranscodeError(f"map field {key} cannot be set from a query parameter", key)
        if not is_string_settable(leaf):
            what = "repeated message" if leaf.is_repeated else "message"
            raise TranscodeError(
                f"{what} field {key} cannot be set from one query parameter"
                + ("" if leaf.is_repeated else "; set its fields as " + key + ".<field>"),
                key,
            )
        if leaf.is_repeated and leaf.type == FieldDescriptor.TYPE_MESSAGE:
            raise TranscodeError(
                f"repeated message field {key} cannot be set from query parameters", key
            )
        parent = _descend(msg, chain)
        value = _convert(leaf, text, key)
        if leaf.is_repeated:
            getattr(parent, leaf.name).append(value)
            continue
        if proto_path in seen:
            raise TranscodeError(f"query parameter {key!r} is given more than once", key)
        seen.add(proto_path)
        _check_oneof(parent, leaf, key)
        _assign(parent, leaf, value)


# ---------------------------------------------------------------------------------------------
# JSON body.


def _reject_constant(name: str) -> NoReturn:
    raise TranscodeError(f"request body is not valid JSON: {name} is not a JSON value")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; a repeated key shows as a shorter dict
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise TranscodeError(f"request body repeats the JSON key {key!r}", key)
            seen.add(key)
    return out


# json.loads with options builds a decoder per call; one is enough (it keeps no state).
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def _load_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscodeError("request body is not UTF-8") from None
    try:
        if text.startswith("\ufeff"):  # what json.loads says; decode() would not check
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _JSON_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise TranscodeError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise TranscodeError("request body is nested too deeply") from None


def _check_json_fields(value: Any, descriptor: Descriptor, prefix: str, unknown_ok: bool) -> None:
    """Reject unknown keys (unless ``unknown_ok``) and fields given under both names."""
    if descriptor.full_name in _OPAQUE_JSON or not isinstance(value, dict):
        return  # json_format reports type mismatches itself
    by_json = _by_json_name(descriptor)
    seen: dict[int, str] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        field = descriptor.fields_by_name.get(key) or by_json.get(key)
        if field is None:
            if unknown_ok or (key.startswith("[") and key.endswith("]")):
                continue
            raise TranscodeError(
                f"unknown field {path!r} in request body ({descriptor.full_name} has no "
                f"field {key!r})",
                path,
            )
        if field.number in seen:
            raise TranscodeError(
                f"field {path!r} is given twice in the request body, also as "
                f"{prefix}{seen[field.number]!r}",
                path,
            )
        seen[field.number] = key
        _check_field_value(item, field, path, unknown_ok)


def _expect(value: Any, kind: type, what: str, path: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise TranscodeError(f"invalid request body for field {path}: expected {what}", path)


def _check_field_value(value: Any, field: FieldDescriptor, path: str, unknown_ok: bool) -> None:
    if field.is_repeated and not is_map(field):
        _expect(value, list, "a JSON array", path)
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return
    if is_map(field):
        _expect(value, dict, "a JSON object", path)
        value_field = _msg_type(field).fields_by_name["value"]
        if value_field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(value, dict):
            for k, v in value.items():
                _check_json_fields(v, _msg_type(value_field), f"{path}[{k}].", unknown_ok)
    elif field.is_repeated:
        if isinstance(value, list):
            for i, v in enumerate(value):
                if _msg_type(field).full_name not in _OPAQUE_JSON:
                    _expect(v, dict, "a JSON object", f"{path}[{i}]")
                _check_json_fields(v, _msg_type(field), f"{path}[{i}].", unknown_ok)
    else:
        if _msg_type(field).full_name not in _OPAQUE_JSON:
            _expect(value, dict, "a JSON object", path)
        _check_json_fields(value, _msg_type(field), f"{path}.", unknown_ok)


def _parse_error(exc: Exception) -> TranscodeError:
    text = str(exc)
    chain = _PARSE_CHAIN.findall(text)
    reason = _PARSE_CHAIN.split(text)[-1].split("\n", 1)[0]
    reason = _AT_SUFFIX.sub("", reason).rstrip(".")
    field = ".".join(chain) or None
    where = f" for field {field}" if field else ""
    return TranscodeError(f"invalid request body{where}: {reason}", field)


def _parse_body(msg: Message, route: Route, body: bytes, ignore_unknown_fields: bool) -> None:
    if not route.body:
        if body.strip():
            raise TranscodeError(f"{route.http_method} {route.pattern} takes no request body")
        return
    if not body.strip():
        return  # an empty body is an empty object: nothing set
    value = _load_json(body)
    descriptor = _descriptor(msg)
    if route.body == "*":
        if not isinstance(value, dict):
            raise TranscodeError("request body must be a JSON object")
        if _fill_simple(msg, descriptor, value):
            return
        _check_json_fields(value, descriptor, "", ignore_unknown_fields)
        document: dict[str, Any] = value
    else:
        field = descriptor.fields_by_name[route.body]
        _check_field_value(value, field, field.name, ignore_unknown_fields)
        document = {field.name: value}
    try:
        json_format.ParseDict(document, msg, ignore_unknown_fields=ignore_unknown_fields)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise _parse_error(exc) from None


# ---------------------------------------------------------------------------------------------
# Fast paths. Most requests and replies are flat messages of strings, numbers, booleans and
# enums, for which json_format's general machinery costs more than the rest of the hop. Each
# fast path handles only inputs whose result is unambiguous and hands everything else to the
# general path, so both give the same message (requests) and the same JSON, key order
# included (responses); tests/gateway/test_fast_json.py compares them.

_KIND_STRING, _KIND_BOOL, _KIND_INT, _KIND_ENUM = range(4)
_INT_CPP_TYPES = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
_INT64_CPP_TYPES = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_SimpleField = tuple[str, int, Any]
"""(field name, kind, extra): the int range for ints, the enum descriptor for enums."""


def _simple_kind(field: FieldDescriptor) -> tuple[int, Any] | None:
    if field.is_repeated or field.containing_oneof is not None:
        return None  # lists, maps, oneofs and proto3 optional: the general path
    if field.type == FieldDescriptor.TYPE_STRING:
        return _KIND_STRING, None
    if field.type == FieldDescriptor.TYPE_BOOL:
        return _KIND_BOOL, None
    if field.type in _INT_RANGES:
        return _KIND_INT, _INT_RANGES[field.type]
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _KIND_ENUM, field.enum_type
    return None


@functools.cache
def _simple_fields(descriptor: Descriptor) -> dict[str, _SimpleField]:
    """JSON key (original or lowerCamel name) -> how to set it, for the singular scalar and
    enum fields outside oneofs; other fields are absent (their keys take the general path)."""
    if descriptor.full_name in _OPAQUE_JSON:
        return {}
    out: dict[str, _SimpleField] = {}
    for field in descriptor.fields:
        kind = _simple_kind(field)
        if kind is not None:
            out[field.name] = out[field.json_name] = (field.name, kind[0], kind[1])
    return out


def _simple_value(kind: int, extra: Any, value: Any) -> tuple[bool, Any]:
    """(True, converted) when json_format would accept ``value`` as this exact value."""
    if kind == _KIND_STRING:
        # A str from json.loads can only hold a surrogate if it was unpaired (json_format
        # rejects those): ASCII is always fine, anything else must encode.
        if type(value) is str:
            if value.isascii():
                return True, value
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False, None
            return True, value
        return False, None
    if kind == _KIND_BOOL:
        return type(value) is bool, value
    if kind == _KIND_INT:
        return type(value) is int and extra[0] <= value <= extra[1], value
    if type(value) is str:  # enum by name
        found = cast(EnumDescriptor, extra).values_by_name.get(value)
        if found is not None:
            return True, found.number
    return False, None


def _fill_simple(msg: Message, descriptor: Descriptor, document: dict[str, Any]) -> bool:
    """Set ``msg`` (still empty) from a body object whose every key names a simple field
    with a plainly valid value. False (``msg`` left empty) when any key needs the general
    path: an unknown or complex field, a name given twice, null, a value to convert."""
    fields = _simple_fields(descriptor)
    assignments: list[tuple[str, Any]] = []
    for key, value in document.items():
        entry = fields.get(key)
        if entry is None:
            return False
        name, kind, extra = entry
        ok, converted = _simple_value(kind, extra, value)
        if not ok:
            return False
        assignments.append((name, converted))
    if len({name for name, _ in assignments}) != len(assignments):
        return False  # one field under both names: the general path names the problem
    try:
        for name, converted in assignments:
            setattr(msg, name, converted)
    except (ValueError, TypeError):
        msg.Clear()
        return False
    return True


def _json_scalar(field: FieldDescriptor) -> Callable[[Any], Any] | None:
    """The proto3 JSON form of one (element) value of a non-message field, as json_format
    renders it; None for what the fast encoder leaves to json_format."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        if enum.is_closed or enum.full_name == "google.protobuf.NullValue":
            return None
        if any(v.GetOptions().ListFields() for v in enum.values):
            return None  # options (a custom JSON name, deprecation): json_format decides
        names = {v.number: v.name for v in enum.values}
        return lambda v: names.get(v, v)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda v: base64.b64encode(v).decode("utf-8")
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return str
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if cpp in _INT64_CPP_TYPES:
        return str
    if cpp in _INT_CPP_TYPES:
        return _same
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        single = cpp == FieldDescriptor.CPPTYPE_FLOAT
        return lambda v: _json_float(v, single)
    return None


def _same(value: Any) -> Any:
    return value


def _json_float(value: float, single: bool) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return type_checkers.ToShortestFloat(value) if single else value


def _json_element(field: FieldDescriptor) -> Callable[[Any], Any] | None:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        return message_to_json
    return _json_scalar(field)


def _json_field(field: FieldDescriptor) -> Callable[[Any], Any] | None:
    """Converter of a whole field value (list, map or single value), or None."""
    if is_map(field):
        value_field = _msg_type(field).fields_by_name["value"]
        convert = _json_element(value_field)
        if convert is None:
            return None
        return lambda m: {_map_key(k): convert(m[k]) for k in m}
    element = _json_element(field)
    if element is None:
        return None
    if field.is_repeated:
        return lambda values: [element(v) for v in values]
    return element


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


@dataclass(frozen=True)
class _JsonPlan:
    converters: dict[str, tuple[str, Callable[[Any], Any]]]
    """Field name -> (JSON name, converter) for the values ``ListFields`` returns."""
    defaults: tuple[tuple[str, int, Any], ...]
    """(JSON name, 0 scalar / 1 list / 2 map, zero JSON) of no-presence fields, in order."""


@functools.cache
def _json_plan(descriptor: Descriptor) -> _JsonPlan | None:
    """How to render a regular message; None for well-known types and anything the plan
    does not cover (json_format renders those)."""
    if descriptor.file.package == "google.protobuf" or descriptor.GetOptions().map_entry:
        return None
    converters: dict[str, tuple[str, Callable[[Any], Any]]] = {}
    defaults: list[tuple[str, int, Any]] = []
    for field in descriptor.fields:
        convert = _json_field(field)
        if convert is None:
            return None
        converters[field.name] = (field.json_name, convert)
        if field.has_presence:
            continue
        if is_map(field):
            defaults.append((field.json_name, 2, None))
        elif field.is_repeated:
            defaults.append((field.json_name, 1, None))
        else:
            defaults.append((field.json_name, 0, convert(field.default_value)))
    return _JsonPlan(converters, tuple(defaults))


# ---------------------------------------------------------------------------------------------
# Public API.


def build_request(
    route: Route,
    variables: Mapping[str, str],
    query: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    ignore_unknown_fields: bool = False,
    ignored_query_params: frozenset[str] = frozenset(),
    message_type: Callable[[], Message] | None = None,
) -> Message:
    """Build the gRPC request message for a matched route (rules in the module docstring).

    ``variables`` are the decoded path variables from ``RouteTable.match``; ``query`` is the
    already form-decoded query string as (key, value) pairs in order (for example Starlette's
    ``request.query_params.multi_items()``); ``body`` is the raw request body.
    ``message_type`` overrides the class instantiated (default: the route's request type).
    Raises ``TranscodeError``.
    """
    msg = (message_type or message_class(route.request_type))()
    _parse_body(msg, route, body, ignore_unknown_fields)
    for field_path, text in variables.items():
        _set_path_variable(msg, field_path, text)
    _set_query_params(msg, route, query, ignore_unknown_fields, ignored_query_params)
    return msg


def message_to_json(message: Message) -> Any:
    """Proto3 JSON of a message: lowerCamel keys, zero values of no-presence fields printed.

    Normally a dict; a well-known type at top level gives its JSON form (a Timestamp gives a
    string). The same as ``json_format.MessageToDict(message,
    always_print_fields_with_no_presence=True)``, key order included, only cheaper for the
    common messages.
    """
    plan = _json_plan(message.DESCRIPTOR)
    if plan is not None:
        out: dict[str, Any] = {}
        converters = plan.converters
        for field, value in message.ListFields():
            entry = converters.get(field.name)
            if entry is None or field.is_extension:
                break
            out[entry[0]] = entry[1](value)
        else:
            for name, kind, zero in plan.defaults:
                if name not in out:
                    out[name] = zero if kind == 0 else [] if kind == 1 else {}
            return out
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def response_to_json(route: Route, message: Message) -> Any:
    """The HTTP response JSON for a response message, honouring ``response_body``.

    With ``response_body`` the field's JSON value alone is returned; an unset singular message
    field renders as a default instance (zero values printed), an unset proto3 ``optional``
    scalar as None (JSON null).
    """
    if not route.response_body:
        return message_to_json(message)
    field = _descriptor(message).fields_by_name[route.response_body]
    if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
        return message_to_json(getattr(message, field.name))
    rendered = message_to_json(message)
    return rendered.get(field.json_name)
