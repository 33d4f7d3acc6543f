"""Route table: building from descriptors, build-time checks, precedence, 404 vs 405."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from lilo.crisis.v1 import crisis_service_pb2
from lilo.discovery.v1 import discovery_service_pb2

from gateway_rest.errors import (
    AmbiguousRoute,
    InvalidBinding,
    MethodNotAllowed,
    RouteNotFound,
    TemplateSyntaxError,
    TranscodeError,
)
from gateway_rest.routes import RouteTable
from gateway_rest.transcode import message_class

from .conftest import MESSAGES, SERVICE, file_proto, file_set

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "generated" / "descriptor_set.binpb"

MakeTable = Callable[[str], RouteTable]


def _method(name: str, rule: str, request: str = "GetRequest", response: str = "Book") -> str:
    return (
        f'method {{ name: "{name}" input_type: ".gwtest.v1.{request}" '
        f'output_type: ".gwtest.v1.{response}" options {{ [google.api.http] {{ {rule} }} }} }}'
    )


def _service(*methods: str) -> str:
    return 'service { name: "S" ' + " ".join(methods) + " }"


# --- project protos ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_table() -> RouteTable:
    return RouteTable.from_file_descriptor_set(DESCRIPTOR_SET.read_bytes())


def test_project_descriptor_set_routes_crisis_service(project_table: RouteTable) -> None:
    m = project_table.match("GET", "/v1/alerts/a-1")
    assert (m.route.rpc, dict(m.variables)) == (
        "lilo.crisis.v1.CrisisService.GetAlert",
        {"alert_id": "a-1"},
    )
    assert m.route.grpc_path == "/lilo.crisis.v1.CrisisService/GetAlert"
    assert project_table.match("GET", "/v1/alerts").route.method == "ListAlerts"
    assert project_table.match("POST", "/v1/alerts").route.method == "CreateAlert"
    ack = project_table.match("POST", "/v1/alerts/a-1:acknowledge")
    assert (ack.route.method, ack.route.body, dict(ack.variables)) == (
        "AcknowledgeAlert",
        "*",
        {"alert_id": "a-1"},
    )
    watch = project_table.match("GET", "/v1/alerts:watch").route
    assert (watch.method, watch.server_streaming, watch.client_streaming) == (
        "WatchAlerts",
        True,
        False,
    )


def test_project_404_and_405(project_table: RouteTable) -> None:
    with pytest.raises(RouteNotFound):
        project_table.match("GET", "/v1/nothing-here")
    with pytest.raises(RouteNotFound):
        project_table.match("POST", "/v1/alerts:unknownVerb")
    with pytest.raises(MethodNotAllowed) as info:
        project_table.match("DELETE", "/v1/alerts")
    assert info.value.allowed == ("GET", "POST")
    # A registered verb is not swallowed into GetAlert's {alert_id} for another method.
    with pytest.raises(MethodNotAllowed) as verb_info:
        project_table.match("GET", "/v1/alerts/a-1:acknowledge")
    assert verb_info.value.allowed == ("POST",)


def test_from_services_uses_generated_classes() -> None:
    table = RouteTable.from_services(
        [
            crisis_service_pb2.DESCRIPTOR.services_by_name["CrisisService"],
            discovery_service_pb2.DESCRIPTOR.services_by_name["DiscoveryService"],
        ]
    )
    m = table.match("DELETE", "/v1/services/lilo.crisis.v1.CrisisService/instances/i-1")
    assert m.route.method == "Deregister"
    assert dict(m.variables) == {"service": "lilo.crisis.v1.CrisisService", "instance_id": "i-1"}
    assert message_class(m.route.request_type) is discovery_service_pb2.DeregisterRequest
    # Register and Heartbeat have no google.api.http option and get no route.
    assert {r.method for r in table.routes}.isdisjoint({"Register", "Heartbeat"})
    assert len([r for r in table.routes if r.service.endswith("CrisisService")]) == 8


def test_from_pool_and_pool_reuse() -> None:
    pool = descriptor_pool.DescriptorPool()
    fds = file_set(file_proto(MESSAGES + SERVICE))
    first = RouteTable.from_file_descriptor_set(fds, pool=pool)
    # The files are in the pool now: loading again reuses them instead of failing.
    second = RouteTable.from_file_descriptor_set(fds, pool=pool)
    assert [r.pattern for r in first.routes] == [r.pattern for r in second.routes]
    third = RouteTable.from_pool(pool, ["gwtest.v1.TestService"])
    assert len(third.routes) == len(first.routes)


# --- test service --------------------------------------------------------------------------------


def test_one_route_per_binding_with_streaming_flags(table: RouteTable) -> None:
    by_rpc: dict[str, list[str]] = {}
    for r in table.routes:
        by_rpc.setdefault(r.method, []).append(f"{r.http_method} {r.pattern}")
    assert by_rpc["Query"] == [
        "GET /v1/everything/{id}",
        "GET /v1/groups/{inner.name}/everything/{id}",
    ]
    assert len(by_rpc["ListBooks"]) == 5
    assert "NoHttp" not in by_rpc
    upload = next(r for r in table.routes if r.method == "Upload")
    assert (upload.client_streaming, upload.server_streaming) == (True, False)


def test_additional_binding_matches_with_nested_variable(table: RouteTable) -> None:
    m = table.match("GET", "/v1/groups/g1/everything/e1")
    assert (m.route.method, m.route.binding) == ("Query", 1)
    assert dict(m.variables) == {"inner.name": "g1", "id": "e1"}
    assert table.match("GET", "/v1/everything/e1").route.binding == 0


def test_more_literals_win(table: RouteTable) -> None:
    # "/v1/shelves/{shelf}/messages/{name}" (3 literals) vs "/v1/{name=messages/*}" do not
    # overlap; "/v1/books:watch" (verb) vs "/v1/books" do not either: check each is reachable.
    m = table.match("GET", "/v1/shelves/s1/messages/m1")
    assert (m.route.binding, dict(m.variables)) == (1, {"shelf": "s1", "name": "m1"})
    assert dict(table.match("GET", "/v1/messages/m1").variables) == {"name": "messages/m1"}
    assert table.match("GET", "/v1/books:watch").route.method == "Watch"
    assert table.match("GET", "/v1/books").route.method == "ListBooks"


def test_precedence_between_overlapping_templates(make_table: MakeTable) -> None:
    table = make_table(
        _service(
            _method("Wild", 'get: "/v2/{name}/{shelf}"'),
            _method("Left", 'get: "/v2/x/{name}"'),
            _method("Right", 'get: "/v2/{name}/y"'),
            _method("Exact", 'get: "/v2/x/y"'),
            _method("Rest", 'get: "/v2/{name=**}"'),
            _method("Verb", 'get: "/v2/{name}/{shelf}:go"'),
        )
    )
    assert table.match("GET", "/v2/x/y").route.method == "Exact"
    assert table.match("GET", "/v2/x/z").route.method == "Left"
    assert table.match("GET", "/v2/z/y").route.method == "Right"  # 2 literals beat 1
    assert table.match("GET", "/v2/a/b").route.method == "Wild"
    assert table.match("GET", "/v2/a/b/c").route.method == "Rest"
    assert table.match("GET", "/v2").route.method == "Rest"
    assert table.match("GET", "/v2/x/y:go").route.method == "Verb"
    # An unregistered verb is ordinary segment text.
    stop = table.match("GET", "/v2/x/y:stop")
    assert (stop.route.method, dict(stop.variables)) == ("Left", {"name": "y:stop"})


def test_multi_segment_and_verb_routes(table: RouteTable) -> None:
    m = table.match("GET", "/v1/files/a/b%2Fc/d.txt")
    assert (m.route.method, dict(m.variables)) == ("GetFile", {"name": "a/b%2Fc/d.txt"})
    u = table.match("POST", "/v1/files/a/b:undelete")
    assert (u.route.method, dict(u.variables)) == ("Undelete", {"name": "a/b"})
    with pytest.raises(MethodNotAllowed) as info:
        table.match("GET", "/v1/files/a/b:undelete")
    assert info.value.allowed == ("POST",)


def test_custom_methods(table: RouteTable) -> None:
    for method in ("GET", "POST", "OPTIONS", "PURGE"):
        m = table.match(method, "/v1/any/x")
        assert (m.route.method, m.route.http_method) == ("AnyMethod", "*")
    assert table.match("head", "/v1/books").route.method == "HeadBooks"
    with pytest.raises(MethodNotAllowed) as info:
        table.match("PUT", "/v1/books")
    assert info.value.allowed == ("GET", "HEAD")
    assert "PUT" in str(info.value)


def test_named_method_beats_star_at_equal_precedence(make_table: MakeTable) -> None:
    table = make_table(
        _service(
            _method("Any", 'custom { kind: "*" path: "/v2/{name}" }'),
            _method("Get", 'get: "/v2/{name}"'),
        )
    )
    assert table.match("GET", "/v2/a").route.method == "Get"
    assert table.match("POST", "/v2/a").route.method == "Any"


def test_404_vs_405(table: RouteTable) -> None:
    with pytest.raises(RouteNotFound) as nf:
        table.match("GET", "/v1/everything")
    assert nf.value.path == "/v1/everything"
    with pytest.raises(MethodNotAllowed) as na:
        table.match("DELETE", "/v1/everything/e1")
    assert na.value.allowed == ("GET", "PATCH")
    with pytest.raises(RouteNotFound):
        table.match("GET", "/v1/everything/e1/")


def test_bad_escape_in_chosen_route_is_a_transcode_error(table: RouteTable) -> None:
    with pytest.raises(TranscodeError) as info:
        table.match("GET", "/v1/everything/%FF")
    assert info.value.field == "id"


# --- build-time checks ----------------------------------------------------------------------------


def test_ambiguous_routes_name_both_rpcs(make_table: MakeTable) -> None:
    with pytest.raises(AmbiguousRoute) as info:
        make_table(
            _service(
                _method("First", 'get: "/v2/items/{name}"'),
                _method("Second", 'get: "/v2/items/{shelf=*}"'),
            )
        )
    text = str(info.value)
    assert "gwtest.v1.S.First" in text and "gwtest.v1.S.Second" in text


def test_additional_binding_duplicating_rule_is_ambiguous(make_table: MakeTable) -> None:
    with pytest.raises(AmbiguousRoute, match=r"S\.Dup.*S\.Dup"):
        make_table(_service(_method("Dup", 'get: "/v2/a" additional_bindings { get: "/v2/a" }')))


def test_same_shape_different_method_or_verb_is_fine(make_table: MakeTable) -> None:
    table = make_table(
        _service(
            _method("Get", 'get: "/v2/items/{name}"'),
            _method("Del", 'delete: "/v2/items/{name}"'),
            _method("Go", 'get: "/v2/items/{name}:go"'),
        )
    )
    assert table.match("DELETE", "/v2/items/x").route.method == "Del"
    assert table.match("GET", "/v2/items/x:go").route.method == "Go"


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ('get: "/v2/{nope}"', "names no field"),
        ('get: "/v2/{sub.nope}"', "names no field"),
        ('get: "/v2/{sub}"', "no string form"),
        ('get: "/v2/{name.x}"', "names no field"),
        ('get: "/v2/x" body: "nope"', "body 'nope'"),
        ('get: "/v2/x" response_body: "nope"', "response_body 'nope'"),
        (
            'get: "/v2/x" additional_bindings { get: "/v2/y" '
            'additional_bindings { get: "/v2/z" } }',
            "must not contain",
        ),
        ('body: "*"', "sets no pattern"),
        ('custom { kind: "" path: "/v2/x" }', "empty kind"),
    ],
)
def test_invalid_bindings(make_table: MakeTable, rule: str, reason: str) -> None:
    with pytest.raises(InvalidBinding) as info:
        make_table(_service(_method("Bad", rule)))
    assert reason in str(info.value)
    assert info.value.rpc == "gwtest.v1.S.Bad"


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ('get: "/v2/{tags}"', "repeated or map"),
        ('get: "/v2/{labels}"', "repeated or map"),
        ('get: "/v2/{inners.name}"', "names no field"),
        ('get: "/v2/{inner}"', "no string form"),
        ('get: "/v2/{at}/{maybe_i32}/{mask}"', None),  # string-form WKTs are allowed
    ],
)
def test_path_variable_field_kinds(make_table: MakeTable, rule: str, reason: str | None) -> None:
    text = _service(_method("M", rule, request="Everything", response="Everything"))
    if reason is None:
        assert len(make_table(text).routes) == 1
        return
    with pytest.raises(InvalidBinding, match=reason):
        make_table(text)


def test_template_syntax_error_names_rpc(make_table: MakeTable) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        make_table(_service(_method("Broken", 'get: "/v2/{name"')))
    assert "gwtest.v1.S.Broken" in str(info.value)
    assert info.value.template == "/v2/{name"


def test_missing_dependency_is_reported() -> None:
    proto = file_proto(MESSAGES)
    proto.dependency.append("not/there.proto")
    with pytest.raises(InvalidBinding, match=r"not/there\.proto"):
        RouteTable.from_file_descriptor_set(file_set(proto))
