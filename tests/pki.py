"""A throwaway PKI for the integration tests, made with the ``openssl`` command-line tool.

One call of :func:`make_pki` writes every certificate and key the TLS tests need into a
directory: a good chain, an unrelated CA, and one server certificate per way a TLS
connection should fail (expired, wrong name, self-signed), plus a chain through an
intermediate and client certificates with their keys in several formats.

Only the ``openssl`` program is used, never a Python crypto package: the tests need no
extra dependency, and the files are exactly what people who run ``openssl`` produce.
``openssl`` missing is a failure naming setup.sh, not a skip.

Server keys are EC P-256 (generated in milliseconds, so the whole PKI takes a fraction of
a second). The client key is RSA 2048 instead, because only RSA has a PKCS#1 form
("BEGIN RSA PRIVATE KEY"), the traditional format many key files still come in; the EC
equivalent would be SEC1 ("BEGIN EC PRIVATE KEY").

Every certificate carries the extensions that OpenSSL's strict verification
(``VERIFY_X509_STRICT``, the default of ``ssl.create_default_context`` from Python 3.13)
demands: critical basicConstraints, key usage, subject and authority key identifiers. A
failure in a test is then about the case it tests, not about a sloppy certificate.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "CLIENT_KEY_PASSWORD",
    "HOSTILE_SUBJECT",
    "OPENSSL_TIMEOUT",
    "Pki",
    "hostile_certificate",
    "make_pki",
    "require",
]

OPENSSL_TIMEOUT = 10.0
CLIENT_KEY_PASSWORD = "keypass-test"

_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")

UTC = timezone.utc  # datetime.UTC is 3.11+

# The expired certificate's validity, wholly in the past.
_EXPIRED_FROM = datetime(2020, 1, 1, tzinfo=UTC)
_EXPIRED_UNTIL = datetime(2021, 1, 1, tzinfo=UTC)
# Every other certificate, CAs included, is valid from an hour ago (a broker or client
# whose clock lags a little still accepts it) for about two days: longer than any session.
_VALID_BEFORE_NOW = timedelta(hours=1)
_VALID_AFTER_NOW = timedelta(days=2)

_LOCALHOST = "DNS:localhost, IP:127.0.0.1, IP:::1"

# One configuration for `openssl req` and `openssl ca`, so that nothing depends on the
# machine's /etc/ssl/openssl.cnf. Each [section] below `[any_name]` is one certificate
# profile, chosen with -extensions.
_CONFIG = """\
# Written by tests/pki.py.
[req]
distinguished_name = req_dn
[req_dn]

[ca]
default_ca = signer
[signer]
database = {directory}/index.txt
new_certs_dir = {directory}/issued
default_md = sha256
policy = any_name
rand_serial = yes
# The same subject is issued twice (the expired and the good localhost certificate).
unique_subject = no
# Extensions come from the profile only, never from what a request asks for.
copy_extensions = none
[any_name]
commonName = supplied

[root_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[intermediate_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_localhost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {localhost}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_wrong_name]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# A leaf that signed itself. No authority key identifier: there is no other authority.
# OpenSSL still accepts it as its own trust anchor (pinning: cafile = this very file).
[self_signed]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {localhost}
subjectKeyIdentifier = hash

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def require(program: str) -> str:
    """The path of ``program``; AssertionError naming setup.sh when it is not installed."""
    # Mosquitto lives in /usr/sbin, which is not on every user's PATH.
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise AssertionError(f"{program} is not installed: run ./setup.sh")
    return path


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files :func:`make_pki` wrote; keys are unencrypted unless noted."""

    directory: Path
    """Where everything is, including the openssl configuration and CA database."""

    ca_cert: Path
    """Self-signed root "pco_wire test CA": trust this and the good servers verify."""
    ca_key: Path
    """Its key (EC P-256), should a test need to issue more certificates."""
    other_ca_cert: Path
    """Self-signed root "pco_wire other CA", unrelated: trusting only it, every server of
    ours fails verification, and the broker refuses client certificates it issued."""

    server_cert: Path
    """CN localhost, subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1, issued by the CA,
    valid from an hour ago for two days."""
    server_key: Path
    """Its key (EC P-256, PKCS#8)."""

    wrong_name_cert: Path
    """CN wrong.example, subjectAltName DNS:wrong.example only, issued by the CA, valid:
    its chain verifies and only the host name check fails."""
    wrong_name_key: Path
    """Its key (EC P-256, PKCS#8)."""

    expired_cert: Path
    """Like server_cert but valid only from 2020-01-01 to 2021-01-01 (issued by the CA with
    `openssl ca -startdate/-enddate`, since `openssl x509 -req` cannot back-date)."""
    expired_key: Path
    """Its key (EC P-256, PKCS#8)."""

    self_signed_cert: Path
    """CN localhost, same subjectAltName, signed by its own key: fails verification unless
    it is itself the cafile (pinning)."""
    self_signed_key: Path
    """Its key (EC P-256, PKCS#8)."""

    intermediate_ca_cert: Path
    """"pco_wire intermediate CA", issued by the CA (pathlen 0)."""
    intermediate_server_cert: Path
    """CN localhost, same subjectAltName as server_cert, issued by the intermediate CA:
    the leaf alone, which a client trusting only the root cannot verify."""
    intermediate_server_key: Path
    """Its key (EC P-256, PKCS#8)."""
    intermediate_server_bundle: Path
    """intermediate_server_cert followed by intermediate_ca_cert: the file a server serves
    so that a client trusting only the root can build the chain."""

    client_cert: Path
    """CN pco-wire-client, extendedKeyUsage clientAuth, issued by the CA."""
    client_key: Path
    """Its key, RSA 2048, unencrypted PKCS#8 ("BEGIN PRIVATE KEY")."""
    client_key_encrypted: Path
    """The same key as encrypted PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY", AES-256-CBC),
    password :attr:`client_key_password`."""
    client_key_traditional: Path
    """The same key as PKCS#1 ("BEGIN RSA PRIVATE KEY"), unencrypted."""
    client_key_password: str
    """The password of client_key_encrypted: "keypass-test"."""

    other_client_cert: Path
    """CN pco-wire-client too, but issued by the other CA: the broker must refuse it."""
    other_client_key: Path
    """Its key (EC P-256, PKCS#8)."""


def make_pki(directory: Path) -> Pki:
    """Write the whole PKI into ``directory`` (created if needed) and return its paths.

    Raises AssertionError when openssl is not installed or one of its calls fails (with
    the command and what it printed), subprocess.TimeoutExpired when one hangs.
    """
    openssl = require("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "issued").mkdir(exist_ok=True)
    (directory / "index.txt").write_text("")
    config = directory / "openssl.cnf"
    config.write_text(_CONFIG.format(directory=directory, localhost=_LOCALHOST))

    def run(*arguments: str) -> None:
        command = [openssl, *arguments]
        done = subprocess.run(command, capture_output=True, timeout=OPENSSL_TIMEOUT, check=False)
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')}"
            )

    def path(name: str) -> Path:
        return directory / name

    now = datetime.now(UTC)

    def issue(
        name: str,
        subject: str,
        profile: str,
        issuer: str | None,
        key: tuple[str, ...] = _EC_KEY,
        valid: tuple[datetime, datetime] | None = None,
    ) -> None:
        """A key and a request for ``subject``, signed with ``profile`` by ``issuer``, or
        by its own key when ``issuer`` is None. Always through `openssl ca`, the one
        command of openssl 3.0 that sets both ends of the validity period."""
        run(
            "req", "-new", "-config", str(config), *key, "-noenc",
            "-keyout", str(path(f"{name}.key")), "-subj", f"/CN={subject}",
            "-out", str(path(f"{name}.csr")),
        )  # fmt: skip
        signer = (
            ["-selfsign", "-keyfile", str(path(f"{name}.key"))]
            if issuer is None
            else ["-cert", str(path(f"{issuer}.pem")), "-keyfile", str(path(f"{issuer}.key"))]
        )
        start, end = valid or (now - _VALID_BEFORE_NOW, now + _VALID_AFTER_NOW)
        run(
            "ca", "-batch", "-notext", "-config", str(config), "-extensions", profile,
            *signer, "-startdate", _asn1_time(start), "-enddate", _asn1_time(end),
            "-in", str(path(f"{name}.csr")), "-out", str(path(f"{name}.pem")),
        )  # fmt: skip

    issue("ca", "pco_wire test CA", "root_ca", None)
    issue("other-ca", "pco_wire other CA", "root_ca", None)
    issue("self-signed", "localhost", "self_signed", None)
    issue("server", "localhost", "server_localhost", "ca")
    issue("wrong-name", "wrong.example", "server_wrong_name", "ca")
    issue("expired", "localhost", "server_localhost", "ca", valid=(_EXPIRED_FROM, _EXPIRED_UNTIL))
    issue("intermediate-ca", "pco_wire intermediate CA", "intermediate_ca", "ca")
    issue("intermediate-server", "localhost", "server_localhost", "intermediate-ca")
    # RSA, for the one key format only RSA has: PKCS#1 (see the module docstring).
    issue("client", "pco-wire-client", "client", "ca", key=("-newkey", "rsa:2048"))
    issue("other-client", "pco-wire-client", "client", "other-ca")
    run(
        "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(path("client.key")),
        "-passout", f"pass:{CLIENT_KEY_PASSWORD}", "-out", str(path("client-encrypted.key")),
    )  # fmt: skip
    run(
        "pkey", "-traditional", "-in", str(path("client.key")),
        "-out", str(path("client-traditional.key")),
    )  # fmt: skip
    bundle = path("intermediate-server-bundle.pem")
    chain = (path("intermediate-server.pem"), path("intermediate-ca.pem"))
    bundle.write_text("".join(part.read_text() for part in chain))

    return Pki(
        directory=directory,
        ca_cert=path("ca.pem"),
        ca_key=path("ca.key"),
        other_ca_cert=path("other-ca.pem"),
        server_cert=path("server.pem"),
        server_key=path("server.key"),
        wrong_name_cert=path("wrong-name.pem"),
        wrong_name_key=path("wrong-name.key"),
        expired_cert=path("expired.pem"),
        expired_key=path("expired.key"),
        self_signed_cert=path("self-signed.pem"),
        self_signed_key=path("self-signed.key"),
        intermediate_ca_cert=path("intermediate-ca.pem"),
        intermediate_server_cert=path("intermediate-server.pem"),
        intermediate_server_key=path("intermediate-server.key"),
        intermediate_server_bundle=bundle,
        client_cert=path("client.pem"),
        client_key=path("client.key"),
        client_key_encrypted=path("client-encrypted.key"),
        client_key_traditional=path("client-traditional.key"),
        client_key_password=CLIENT_KEY_PASSWORD,
        other_client_cert=path("other-client.pem"),
        other_client_key=path("other-client.key"),
    )


def _asn1_time(moment: datetime) -> str:
    """The GeneralizedTime form `openssl ca -startdate/-enddate` read, in UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


#: A common name a hostile server may choose: a window-title escape (ESC ] 0 ; ... BEL),
#: a carriage return and line feed with a fake verdict, a right-to-left override.
HOSTILE_SUBJECT = "\x1b]0;pwned\x07\r\nOK: connected \u202eevil"


def hostile_certificate(pki: Pki, name: str, *, self_signed: bool) -> tuple[Path, Path]:
    """A server certificate (and its key) for localhost whose common name is
    HOSTILE_SUBJECT, issued by the CA or signed by its own key, written into
    ``pki.directory`` as NAME.pem and NAME.key. Raises AssertionError as make_pki does."""
    openssl = require("openssl")
    config = pki.directory / "openssl.cnf"
    cert, key, csr = (pki.directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))

    def run(*arguments: str) -> None:
        done = subprocess.run(
            [openssl, *arguments], capture_output=True, timeout=OPENSSL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"openssl {arguments[0]} failed: {done.stderr!r}")

    now = datetime.now(UTC)
    run(
        "req", "-new", "-config", str(config), *_EC_KEY, "-noenc", "-utf8",
        "-keyout", str(key), "-subj", f"/CN={HOSTILE_SUBJECT}", "-out", str(csr),
    )  # fmt: skip
    signer = (
        ["-selfsign", "-keyfile", str(key)]
        if self_signed
        else ["-cert", str(pki.ca_cert), "-keyfile", str(pki.ca_key)]
    )
    run(
        "ca", "-batch", "-notext", "-utf8", "-config", str(config),
        "-extensions", "self_signed" if self_signed else "server_localhost", *signer,
        "-startdate", _asn1_time(now - _VALID_BEFORE_NOW),
        "-enddate", _asn1_time(now + _VALID_AFTER_NOW), "-in", str(csr), "-out", str(cert),
    )  # fmt: skip
    return cert, key
