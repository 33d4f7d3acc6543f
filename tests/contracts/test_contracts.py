"""The contracts are the product's spine: these tests keep them whole and honoured."""

from __future__ import annotations

import filecmp
import importlib
import pkgutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from lilo.options.v1 import options_pb2

import services
from mesh.identity import rbac
from mesh.policy import policy_for, service_descriptor
from mesh.server import describe_servicer

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "generated" / "descriptor_set.binpb"

#: Services whose servicer is not built yet. It only shrinks, and is empty
#: when the service issues are done.
NOT_YET_SERVED: frozenset[str] = frozenset()


def our_files() -> list[descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    return [f for f in fds.file if f.name.startswith("lilo/")]


def all_services() -> list[str]:
    return sorted(f"{f.package}.{s.name}" for f in our_files() for s in f.service)


def all_methods() -> list[tuple[str, str]]:
    return [(svc, m.name) for svc in all_services() for m in service_descriptor(svc).methods]


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "codegen"), str(tmp_path)], check=True, capture_output=True
    )
    compare = filecmp.dircmp(ROOT / "generated" / "lilo", tmp_path / "lilo")
    stale: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        stale.extend(prefix + n for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(compare, "")
    assert not stale, f"generated/ is stale, run scripts/codegen: {stale}"
    assert (ROOT / "generated" / "descriptor_set.binpb").read_bytes() == (
        tmp_path / "descriptor_set.binpb"
    ).read_bytes()


def test_every_generated_module_imports() -> None:
    import lilo

    names = [m.name for m in pkgutil.walk_packages(lilo.__path__, "lilo.")]
    assert len([n for n in names if n.endswith("_pb2")]) == len(our_files())
    for name in names:
        importlib.import_module(name)


def test_descriptor_set_loads_into_a_fresh_pool() -> None:
    pool = descriptor_pool.DescriptorPool()
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    for file in fds.file:
        pool.Add(file)
    assert pool.FindServiceByName("lilo.crisis.v1.CrisisService").methods_by_name["WatchAlerts"]


@pytest.mark.parametrize(("service", "method"), all_methods())
def test_every_rpc_declares_a_known_permission(service: str, method: str) -> None:
    policy = policy_for(service_descriptor(service).methods_by_name[method])
    assert policy.has_access_rule, f"{service}/{method} has no (lilo.options.v1.access) rule"
    if policy.public:
        return
    assert policy.resource in rbac.RESOURCES, f"unknown resource {policy.resource!r}"
    assert policy.action in rbac.ACTIONS, f"unknown action {policy.action!r}"
    holders = [
        role
        for role, perms in rbac.ROLE_PERMISSIONS.items()
        if any(p.resource == policy.resource and p.action == policy.action for p in perms)
    ]
    trusted = [
        s
        for s, allowed in rbac.DEFAULT_TRUSTED_CALLERS.items()
        if (policy.resource, policy.action) in allowed
    ]
    assert holders or trusted, f"no role may call {service}/{method}"


def http_rules() -> list[tuple[str, str, str]]:
    out = []
    for svc, name in all_methods():
        opts = service_descriptor(svc).methods_by_name[name].GetOptions()
        if not opts.HasExtension(annotations_pb2.http):
            continue
        rules = [opts.Extensions[annotations_pb2.http]]
        rules += list(rules[0].additional_bindings)
        for rule in rules:
            verb = rule.WhichOneof("pattern")
            path = getattr(rule, verb) if verb != "custom" else rule.custom.path
            out.append((f"{svc}/{name}", verb.upper(), path))
    return out


def test_http_routes_are_unique() -> None:
    rules = http_rules()
    assert len(rules) > 40
    counts = Counter((verb, path) for _, verb, path in rules)
    assert [k for k, n in counts.items() if n > 1] == []


def test_streams_have_http_bindings() -> None:
    bound = {rpc for rpc, _, _ in http_rules()}
    for svc, name in all_methods():
        m = service_descriptor(svc).methods_by_name[name]
        if m.server_streaming and not svc.startswith("lilo.discovery"):
            assert f"{svc}/{name}" in bound, f"stream {svc}/{name} has no REST binding"


def test_every_service_has_a_unique_default_port() -> None:
    ports = {}
    for svc in all_services():
        opts = service_descriptor(svc).GetOptions()
        assert opts.HasExtension(options_pb2.service), f"{svc} has no default_port"
        ports[svc] = opts.Extensions[options_pb2.service].default_port
    assert len(set(ports.values())) == len(ports), ports


def served_services() -> set[str]:
    found = set()
    for info in pkgutil.iter_modules(services.__path__, "services."):
        try:
            module = importlib.import_module(f"{info.name}.servicer")
        except ModuleNotFoundError:
            continue
        for obj in vars(module).values():
            # Servicers defined in the package, including ones re-exported by servicer.py.
            if isinstance(obj, type) and obj.__module__.startswith(info.name + "."):
                try:
                    found.add(describe_servicer(obj.__new__(obj))[0])
                except Exception:
                    continue
    return found


def test_every_service_is_served() -> None:
    missing = set(all_services()) - served_services() - NOT_YET_SERVED
    assert not missing, f"services without a servicer in services/: {sorted(missing)}"


def test_not_yet_served_list_only_shrinks() -> None:
    already = served_services() & NOT_YET_SERVED
    assert not already, f"served now, remove from NOT_YET_SERVED: {sorted(already)}"
