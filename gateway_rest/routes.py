"""Route table built from ``google.api.http`` annotations, and request routing.

Every method with a ``google.api.http`` option yields one ``Route`` for the rule and one per
``additional_bindings`` entry (which may not nest). Methods without the option get no route.

Checks at build time (the gateway must refuse to start on any of them):

* templates parse (``TemplateSyntaxError``, the message names the rpc);
* template variables name existing, singular, non-map fields through singular message fields,
  ending in a scalar, enum or string-form well-known type (``InvalidBinding``);
* ``body`` is empty, ``"*"`` or a top-level request field; ``response_body`` is empty or a
  top-level response field (``InvalidBinding``);
* no two bindings have the same HTTP method and the same template shape (variable names do
  not count): ``AmbiguousRoute`` names both rpcs.

Routing (``RouteTable.match``): among the templates matching the path the winner is decided by
``PathTemplate.precedence`` (matched verb first, then more literal segments, then the first
differing position: literal > ``*`` > end > ``**``). Once a template with a verb matches the
path, templates without a verb are no longer candidates, so ``GET /v1/a/x:cancel`` against
``POST /v1/a/{id}:cancel`` and ``GET /v1/a/{id}`` is a 405, not ``GetA(id="x:cancel")``.
Bindings with custom method ``"*"`` match every method, below a binding naming the method at
equal precedence. No template matching
-> ``RouteNotFound`` (404); templates match but none for this method -> ``MethodNotAllowed``
(405) listing every method some matching template accepts. Only templates that can match
the request's segment count and verb are tried (an index built on first use per
(verb, count)), in precedence order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from google.api import annotations_pb2, http_pb2
from google.protobuf import (  # noqa: F401 - the WKT imports fill the default pool
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)

from gateway_rest.errors import (
    AmbiguousRoute,
    InvalidBinding,
    MethodNotAllowed,
    RouteNotFound,
    TemplateSyntaxError,
)
from gateway_rest.httprule import (
    PathTemplate,
    SegmentKind,
    parse_template,
    split_request_path,
)
from gateway_rest.transcode import is_map, is_string_settable, resolve_field_path

__all__ = ["Route", "RouteMatch", "RouteTable", "routes_for_service"]

_PATTERNS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one rpc.

    ``http_method`` is upper case, or ``"*"`` for a custom binding that accepts any method.
    ``body`` is ``""`` (no body), ``"*"`` or a top-level request field name;
    ``response_body`` is ``""`` (whole message) or a top-level response field name.
    ``binding`` is 0 for the rule itself and n for its n-th additional binding.
    """

    http_method: str
    template: PathTemplate
    service: str
    method: str
    body: str
    response_body: str
    client_streaming: bool
    server_streaming: bool
    request_type: Descriptor = field(compare=False, repr=False)
    response_type: Descriptor = field(compare=False, repr=False)
    binding: int = 0

    @property
    def pattern(self) -> str:
        """The template as written in the proto."""
        return self.template.source

    @property
    def rpc(self) -> str:
        """``package.Service.Method``, for messages and logs."""
        return f"{self.service}.{self.method}"

    # Read on every request: computed once (a frozen dataclass still has a __dict__ that
    # cached_property fills; equality and hashing ignore it).
    @cached_property
    def grpc_path(self) -> str:
        """The gRPC method path, ``/package.Service/Method``."""
        return f"/{self.service}/{self.method}"

    @cached_property
    def template_fields(self) -> frozenset[str]:
        """Field paths (original names, dotted) bound by the path template."""
        return frozenset(v.field_path for v in self.template.variables)

    def describe(self) -> str:
        return f"rpc {self.rpc} ({self.http_method} {self.pattern})"


@dataclass(frozen=True)
class RouteMatch:
    """The chosen route and its percent-decoded path variables by field path."""

    route: Route
    variables: Mapping[str, str]


def _http_rule(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        # Options parsed before google.api.annotations was imported keep the rule as an
        # unknown field; a round trip through the wire format recovers it.
        options = descriptor_pb2.MethodOptions.FromString(options.SerializeToString())
        if not options.HasExtension(annotations_pb2.http):
            return None
    return options.Extensions[annotations_pb2.http]


def _method_and_path(rule: http_pb2.HttpRule, rpc: str) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise InvalidBinding(
            rpc, "http rule sets no pattern (get, put, post, delete, patch, custom)"
        )
    if kind == "custom":
        if not rule.custom.kind:
            raise InvalidBinding(rpc, "custom http pattern has an empty kind")
        verb = rule.custom.kind
        return ("*" if verb == "*" else verb.upper()), rule.custom.path
    assert kind in _PATTERNS
    return kind.upper(), str(getattr(rule, kind))


def _check_variable(request: Descriptor, path: str, rpc: str) -> None:
    chain = resolve_field_path(request, path)
    if chain is None:
        raise InvalidBinding(rpc, f"path variable {{{path}}} names no field of {request.full_name}")
    for fd in chain[:-1]:
        if fd.type != FieldDescriptor.TYPE_MESSAGE or fd.is_repeated:
            raise InvalidBinding(rpc, f"path variable {{{path}}}: {fd.name} is not a message field")
    leaf = chain[-1]
    if leaf.is_repeated or is_map(leaf):
        raise InvalidBinding(rpc, f"path variable {{{path}}} names a repeated or map field")
    if not is_string_settable(leaf):
        raise InvalidBinding(
            rpc, f"path variable {{{path}}} names a message field that has no string form"
        )


def _build(method: MethodDescriptor, rule: http_pb2.HttpRule, binding: int, service: str) -> Route:
    rpc = f"{service}.{method.name}"
    if binding and rule.additional_bindings:
        raise InvalidBinding(rpc, "additional_bindings must not contain additional_bindings")
    http_method, pattern = _method_and_path(rule, rpc)
    try:
        template = parse_template(pattern)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxError(exc.template, exc.position, f"{exc.reason} (rpc {rpc})") from None
    request, response = method.input_type, method.output_type
    for var in template.variables:
        _check_variable(request, var.field_path, rpc)
    if rule.body not in ("", "*") and rule.body not in request.fields_by_name:
        raise InvalidBinding(
            rpc, f"body {rule.body!r} is not a top-level field of {request.full_name}"
        )
    if rule.response_body and rule.response_body not in response.fields_by_name:
        raise InvalidBinding(
            rpc,
            f"response_body {rule.response_body!r} is not a top-level field of "
            f"{response.full_name}",
        )
    return Route(
        http_method=http_method,
        template=template,
        service=service,
        method=method.name,
        body=rule.body,
        response_body=rule.response_body,
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        request_type=request,
        response_type=response,
        binding=binding,
    )


def routes_for_service(service: ServiceDescriptor) -> list[Route]:
    """Every HTTP binding of one service's methods, in declaration order."""
    routes: list[Route] = []
    for method in service.methods:
        rule = _http_rule(method)
        if rule is None:
            continue
        routes.append(_build(method, rule, 0, service.full_name))
        for i, extra in enumerate(rule.additional_bindings, start=1):
            routes.append(_build(method, extra, i, service.full_name))
    return routes


def _pool_from_set(
    files: descriptor_pb2.FileDescriptorSet, pool: descriptor_pool.DescriptorPool
) -> None:
    by_name = {f.name: f for f in files.file}
    done: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            raise InvalidBinding(name, "import cycle in the descriptor set")
        if name in done:
            return
        done.add(name)
        try:
            pool.FindFileByName(name)
            return  # already there (for example the default pool with generated code)
        except KeyError:
            pass
        proto = by_name.get(name)
        if proto is None:
            # A dependency left out of the set: take it from the default pool, which holds
            # every well-known type (imported above) and google/api/*.
            proto = descriptor_pb2.FileDescriptorProto()
            try:
                descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
            except KeyError:
                raise InvalidBinding(name, "dependency missing from the descriptor set") from None
        for dep in proto.dependency:
            add(dep, (*chain, name))
        pool.Add(proto)

    for name in by_name:
        add(name, ())


_INDEXED_SEGMENTS = 64
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


def _may_match(template: PathTemplate, verb: str | None, count: int) -> bool:
    if template.verb is not None and template.verb != verb:
        return False
    if template.has_multi:
        return count >= len(template.segments) - 1
    return count == len(template.segments)


class RouteTable:
    """An immutable set of routes, checked for ambiguity, that routes requests."""

    def __init__(self, routes: Iterable[Route]) -> None:
        ordered = list(routes)
        seen: dict[tuple[object, ...], Route] = {}
        for route in ordered:
            key = (route.http_method, route.template.shape)
            other = seen.get(key)
            if other is not None:
                raise AmbiguousRoute(
                    other.describe(),
                    route.describe(),
                    f"{route.http_method} on the same path shape",
                )
            seen[key] = route
        self._routes = tuple(ordered)
        # Most specific first; a named method before "*" at equal precedence.
        self._by_precedence = tuple(
            sorted(
                ordered,
                key=lambda r: (r.template.precedence, r.http_method != "*"),
                reverse=True,
            )
        )
        self._verbs = frozenset(r.template.verb for r in ordered if r.template.verb is not None)
        # Templates made only of literals, by (verb, normalised segments). Such a template
        # has the most literals any template matching its path can have, and the end of
        # template outranks "**", so when one accepts the method it is the winner.
        exact: dict[tuple[str | None, tuple[str, ...]], list[Route]] = {}
        for route in self._by_precedence:
            segments = route.template.segments
            if all(seg.kind is SegmentKind.LITERAL for seg in segments):
                literal_key = (route.template.verb, tuple(seg.literal for seg in segments))
                exact.setdefault(literal_key, []).append(route)
        self._exact = {key: tuple(routes) for key, routes in exact.items()}
        self._candidates: dict[tuple[str | None, int], tuple[Route, ...]] = {}
        self._fixed = self._fixed_paths()

    def _fixed_paths(self) -> dict[tuple[str, str | bytes], RouteMatch]:
        """``match`` results for the literal-only templates, by (method, path as written).

        Most REST calls name such a path verbatim (``POST /v1/echo``); looking the raw path
        up skips splitting and normalising it. Each entry is what ``match`` itself returns
        for that input (computed here by the general path), so the shortcut cannot change a
        result; other spellings of the same path (escapes, a lower-case method) still take
        the general path, and the table's size is fixed by the routes, not by clients.
        """
        fixed: dict[tuple[str, str | bytes], RouteMatch] = {}
        for route in self._routes:
            if route.http_method == "*" or route.template.variables:
                continue
            path = route.template.source
            try:
                found = self._match(route.http_method, path)
            except (RouteNotFound, MethodNotAllowed):  # pragma: no cover  (a literal matches)
                continue
            if found.route is route:
                fixed[(route.http_method, path)] = found
                fixed[(route.http_method, path.encode("utf-8"))] = found
        return fixed

    def _candidates_for(self, verb: str | None, count: int) -> tuple[Route, ...]:
        """Routes (in precedence order) whose template can match a path of ``count``
        segments whose verb is ``verb`` (None: no registered verb). Any other template's
        ``capture`` would fail on the verb or the length, so skipping them changes nothing."""
        key = (verb if verb in self._verbs else None, count)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(r for r in self._by_precedence if _may_match(r.template, key[0], count))
            if count <= _INDEXED_SEGMENTS:  # bounded: a client cannot grow it without limit
                self._candidates[key] = found
        return found

    @property
    def routes(self) -> tuple[Route, ...]:
        """All routes in build order."""
        return self._routes

    @classmethod
    def from_services(cls, services: Iterable[ServiceDescriptor]) -> RouteTable:
        """Routes of the given services (for example ``pb2.DESCRIPTOR.services_by_name[...]``)."""
        return cls(r for s in services for r in routes_for_service(s))

    @classmethod
    def from_pool(
        cls, pool: descriptor_pool.DescriptorPool, service_names: Iterable[str]
    ) -> RouteTable:
        """Routes of services found by full name in a descriptor pool."""
        return cls.from_services(pool.FindServiceByName(n) for n in service_names)

    @classmethod
    def from_file_descriptor_set(
        cls,
        files: descriptor_pb2.FileDescriptorSet | bytes,
        *,
        pool: descriptor_pool.DescriptorPool | None = None,
    ) -> RouteTable:
        """Routes of every service in a FileDescriptorSet (message or serialized bytes).

        Files are loaded into ``pool`` (a fresh pool by default; files it already has are
        reused), dependencies first; dependencies missing from the set are taken from the
        default pool. Request messages are then instances of that pool's classes.
        """
        if isinstance(files, bytes):
            files = descriptor_pb2.FileDescriptorSet.FromString(files)
        target = pool if pool is not None else descriptor_pool.DescriptorPool()
        _pool_from_set(files, target)
        names = [
            f"{f.package}.{s.name}" if f.package else s.name for f in files.file for s in f.service
        ]
        return cls.from_pool(target, names)

    def match(self, http_method: str, path: str | bytes) -> RouteMatch:
        """Route a request. ``path`` is the raw, still percent-encoded path (ASGI ``raw_path``).

        Raises ``RouteNotFound``, ``MethodNotAllowed``, or ``TranscodeError`` when the chosen
        route's variables are not decodable (bad escape, not UTF-8).
        """
        found = self._fixed.get((http_method, path))
        if found is not None:
            return found
        return self._match(http_method, path)

    def _match(self, http_method: str, path: str | bytes) -> RouteMatch:
        method = http_method.upper()
        request = split_request_path(path)
        key: tuple[str | None, tuple[str, ...]]
        if request.verb in self._verbs:
            key = (request.verb, request.verb_normalised)
        else:  # no verb, or one no template names: ":" is plain text
            key = (None, request.normalised)
        for route in self._exact.get(key, ()):
            if route.http_method in (method, "*"):
                return RouteMatch(route, _NO_VARIABLES)
        allowed: set[str] = set()
        verb_matched = False
        for route in self._candidates_for(request.verb, len(request.segments)):
            if verb_matched and route.template.verb is None:
                # The path's ":verb" named a registered verb: do not let a verb-less
                # template swallow it into a variable for another method.
                break
            captured = route.template.capture(request)
            if captured is None:
                continue
            verb_matched = route.template.verb is not None
            if route.http_method in (method, "*"):
                return RouteMatch(route, MappingProxyType(route.template.decode(captured)))
            allowed.add(route.http_method)
        if allowed:
            raise MethodNotAllowed(method, request.raw, tuple(sorted(allowed)))
        raise RouteNotFound(method, request.raw)
