"""Deployment manifests: generated from the catalog, valid Kubernetes, complete."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc import aio

from deploy.generate import GRPC_SERVICE, K8S, main, tls_secret_name
from mesh.client import ClientTls
from mesh.config import ServerConfig, TlsConfig
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from mesh.tls import ensure_certificates
from services.catalog import CATALOG
from services.echo.servicer import EchoServicer
from tests.mesh.runnerkit import echo_over

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"
Obj = dict[str, Any]  # one Kubernetes object, as parsed
SPECS = {spec.name: spec for spec in CATALOG}


def docs() -> list[Obj]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def test_manifests_are_up_to_date() -> None:
    assert main(["--check"]) == 0


@pytest.mark.parametrize("doc", docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_object_validates_strictly(doc: Obj) -> None:
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


def deployments(objects: list[Obj]) -> dict[str, Obj]:
    """Each Deployment's single container, by workload name."""
    out = {}
    for doc in objects:
        if doc["kind"] == "Deployment":
            [container] = doc["spec"]["template"]["spec"]["containers"]
            out[doc["metadata"]["name"]] = {"container": container, "pod": doc["spec"]["template"]}
    return out


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container["env"]}


def identity_of(workload: str) -> str:
    return "gateway" if workload == "gateway" else SPECS[workload].service_identity


def test_every_grpc_workload_mounts_its_identitys_tls_secret_with_the_compose_env() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    workloads = deployments(docs())
    assert set(workloads) == set(SPECS) | {"gateway"}
    for name, found in workloads.items():
        container, pod = found["container"], found["pod"]["spec"]
        [volume] = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == tls_secret_name(identity_of(name))
        # Owner and group read only; the group is the pod's fsGroup, the service's user.
        assert volume["secret"]["defaultMode"] == 0o440
        assert pod["securityContext"]["fsGroup"] == container["securityContext"]["runAsUser"]
        [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True
        env = {k: e.get("value") for k, e in env_of(container).items()}
        tls = {k: v for k, v in env.items() if k.startswith("LILO_TLS_")}
        # The same variables Compose sets, pointing at the Secret's keys.
        assert set(tls) == set(
            k for k in compose[name]["environment"] if k.startswith("LILO_TLS_")
        ), name
        assert tls["LILO_TLS_CERT"] == f"{mount['mountPath']}/tls.crt"
        assert tls["LILO_TLS_KEY"] == f"{mount['mountPath']}/tls.key"
        assert tls["LILO_TLS_CA"] == f"{mount['mountPath']}/ca.crt"
        if name == "gateway":
            assert "LILO_TLS_CLIENT_CA" not in tls  # serves HTTP, only calls over mTLS
        else:
            assert tls["LILO_TLS_CLIENT_CA"] == tls["LILO_TLS_CA"]  # callers need a cert
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_probes_check_grpc_health_over_mtls_with_the_pods_own_certificate() -> None:
    for name, found in deployments(docs()).items():
        if name == "gateway":
            continue
        container = found["container"]
        ready, live = container["readinessProbe"], container["livenessProbe"]
        # kubelet's native gRPC probe speaks plaintext, which an mTLS server refuses.
        assert "grpc" not in ready and "grpc" not in live
        assert ready["exec"]["command"] == [
            "python",
            "-m",
            "deploy.healthprobe",
            "--service",
            GRPC_SERVICE[name],
        ]
        assert live["exec"]["command"] == ["python", "-m", "deploy.healthprobe"]
        assert ready["timeoutSeconds"] >= 2 and live["timeoutSeconds"] >= 2
        assert env_of(container)["LILO_PORT"]["value"] == str(SPECS[name].port)
    # The probe is in the image, next to the code it runs with.
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "deploy/healthprobe.py" in dockerfile and "deploy/__init__.py" in dockerfile


def run_advertise(container: Obj, pod_ip: str | None) -> subprocess.CompletedProcess[str]:
    """The container's own command, with the service swapped for printing what it gets."""
    command = container["command"]
    assert command[:2] == ["sh", "-c"] and command[4:] == ["python", "-m", command[-1]]
    env = {
        "PATH": os.environ["PATH"],
        "LILO_PEER_DOMAIN": env_of(container)["LILO_PEER_DOMAIN"]["value"],
    }
    if pod_ip is not None:
        env["LILO_POD_IP"] = pod_ip
    return subprocess.run(
        [*command[:4], "printenv", "LILO_ADVERTISE_HOST"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_pods_advertise_the_dns_name_of_their_headless_peers_endpoint() -> None:
    objects = docs()
    services = {d["metadata"]["name"]: d for d in objects if d["kind"] == "Service"}
    for name, found in deployments(objects).items():
        if name == "gateway":
            continue
        container = found["container"]
        env = env_of(container)
        assert env["LILO_POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert "LILO_ADVERTISE_HOST" not in env  # derived at start, below
        assert container["command"][-3:] == ["python", "-m", f"services.{name}"]
        peers = services[f"{name}-peers"]["spec"]
        assert peers["clusterIP"] == "None" and peers["publishNotReadyAddresses"] is True
        assert peers["selector"] == {"app.kubernetes.io/name": name}
        # CoreDNS names an endpoint without a hostname by its dashed IP.
        domain = f"{name}-peers.lilo.svc.cluster.local"
        got = run_advertise(container, "10.1.2.3")
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == f"10-1-2-3.{domain}"
        assert run_advertise(container, "fd00::1").stdout.strip() == f"fd00--1.{domain}"
        assert run_advertise(container, None).returncode != 0  # never advertise garbage


KEY_MATERIAL = re.compile(r"PRIVATE KEY|BEGIN CERTIFICATE|tls\.key:|LS0tLS1CRUdJTi", re.I)


def test_no_manifest_contains_key_material() -> None:
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json", ".pem", ".key", ""}:
            assert not KEY_MATERIAL.search(path.read_text()), path
    for doc in docs():
        assert doc.get("type") != "kubernetes.io/tls", doc["metadata"]["name"]
        if doc["kind"] == "Secret":
            assert set(doc.get("stringData", {})) == {"database-url", "audit-hmac-key"}
            assert "data" not in doc


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


def run_secrets_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "k8s-secrets"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/k8s-secrets run once; each Secret's keys written as files under its name."""
    tmp = tmp_path_factory.mktemp("k8s-secrets")
    run_secrets_script(tmp, "-o", "secrets.yaml", "--dir", "ca")
    for doc in yaml.safe_load_all((tmp / "secrets.yaml").read_text()):
        folder = tmp / "mounted" / doc["metadata"]["name"]
        folder.mkdir(parents=True)
        for key, value in doc["data"].items():
            (folder / key).write_bytes(base64.b64decode(value))
    return tmp


def secret_docs(directory: Path) -> dict[str, Obj]:
    objects = yaml.safe_load_all((directory / "secrets.yaml").read_text())
    return {d["metadata"]["name"]: d for d in objects if d}


def test_the_secret_script_writes_valid_private_secrets_for_every_mounted_identity(
    secrets_dir: Path,
) -> None:
    text = (secrets_dir / "secrets.yaml").read_text()
    assert stat.S_IMODE((secrets_dir / "secrets.yaml").stat().st_mode) == 0o600
    secrets = secret_docs(secrets_dir)
    for doc in secrets.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        assert doc["type"] == "kubernetes.io/tls" and doc["metadata"]["namespace"] == "lilo"
        assert set(doc["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    referenced = {
        found["pod"]["spec"]["volumes"][-1]["secret"]["secretName"]
        for found in deployments(docs()).values()
    }
    assert set(secrets) == referenced
    assert "PRIVATE KEY" not in text  # base64 in data, as Kubernetes wants it
    # The CA's key is never written: nobody can mint a certificate later.
    identities = {identity_of(name) for name in SPECS} | {"gateway"}
    kept = {p.name for p in (secrets_dir / "ca").iterdir()}
    assert kept == {"ca.pem"} | {f"{i}{ext}" for i in identities for ext in (".pem", ".key")}


def wildcard_matches(pattern: str, host: str) -> bool:
    if not pattern.startswith("*."):
        return pattern == host
    label, _, rest = host.partition(".")
    return bool(label) and rest == pattern[2:]


def test_each_certificate_carries_the_identity_the_mesh_checks_and_its_dialled_name(
    secrets_dir: Path,
) -> None:
    workloads = deployments(docs())
    for name, found in workloads.items():
        identity = identity_of(name)
        folder = secrets_dir / "mounted" / tls_secret_name(identity)
        cert = x509.load_pem_x509_certificate((folder / "tls.crt").read_bytes())
        ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        # mesh.runner refuses a certificate whose common name is not the service's name.
        [cn] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert cn.value == identity
        key = serialization.load_pem_private_key((folder / "tls.key").read_bytes(), None)
        assert key.public_key() == cert.public_key()
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usage)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = sans.get_values_for_type(x509.DNSName)
        assert identity in dns and "localhost" in dns  # the exec probe verifies localhost
        if name == "gateway":
            continue
        advertised = run_advertise(found["container"], "10.244.3.17").stdout.strip()
        assert any(wildcard_matches(p, advertised) for p in dns), (name, dns)
        # ...and no other service's pods: a stolen crisis key cannot pose as auth.
        for other, other_found in workloads.items():
            if other not in (name, "gateway"):
                theirs = run_advertise(other_found["container"], "10.244.3.17").stdout.strip()
                assert not any(wildcard_matches(p, theirs) for p in dns), (name, other)


def test_a_kept_ca_directory_keeps_the_set(secrets_dir: Path) -> None:
    before = secret_docs(secrets_dir)
    again = run_secrets_script(secrets_dir, "-o", "again.yaml", "--dir", "ca")
    assert "the current set" in again.stderr
    after = yaml.safe_load_all((secrets_dir / "again.yaml").read_text())
    assert {d["metadata"]["name"]: d["data"] for d in after} == {
        name: d["data"] for name, d in before.items()
    }


def test_the_secret_script_refuses_to_write_keys_under_deploy(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_secrets_script(tmp_path, "-o", str(K8S / "tls-secrets.yaml"))
    assert "do not go under deploy/" in failed.value.stderr
    assert not (K8S / "tls-secrets.yaml").exists()


def mounted_env(container: Obj, folder: Path, **extra: str) -> dict[str, str]:
    """The container's LILO_TLS_* env, with the mount path swapped for ``folder``."""
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "tls"]
    env = {
        k: e["value"].replace(mount["mountPath"], str(folder))
        for k, e in env_of(container).items()
        if k.startswith("LILO_TLS_")
    }
    return {"PATH": os.environ["PATH"], **env, **extra}


async def probe(command: list[str], env: dict[str, str]) -> int:
    """Run a probe command as kubelet would exec it in the container (cwd = /app)."""
    assert command[:3] == ["python", "-m", "deploy.healthprobe"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    if proc.returncode:
        assert err.startswith(b"healthprobe: ")  # kubelet shows why in the pod's events
    return proc.returncode


async def test_the_secrets_carry_mtls_by_the_advertised_name_and_the_probes_pass(
    secrets_dir: Path,
) -> None:
    workloads = deployments(docs())
    echo = workloads["echo"]["container"]
    mounted = secrets_dir / "mounted"
    echo_env = mounted_env(echo, mounted / tls_secret_name("echo"))
    server_tls = TlsConfig(
        cert_file=echo_env["LILO_TLS_CERT"],
        key_file=echo_env["LILO_TLS_KEY"],
        client_ca_file=echo_env["LILO_TLS_CLIENT_CA"],
    )
    gateway_env = mounted_env(workloads["gateway"]["container"], mounted / "lilo-tls-gateway")

    def gateway_tls(name: str) -> ClientTls:
        return ClientTls(
            ca_file=gateway_env["LILO_TLS_CA"],
            cert_file=gateway_env["LILO_TLS_CERT"],
            key_file=gateway_env["LILO_TLS_KEY"],
            # What a pod dials (the name does not resolve here): the address is loopback.
            server_name_override=name,
        )

    registry = InMemoryRegistry()
    config = ServerConfig(tls=server_tls)
    async with serve([EchoServicer("e1")], registry=registry, config=config) as server:
        advertised = run_advertise(echo, "10.244.3.17").stdout.strip()
        reply = await echo_over(registry, gateway_tls(advertised), health_check=False)
        assert reply.instance_id == "e1"
        # Dialled as a crisis pod, the echo certificate fails the handshake.
        crisis = run_advertise(workloads["crisis"]["container"], "10.244.3.17").stdout.strip()
        with pytest.raises(aio.AioRpcError) as caught:
            await echo_over(registry, gateway_tls(crisis), health_check=False, deadline_s=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        # The probes, exactly as the manifest execs them, with the pod's environment.
        pod_env = {**echo_env, "LILO_PORT": str(server.port)}
        ready = echo["readinessProbe"]["exec"]["command"]
        live = echo["livenessProbe"]["exec"]["command"]
        assert await probe(ready, pod_env) == 0
        assert await probe(live, pod_env) == 0
        # A plaintext check (what kubelet's native gRPC probe does) is refused.
        plain = {k: v for k, v in pod_env.items() if not k.startswith("LILO_TLS_")}
        assert await probe(live, plain) == 1
        # Another CA's certificate is refused at the handshake too.
        foreign = secrets_dir / "foreign"
        ensure_certificates(foreign, {"echo": []})
        foreign_env = {
            **pod_env,
            "LILO_TLS_CERT": str(foreign / "echo.pem"),
            "LILO_TLS_KEY": str(foreign / "echo.key"),
        }
        assert await probe(ready, foreign_env) == 1
        await server.set_serving(False)
        assert await probe(ready, pod_env) == 1
        assert await probe(live, pod_env) == 1


def test_plaintext_is_an_explicit_opt_out_written_elsewhere(tmp_path: Path) -> None:
    # The committed manifests are the mTLS ones; the opt-out cannot overwrite them.
    with pytest.raises(SystemExit) as refused:
        main(["--no-mtls"])
    assert refused.value.code == 2
    with pytest.raises(SystemExit):
        main(["--no-mtls", "--out", str(K8S)])
    assert main(["--check"]) == 0

    assert main(["--no-mtls", "--out", str(tmp_path)]) == 0
    plain: list[Obj] = []
    for path in sorted(tmp_path.glob("*.yaml")):
        text = path.read_text()
        assert "LILO_TLS_" not in text and "lilo-tls-" not in text
        assert text.startswith("# Generated by `python -m deploy.generate --no-mtls")
        plain += [d for d in yaml.safe_load_all(text) if d]
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in K8S.glob("*.yaml")}
    for name, found in deployments(plain).items():
        kubernetes_validate.validate(
            next(d for d in plain if d["kind"] == "Deployment" and d["metadata"]["name"] == name),
            K8S_VERSION,
            strict=True,
        )
        if name == "gateway":
            continue
        container = found["container"]
        assert container["readinessProbe"]["grpc"]["service"] == GRPC_SERVICE[name]
        assert "grpc" in container["livenessProbe"]
        advertised = env_of(container)["LILO_ADVERTISE_HOST"]
        assert advertised["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert container["command"] == ["python", "-m", f"services.{name}"]
