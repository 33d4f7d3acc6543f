"""Deployment manifests: generated from the catalog, valid Kubernetes, complete."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.generate import K8S, main
from services.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"


def docs() -> list[dict]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def test_manifests_are_up_to_date() -> None:
    assert main(["--check"]) == 0


@pytest.mark.parametrize("doc", docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_object_validates_strictly(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_service_has_the_full_set() -> None:
    kinds: dict[str, set[str]] = {}
    for doc in docs():
        kinds.setdefault(doc["metadata"]["name"], set()).add(doc["kind"])
    want = {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    }
    for name in [s.name for s in CATALOG] + ["gateway"]:
        assert want <= kinds[name], name


def test_grpc_probes_and_pod_ip_advertised() -> None:
    for doc in docs():
        if doc["kind"] != "Deployment" or doc["metadata"]["name"] == "gateway":
            continue
        [container] = doc["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["grpc"]["service"].startswith("lilo.")
        assert "grpc" in container["livenessProbe"]
        advertised = {e["name"]: e for e in container["env"]}["LILO_ADVERTISE_HOST"]
        assert advertised["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_compose_names_real_redis_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert compose["services"]["redis"]["image"].startswith("redis:")
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert {s.name for s in CATALOG} <= set(compose["services"])
