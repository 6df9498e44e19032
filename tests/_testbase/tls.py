"""A throwaway certificate authority and certificates for TLS tests, made with the openssl CLI."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TLSFiles", "make_tls_files"]

# Our own config, so the result does not depend on the system's openssl.cnf.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
# etcd's gRPC gateway dials its own server with the server certificate as a
# client certificate when --client-cert-auth is on: it needs clientAuth too.
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: a CA, a server and a client certificate it signed, and an unrelated CA.

    The server certificate is valid for 127.0.0.1, ::1 and localhost. The
    "other" CA and the client certificate it signed are for wrong-CA tests.
    """

    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    client_cert_file: Path
    client_key_file: Path
    other_ca_file: Path
    other_client_cert_file: Path
    other_client_key_file: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{proc.stderr}")


def _new_key_args(key: str) -> list[str]:
    # P-256 keys take milliseconds to make, RSA keys far longer.
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key]


def _make_ca(d: Path, name: str) -> None:
    key_args = _new_key_args(f"{name}-key.pem")
    subject = f"/CN=etcdstream test {name}"
    _openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "ca", *key_args,
             "-subj", subject, "-days", "3650", "-out", f"{name}.pem", cwd=d)


def _make_leaf(d: Path, name: str, ca: str, extensions: str, cn: str) -> None:
    key_args = _new_key_args(f"{name}-key.pem")
    _openssl("req", "-new", "-config", "openssl.cnf", *key_args,
             "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
    serial = f"0x{secrets.token_hex(16)}"
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
             "-set_serial", serial, "-days", "3650", "-extfile", "openssl.cnf",
             "-extensions", extensions, "-out", f"{name}.pem", cwd=d)


def make_tls_files(directory: Path) -> TLSFiles:
    """Create a CA, server and client certificates, and an unrelated CA in `directory`."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is needed for TLS tests: apt-get install openssl")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openssl.cnf").write_text(_OPENSSL_CNF)
    _make_ca(directory, "ca")
    _make_leaf(directory, "server", "ca", "server", "localhost")
    _make_leaf(directory, "client", "ca", "client", "etcdstream-test-client")
    _make_ca(directory, "other-ca")
    _make_leaf(directory, "other-client", "other-ca", "client", "etcdstream-test-client")
    return TLSFiles(
        ca_file=directory / "ca.pem",
        server_cert_file=directory / "server.pem",
        server_key_file=directory / "server-key.pem",
        client_cert_file=directory / "client.pem",
        client_key_file=directory / "client-key.pem",
        other_ca_file=directory / "other-ca.pem",
        other_client_cert_file=directory / "other-client.pem",
        other_client_key_file=directory / "other-client-key.pem",
    )
