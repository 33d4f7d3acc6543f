"""A test-only proto (built in memory, no protoc) with the types the project protos lack.

``gwtest.v1.TestService`` covers nested messages, every scalar type, wrappers, Timestamp,
Duration, FieldMask, bytes, maps, oneofs, proto3 optional, body "*" / field / none,
response_body, additional_bindings, custom methods and streaming.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.api import annotations_pb2  # noqa: F401 - registers google.api.http for text_format
from google.protobuf import descriptor_pb2, text_format

from gateway_rest.routes import Route, RouteTable
from gateway_rest.transcode import message_class

WKT_DEPS = [
    "google/api/annotations.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/wrappers.proto",
    "google/protobuf/struct.proto",
]

MESSAGES = """
enum_type {
  name: "Color"
  value { name: "COLOR_UNSPECIFIED" number: 0 }
  value { name: "COLOR_RED" number: 1 }
  value { name: "COLOR_BLUE" number: 2 }
}
message_type {
  name: "Inner"
  field { name: "name" number: 1 type: TYPE_STRING json_name: "name" }
  field { name: "count" number: 2 type: TYPE_INT32 json_name: "count" }
  field { name: "color" number: 3 type: TYPE_ENUM type_name: ".gwtest.v1.Color" json_name: "color" }
  field { name: "deep" number: 4 type: TYPE_MESSAGE type_name: ".gwtest.v1.Inner.Deep"
          json_name: "deep" }
  nested_type {
    name: "Deep"
    field { name: "leaf_value" number: 1 type: TYPE_STRING json_name: "leafValue" }
  }
}
message_type {
  name: "Everything"
  field { name: "id" number: 1 type: TYPE_STRING json_name: "id" }
  field { name: "i32" number: 2 type: TYPE_INT32 json_name: "i32" }
  field { name: "i64" number: 3 type: TYPE_INT64 json_name: "i64" }
  field { name: "u32" number: 4 type: TYPE_UINT32 json_name: "u32" }
  field { name: "u64" number: 5 type: TYPE_UINT64 json_name: "u64" }
  field { name: "s32" number: 6 type: TYPE_SINT32 json_name: "s32" }
  field { name: "s64" number: 7 type: TYPE_SINT64 json_name: "s64" }
  field { name: "f32" number: 8 type: TYPE_FIXED32 json_name: "f32" }
  field { name: "f64" number: 9 type: TYPE_FIXED64 json_name: "f64" }
  field { name: "sf32" number: 10 type: TYPE_SFIXED32 json_name: "sf32" }
  field { name: "sf64" number: 11 type: TYPE_SFIXED64 json_name: "sf64" }
  field { name: "flt" number: 12 type: TYPE_FLOAT json_name: "flt" }
  field { name: "dbl" number: 13 type: TYPE_DOUBLE json_name: "dbl" }
  field { name: "flag" number: 14 type: TYPE_BOOL json_name: "flag" }
  field { name: "blob" number: 15 type: TYPE_BYTES json_name: "blob" }
  field { name: "color" number: 16 type: TYPE_ENUM type_name: ".gwtest.v1.Color"
          json_name: "color" }
  field { name: "tags" number: 17 type: TYPE_STRING label: LABEL_REPEATED json_name: "tags" }
  field { name: "nums" number: 18 type: TYPE_INT32 label: LABEL_REPEATED json_name: "nums" }
  field { name: "colors" number: 19 type: TYPE_ENUM label: LABEL_REPEATED
          type_name: ".gwtest.v1.Color" json_name: "colors" }
  field { name: "inner" number: 20 type: TYPE_MESSAGE type_name: ".gwtest.v1.Inner"
          json_name: "inner" }
  field { name: "inners" number: 21 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".gwtest.v1.Inner" json_name: "inners" }
  field { name: "labels" number: 22 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".gwtest.v1.Everything.LabelsEntry" json_name: "labels" }
  field { name: "inner_map" number: 23 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".gwtest.v1.Everything.InnerMapEntry" json_name: "innerMap" }
  field { name: "at" number: 24 type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp"
          json_name: "at" }
  field { name: "ttl" number: 25 type: TYPE_MESSAGE type_name: ".google.protobuf.Duration"
          json_name: "ttl" }
  field { name: "mask" number: 26 type: TYPE_MESSAGE type_name: ".google.protobuf.FieldMask"
          json_name: "mask" }
  field { name: "maybe_i32" number: 27 type: TYPE_MESSAGE
          type_name: ".google.protobuf.Int32Value" json_name: "maybeI32" }
  field { name: "maybe_str" number: 28 type: TYPE_MESSAGE
          type_name: ".google.protobuf.StringValue" json_name: "maybeStr" }
  field { name: "maybe_flag" number: 29 type: TYPE_MESSAGE
          type_name: ".google.protobuf.BoolValue" json_name: "maybeFlag" }
  field { name: "maybe_blob" number: 30 type: TYPE_MESSAGE
          type_name: ".google.protobuf.BytesValue" json_name: "maybeBlob" }
  field { name: "maybe_dbl" number: 31 type: TYPE_MESSAGE
          type_name: ".google.protobuf.DoubleValue" json_name: "maybeDbl" }
  field { name: "maybe_u64" number: 32 type: TYPE_MESSAGE
          type_name: ".google.protobuf.UInt64Value" json_name: "maybeU64" }
  field { name: "pick_a" number: 33 type: TYPE_STRING oneof_index: 0 json_name: "pickA" }
  field { name: "pick_b" number: 34 type: TYPE_INT32 oneof_index: 0 json_name: "pickB" }
  field { name: "opt" number: 35 type: TYPE_STRING oneof_index: 1 proto3_optional: true
          json_name: "opt" }
  field { name: "extra" number: 36 type: TYPE_MESSAGE type_name: ".google.protobuf.Struct"
          json_name: "extra" }
  field { name: "stamps" number: 37 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".google.protobuf.Timestamp" json_name: "stamps" }
  nested_type {
    name: "LabelsEntry"
    field { name: "key" number: 1 type: TYPE_STRING json_name: "key" }
    field { name: "value" number: 2 type: TYPE_STRING json_name: "value" }
    options { map_entry: true }
  }
  nested_type {
    name: "InnerMapEntry"
    field { name: "key" number: 1 type: TYPE_STRING json_name: "key" }
    field { name: "value" number: 2 type: TYPE_MESSAGE type_name: ".gwtest.v1.Inner"
            json_name: "value" }
    options { map_entry: true }
  }
  oneof_decl { name: "choice" }
  oneof_decl { name: "_opt" }
}
message_type {
  name: "UpdateRequest"
  field { name: "id" number: 1 type: TYPE_STRING json_name: "id" }
  field { name: "item" number: 2 type: TYPE_MESSAGE type_name: ".gwtest.v1.Everything"
          json_name: "item" }
  field { name: "update_mask" number: 3 type: TYPE_MESSAGE
          type_name: ".google.protobuf.FieldMask" json_name: "updateMask" }
  field { name: "tags" number: 4 type: TYPE_STRING label: LABEL_REPEATED json_name: "tags" }
}
message_type {
  name: "Book"
  field { name: "name" number: 1 type: TYPE_STRING json_name: "name" }
  field { name: "title" number: 2 type: TYPE_STRING json_name: "title" }
}
message_type {
  name: "UpdateBookRequest"
  field { name: "book" number: 1 type: TYPE_MESSAGE type_name: ".gwtest.v1.Book"
          json_name: "book" }
  field { name: "validate_only" number: 2 type: TYPE_BOOL json_name: "validateOnly" }
}
message_type {
  name: "GetRequest"
  field { name: "name" number: 1 type: TYPE_STRING json_name: "name" }
  field { name: "shelf" number: 2 type: TYPE_STRING json_name: "shelf" }
  field { name: "revision" number: 3 type: TYPE_INT32 json_name: "revision" }
  field { name: "sub" number: 4 type: TYPE_MESSAGE type_name: ".gwtest.v1.Inner"
          json_name: "sub" }
}
message_type {
  name: "ListResponse"
  field { name: "books" number: 1 type: TYPE_MESSAGE label: LABEL_REPEATED
          type_name: ".gwtest.v1.Book" json_name: "books" }
  field { name: "next_page_token" number: 2 type: TYPE_STRING json_name: "nextPageToken" }
  field { name: "first" number: 3 type: TYPE_MESSAGE type_name: ".gwtest.v1.Book"
          json_name: "first" }
  field { name: "total" number: 4 type: TYPE_INT32 oneof_index: 0 proto3_optional: true
          json_name: "total" }
  oneof_decl { name: "_total" }
}
"""

SERVICE = """
service {
  name: "TestService"
  method { name: "Echo" input_type: ".gwtest.v1.Everything" output_type: ".gwtest.v1.Everything"
    options { [google.api.http] { post: "/v1/everything/{id}:echo" body: "*" } } }
  method { name: "Query" input_type: ".gwtest.v1.Everything" output_type: ".gwtest.v1.Everything"
    options { [google.api.http] {
      get: "/v1/everything/{id}"
      additional_bindings { get: "/v1/groups/{inner.name}/everything/{id}" }
    } } }
  method { name: "Update" input_type: ".gwtest.v1.UpdateRequest"
    output_type: ".gwtest.v1.Everything"
    options { [google.api.http] { patch: "/v1/everything/{id}" body: "item" } } }
  method { name: "UpdateBook" input_type: ".gwtest.v1.UpdateBookRequest"
    output_type: ".gwtest.v1.Book"
    options { [google.api.http] { patch: "/v1/{book.name=shelves/*/books/*}" body: "book" } } }
  method { name: "GetMessage" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    options { [google.api.http] {
      get: "/v1/{name=messages/*}"
      additional_bindings { get: "/v1/shelves/{shelf}/messages/{name}" }
    } } }
  method { name: "ListBooks" input_type: ".gwtest.v1.GetRequest"
    output_type: ".gwtest.v1.ListResponse"
    options { [google.api.http] {
      get: "/v1/books" response_body: "books"
      additional_bindings { get: "/v1/books:first" response_body: "first" }
      additional_bindings { get: "/v1/books:total" response_body: "total" }
      additional_bindings { get: "/v1/books:token" response_body: "next_page_token" }
      additional_bindings { get: "/v1/books:all" }
    } } }
  method { name: "GetFile" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    options { [google.api.http] { get: "/v1/files/{name=**}" } } }
  method { name: "Undelete" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    options { [google.api.http] { post: "/v1/files/{name=**}:undelete" body: "*" } } }
  method { name: "AnyMethod" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    options { [google.api.http] { custom { kind: "*" path: "/v1/any/{name}" } } } }
  method { name: "HeadBooks" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    options { [google.api.http] { custom { kind: "HEAD" path: "/v1/books" } } } }
  method { name: "Watch" input_type: ".gwtest.v1.GetRequest" output_type: ".gwtest.v1.Book"
    server_streaming: true
    options { [google.api.http] { get: "/v1/books:watch" } } }
  method { name: "Upload" input_type: ".gwtest.v1.Book" output_type: ".gwtest.v1.Book"
    client_streaming: true
    options { [google.api.http] { post: "/v1/books:upload" body: "*" } } }
  method { name: "NoHttp" input_type: ".gwtest.v1.Book" output_type: ".gwtest.v1.Book" }
}
"""


def file_proto(
    body: str, *, name: str = "gwtest/v1/test.proto", package: str = "gwtest.v1"
) -> descriptor_pb2.FileDescriptorProto:
    """A proto3 FileDescriptorProto from text-format ``body`` (messages and services)."""
    text = f'name: "{name}"\npackage: "{package}"\nsyntax: "proto3"\n'
    text += "".join(f'dependency: "{d}"\n' for d in WKT_DEPS) + body
    return text_format.Parse(text, descriptor_pb2.FileDescriptorProto())


def file_set(*files: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet(file=list(files))


@pytest.fixture(scope="session")
def table() -> RouteTable:
    """The route table of gwtest.v1.TestService (dependencies come from the default pool)."""
    return RouteTable.from_file_descriptor_set(file_set(file_proto(MESSAGES + SERVICE)))


@pytest.fixture(scope="session")
def route_by(table: RouteTable) -> Callable[..., Route]:
    def find(method: str, binding: int = 0) -> Route:
        for route in table.routes:
            if route.method == method and route.binding == binding:
                return route
        raise LookupError(method)

    return find


@pytest.fixture(scope="session")
def everything_cls(route_by: Callable[..., Route]) -> type[Any]:
    return message_class(route_by("Echo").request_type)


@pytest.fixture(scope="session")
def make_table() -> Callable[[str], RouteTable]:
    """Build a table from a service snippet over the gwtest messages (for build-time errors)."""

    def build(service_text: str) -> RouteTable:
        return RouteTable.from_file_descriptor_set(file_set(file_proto(MESSAGES + service_text)))

    return build
