"""The mTLS Secrets deploy/k8s mounts: one ``kubernetes.io/tls`` Secret per identity.

    scripts/k8s-secrets | kubectl apply -f -             # a new development CA each run
    scripts/k8s-secrets --dir ~/.lilo-k8s-ca -o FILE     # keep the set between runs

Certificates come from ``mesh.tls.ensure_certificates``, the issuer ``scripts/up`` and
the Compose ``certs`` service use: a development CA (its key is never written) and one
certificate per service identity (common name = the identity ``mesh.runner`` checks and
trusted-caller rows name), plus ``gateway``. Each service's certificate also carries
the names its pods are dialled by (``deploy.generate.certificate_hosts``: the wildcard
over its headless peers Service and its ClusterIP Service name), and every certificate
``localhost`` and ``127.0.0.1`` for the exec health probe.

Secret ``lilo-tls-<identity>`` holds ``tls.crt``, ``tls.key`` and ``ca.crt`` (the layout
cert-manager writes, so a PKI can take over by writing Secrets of the same names). The
output contains private keys: it goes to stdout or to a file created with mode 0600,
never into deploy/. Processes read their certificate at start: after applying a new set
(new CA), restart the workloads (``kubectl -n lilo rollout restart deployment``).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from deploy.generate import (
    CLUSTER_DOMAIN,
    NS,
    ROOT,
    TLS_CA_KEY,
    TLS_CERT_KEY,
    TLS_KEY_KEY,
    certificate_hosts,
    tls_secret_name,
)
from mesh.tls import ensure_certificates
from services.catalog import CATALOG, ServiceSpec

GATEWAY = "gateway"


def wanted_identities(
    specs: Iterable[ServiceSpec] = CATALOG, *, cluster_domain: str = CLUSTER_DOMAIN
) -> dict[str, list[str]]:
    """Each identity the manifests mount a Secret for, with the extra hosts it needs."""
    wanted = {spec.service_identity: certificate_hosts(spec.name, cluster_domain) for spec in specs}
    wanted[GATEWAY] = []  # it only calls: no name to be dialled by
    return wanted


def secret_object(identity: str, directory: Path) -> dict[str, Any]:
    """The Secret for ``identity`` from the files ``mesh.tls`` wrote in ``directory``."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": tls_secret_name(identity),
            "namespace": NS,
            "labels": {"app.kubernetes.io/part-of": "lilo-mesh", "lilo/identity": identity},
        },
        "type": "kubernetes.io/tls",
        "data": {
            TLS_CERT_KEY: b64(directory / f"{identity}.pem"),
            TLS_KEY_KEY: b64(directory / f"{identity}.key"),
            TLS_CA_KEY: b64(directory / "ca.pem"),
        },
    }


def render(directory: Path, *, days: int, cluster_domain: str) -> tuple[str, bool]:
    """Keep (or make) the set in ``directory``; the Secrets as YAML, and whether it is new."""
    wanted = wanted_identities(cluster_domain=cluster_domain)
    made = ensure_certificates(directory, wanted, days=days)
    docs = [secret_object(identity, directory) for identity in wanted]
    header = "# Made by scripts/k8s-secrets (mesh.tls). Holds private keys: do not commit.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False), made


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, also when ``path`` already exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/k8s-secrets",
        description="Write the kubernetes.io/tls Secrets the deploy/k8s manifests mount.",
    )
    parser.add_argument("-o", "--output", type=Path, help="file to write (mode 0600); - = stdout")
    parser.add_argument(
        "--dir",
        type=Path,
        help="keep the CA certificate and keys here and reuse them while current "
        "(default: a temporary directory, so a new CA every run)",
    )
    parser.add_argument("--days", type=int, default=30, help="certificate lifetime")
    parser.add_argument(
        "--cluster-domain",
        default=CLUSTER_DOMAIN,
        help="the cluster's DNS domain (the manifests must be generated with the same)",
    )
    args = parser.parse_args(argv)
    output: Path | None = None if args.output in (None, Path("-")) else args.output
    if output is not None and output.resolve().is_relative_to(ROOT / "deploy"):
        parser.error("private keys do not go under deploy/: write them outside the tree")
    if args.dir is not None:
        text, made = render(args.dir, days=args.days, cluster_domain=args.cluster_domain)
    else:
        with tempfile.TemporaryDirectory(prefix="lilo-k8s-tls-") as tmp:
            text, made = render(Path(tmp), days=args.days, cluster_domain=args.cluster_domain)
    if output is None:
        sys.stdout.write(text)
    else:
        _write_private(output, text)
    state = "a new CA" if made else "the current set"
    print(
        f"k8s-secrets: {len(wanted_identities())} Secrets from {state}"
        + (f" -> {output}" if output else ""),
        file=sys.stderr,
    )
    if made:
        print(
            "k8s-secrets: after applying, restart running workloads: "
            f"kubectl -n {NS} rollout restart deployment",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
