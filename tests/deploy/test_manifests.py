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


def test_compose_runs_mtls_with_certificates_from_its_certs_service(tmp_path: Path) -> None:
    from mesh.tls import certificate_identity
    from mesh.tls import main as certs_main

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    certs = services["certs"]
    assert certs["volumes"] == ["certs:/certs"] and "certs" in compose["volumes"]
    # Run the init step's own command against a scratch directory.
    argv = certs["command"]
    assert argv[:4] == ["python", "-m", "mesh.tls", "/certs"]
    args = [str(tmp_path) if a == "/certs" else a for a in argv[3:]]
    owner = args.index("--owner")
    del args[owner : owner + 2]  # chown needs root; the files are what is checked here
    assert certs_main(args) == 0

    def local(path: str) -> Path:
        assert path.startswith("/certs/")
        return tmp_path / path.removeprefix("/certs/")

    for spec in CATALOG:
        svc = services[spec.name]
        env = svc["environment"]
        assert "certs:/certs:ro" in svc["volumes"]
        assert svc["depends_on"]["certs"] == {"condition": "service_completed_successfully"}
        assert env["LILO_TLS_CA"] == env["LILO_TLS_CLIENT_CA"] == "/certs/ca.pem"
        # The runner refuses a certificate naming another service.
        assert certificate_identity(local(env["LILO_TLS_CERT"])) == spec.service_identity
        assert local(env["LILO_TLS_KEY"]).is_file()
    gateway = services["gateway"]["environment"]
    assert certificate_identity(local(gateway["LILO_TLS_CERT"])) == "gateway"
    assert "LILO_TLS_CLIENT_CA" not in gateway  # it serves HTTP, it only calls over mTLS
