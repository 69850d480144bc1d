"""Throw-away certificates for a PostgreSQL server with ``ssl=on``.

:func:`make_tls_files` writes a self-signed CA and a server certificate it signed,
with subject alternative names for the given host names and IP addresses;
:func:`make_ca` makes a CA on its own (e.g. an unrelated one, to show that a
client trusting it refuses the server). Keys are ECDSA P-256: quick to make.
:func:`ssl_server` is a ``devstack.postgres.PostgresServer`` that serves them, on
binaries built with OpenSSL (pgserver's are not).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.postgres import BinariesNotFoundError, PostgresServer, bin_dirs, has_binaries

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for ``ssl=on``: the CA that signed the server certificate, and its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA: its certificate (the bundle clients trust) and its private key."""

    cert_file: Path
    key_file: Path
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def make_ca(
    directory: Path, name: str = "csv-pipeline test CA", *, days: int = DEFAULT_DAYS
) -> CertificateAuthority:
    """A self-signed CA in ``directory`` (``ca.crt``, ``ca.key``)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    not_before, not_after = _validity(days)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "ca.crt", directory / "ca.key"
    _write_cert(cert_file, certificate)
    _write_key(key_file, key)
    return CertificateAuthority(cert_file, key_file, certificate, key)


def make_tls_files(
    directory: Path,
    hostnames: list[str],
    *,
    ca_name: str = "csv-pipeline test CA",
    ca: CertificateAuthority | None = None,
    days: int = DEFAULT_DAYS,
) -> TlsFiles:
    """A CA (new unless ``ca`` is given) and a server certificate for ``hostnames``.

    Each host name becomes a DNS or IP subject alternative name; the first is also
    the common name. Writes ``ca.crt``, ``ca.key``, ``server.crt`` and ``server.key``
    (keys mode 0600; the server copies what it needs into its data directory).
    """
    if not hostnames:
        raise ValueError("a server certificate needs at least one host name")
    if ca is None:
        ca = make_ca(directory, ca_name, days=days)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days)
    issuer_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    _write_cert(cert_file, certificate)
    _write_key(key_file, key)
    return TlsFiles(ca_cert=ca.cert_file, server_cert=cert_file, server_key=key_file)


def _alt_names(hostnames: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)


def _write_cert(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a PEM key that is never readable by others, not even for a moment."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def has_ssl(bin_dir: Path) -> bool:
    """True if ``pg_config --configure`` names OpenSSL (assumed when there is no pg_config)."""
    try:
        done = subprocess.run(
            [bin_dir / "pg_config", "--configure"], capture_output=True, text=True
        )
    except OSError:
        return True
    return "--with-openssl" in done.stdout or "--with-ssl=openssl" in done.stdout


def ssl_bin_dir() -> Path:
    """The first PostgreSQL binaries devstack would consider that are built with OpenSSL."""
    candidates = bin_dirs()
    for candidate in candidates:
        if has_binaries(candidate) and has_ssl(candidate):
            return candidate
    raise BinariesNotFoundError(
        f"no PostgreSQL built with OpenSSL in {', '.join(map(str, candidates)) or 'nowhere'}"
        " (pgserver's has none): install PostgreSQL (apt-get install postgresql)"
    )


def ssl_server(data_dir: Path, files: TlsFiles, bin_dir: Path) -> PostgresServer:
    """A server with ``ssl=on`` and ``files``' certificate and key (copied into its data)."""
    return PostgresServer(
        data_dir,
        bin_dir=bin_dir,
        files={
            "devstack-server.crt": files.server_cert.read_text(),
            "devstack-server.key": files.server_key.read_text(),
        },
        settings={  # relative to the data directory
            "ssl": "on",
            "ssl_cert_file": "devstack-server.crt",
            "ssl_key_file": "devstack-server.key",
        },
    )
