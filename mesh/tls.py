"""Development certificates for mTLS: a private CA and one certificate per service.

Service identity in the mesh is the certificate's common name (``crisis``,
``chat``, ...), checked against ``mesh.identity.rbac`` trusted callers. In
production the certificates come from your PKI (cert-manager, SPIFFE); this
module makes a matching set for tests and ``scripts/up`` (which runs the whole
mesh with mTLS, see docs/identity.md "Service identity"), and for deployments
without a PKI: ``python -m mesh.tls DIR IDENTITY[:HOST,...] ...`` (the Compose
file's one-shot ``certs`` service) keeps a complete, current set in DIR or makes a
new one. The CA's key is never written: nobody can mint a certificate later.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


class DevCA:
    """A throw-away certificate authority kept in ``directory``."""

    def __init__(self, directory: Path, *, days: int = 30) -> None:
        self.directory = directory
        self.days = days
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "ca.pem"
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("lilo-dev-ca"))
            .issuer_name(_name("lilo-dev-ca"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self, common_name: str, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> Issued:
        """A certificate usable as both server and client identity for ``common_name``."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(common_name)]
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self.days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        issued = Issued(
            self.directory / f"{common_name}.pem", self.directory / f"{common_name}.key"
        )
        issued.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, issued.key_file)
        return issued


def certificate_identity(cert_file: str | Path) -> str:
    """The common name a PEM certificate asserts: the service identity its holder gets."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _current(directory: Path, wanted: Mapping[str, Sequence[str]], until: dt.datetime) -> bool:
    """True when ``directory`` holds the CA and, for each identity, a key and a certificate
    that the CA issued, naming every wanted host and valid past ``until``."""
    try:
        ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        for name, hosts in wanted.items():
            if not (directory / f"{name}.key").is_file():
                return False
            cert = x509.load_pem_x509_certificate((directory / f"{name}.pem").read_bytes())
            cert.verify_directly_issued_by(ca)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
            names |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
            if cert.not_valid_after_utc <= until or not set(hosts) <= names:
                return False
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    return True


def ensure_certificates(
    directory: Path,
    identities: Mapping[str, Sequence[str]],
    *,
    days: int = 30,
    renew_within_days: int = 7,
    now: dt.datetime | None = None,
) -> bool:
    """Keep a current set in ``directory`` or make a new CA and every certificate.

    ``identities`` maps each identity (the certificate's common name) to the extra host
    names callers reach it by. All certificates come from one CA, so a set with one file
    missing, foreign or expiring within ``renew_within_days`` is replaced whole (processes
    that loaded the old CA must restart). Returns True when it made a new set.
    """
    now = now or dt.datetime.now(dt.UTC)
    if _current(directory, identities, now + dt.timedelta(days=renew_within_days)):
        return False
    ca = DevCA(directory, days=days)
    for name, hosts in identities.items():
        ca.issue(name, hosts=("localhost", "127.0.0.1", *hosts))
    return True


def _identity(arg: str) -> tuple[str, list[str]]:
    name, _, hosts = arg.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"{arg!r}: expected IDENTITY[:HOST,...]")
    return name, [h for h in hosts.split(",") if h]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.tls",
        description="Keep a development CA and one certificate per identity in DIR.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "identities",
        nargs="+",
        type=_identity,
        metavar="IDENTITY[:HOST,...]",
        help="certificate common name, and host names it is reached by besides its own",
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--owner", type=int, help="uid to own the files (services run as another user)"
    )
    args = parser.parse_args(argv)
    wanted = dict(args.identities)
    made = ensure_certificates(args.directory, wanted, days=args.days)
    if args.owner is not None:
        for path in [args.directory, *args.directory.iterdir()]:
            os.chown(path, args.owner, -1)
    state = "made a new CA and" if made else "kept the current"
    print(f"{state} {len(wanted)} certificates in {args.directory}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
