"""TLS for mqtts:// and wss://: the context from the security settings, what a handshake
tells about the server, and OpenSSL's errors turned into ours.

Imported only for mqtts and wss: ``ssl`` costs about 12 ms at start-up.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading

from .._files import PEM_LIMIT, file_problem
from .._text import printable
from ..errors import InvalidSettings, TLSError
from ..phases import PhaseName
from ..settings import Security

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HandshakeRecord",
    "build_context",
    "certificate_summary",
    "decode_certificate",
    "tls_error",
]

_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}

# OpenSSL's X509_V_ERR_* codes that get a diagnosis of their own.
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
SELF_SIGNED_LEAF = 18
SELF_SIGNED_IN_CHAIN = 19
UNKNOWN_ISSUER = 20
UNABLE_TO_VERIFY_LEAF = 21
HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64


def build_context(security: Security, key_password: str | None) -> ssl.SSLContext:
    """The client context. Raises InvalidSettings naming the file that cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = _VERSIONS[security.tls_min_version]
    if security.tls_min_version in ("1.0", "1.1"):
        # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level even when asked.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if security.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        _check_file(security.cafile, "security.cafile", directory_ok=True)
        try:
            if security.cafile is None:
                context.load_default_certs()
            elif os.path.isdir(security.cafile):
                context.load_verify_locations(capath=security.cafile)
            else:
                context.load_verify_locations(cafile=security.cafile)
        except (ssl.SSLError, OSError) as exc:
            raise InvalidSettings(
                [
                    (
                        "security.cafile",
                        f"cannot load CA certificates from {security.cafile!r}: {_why(exc)}",
                    )
                ]
            ) from None
        context.check_hostname = security.verify_hostname
    if security.certfile is not None:

        def password() -> bytes:
            # Never let OpenSSL prompt on the terminal: no password given means none.
            return (key_password or "").encode("utf-8", "surrogateescape")

        _check_file(security.certfile, "security.certfile")
        _check_file(security.keyfile, "security.keyfile")
        try:
            context.load_cert_chain(security.certfile, security.keyfile, password)
        except (ssl.SSLError, OSError, ValueError) as exc:
            field = "security.keyfile" if security.keyfile else "security.certfile"
            reason = _why(exc)
            if "PEM lib" in reason or "bad decrypt" in reason.lower():
                reason = (
                    "cannot read the certificate and key: wrong or missing key password, or not PEM"
                )
            raise InvalidSettings([(field, reason)]) from None
    if security.alpn:
        context.set_alpn_protocols(list(security.alpn))
    return context


def _check_file(path: str | None, field: str, *, directory_ok: bool = False) -> None:
    """OpenSSL opens these files itself, and would wait forever on a FIFO or read a
    device without end: checked again here, at the moment of use."""
    reason = path and file_problem(path, PEM_LIMIT, directory_ok=directory_ok)
    if reason:
        raise InvalidSettings([(field, reason)])


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


#: Guards the records of a shared context: blocking clients handshake in threads.
_records_lock = threading.Lock()

# RFC 8446 §4 (and RFC 5246 §7.4): the handshake record type and two message types.
_HANDSHAKE = 22
_SERVER_HELLO = 2
_CERTIFICATE_REQUEST = 13


class HandshakeRecord:
    """Which handshake messages the server sent on one connection, for the diagnosis of
    a failed handshake: ``server_hello`` (our ClientHello was answered) and
    ``certificate_requested`` (the server asked for a client certificate). Under TLS 1.2
    a server that wants a client certificate it did not get says only "handshake
    failure"; these facts tell that apart from a server that found nothing in common
    with our hello.

    Seen through OpenSSL's message callback, which the standard library exposes only as
    ``SSLContext._msg_callback`` (its debugging hook); where it is missing, both facts
    stay None (not known). One context serves every connection of a configuration, some
    at the same time (asyncio): the callback is the context's while any of its handshakes
    runs, and hands each message to the record of the connection it came on (``conn``,
    the SSLSocket or SSLObject, given to ``watch``). ``stop()`` after the handshake:
    the records of the session then cost nothing.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        """Before the connection is made: OpenSSL gives each connection the context's
        callback when it is created."""
        self.server_hello: bool | None = None
        self.certificate_requested: bool | None = None
        self._context = context
        self._conn: object = None
        self._active = hasattr(context, "_msg_callback")
        if self._active:
            self.server_hello = self.certificate_requested = False
            with _records_lock:
                watching = context.__dict__.setdefault("_pco_watching", [0])
                if not watching[0]:
                    context._msg_callback = _dispatch  # type: ignore[attr-defined]
                watching[0] += 1

    def watch(self, conn: object) -> None:
        """Record the handshake of ``conn`` (made after this record, not yet begun)."""
        if self._active:
            self._conn = conn
            with _records_lock:
                self._context.__dict__.setdefault("_pco_records", {})[id(conn)] = self

    def _message(self, direction: str, content_type: Any, msg_type: Any) -> None:
        if direction != "read" or content_type != _HANDSHAKE:
            return
        if msg_type == _SERVER_HELLO:
            self.server_hello = True
        elif msg_type == _CERTIFICATE_REQUEST:
            self.certificate_requested = True

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        context = self._context
        with _records_lock:
            records = context.__dict__.get("_pco_records", {})
            if self._conn is not None and records.get(id(self._conn)) is self:
                del records[id(self._conn)]
            watching = context.__dict__["_pco_watching"]
            watching[0] -= 1
            if not watching[0]:
                context._msg_callback = None  # type: ignore[attr-defined]


def _dispatch(
    conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: Any
) -> None:
    record = conn.context.__dict__.get("_pco_records", {}).get(id(conn))
    if record is not None:
        record._message(direction, content_type, msg_type)


def tls_error(exc: BaseException, phase: str) -> TLSError:
    """Our error for what ``ssl`` raised during ``phase``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code or 0
        message = exc.verify_message or str(exc)
        return TLSError(
            phase, f"certificate verify failed: {message}", code, "CERTIFICATE_VERIFY_FAILED"
        )
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        during = "during the TLS handshake" if phase == PhaseName.TLS_HANDSHAKE else "abruptly"
        return TLSError(phase, f"the server closed the TLS connection {during}", 0, "EOF")
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        text = reason.lower().replace("_", " ") if reason else str(exc)
        for prefix in ("sslv3 alert ", "tlsv1 alert ", "tlsv13 alert "):
            if text.startswith(prefix):
                text = f"the server sent TLS alert '{text[len(prefix) :]}'"
        return TLSError(phase, text, 0, reason)
    if isinstance(exc, ConnectionResetError):
        return TLSError(
            phase, "the server reset the connection during the TLS handshake", 0, "RESET"
        )
    raise RuntimeError(f"not a TLS error: {exc!r}")


def decode_certificate(der: bytes) -> dict[str, Any] | None:
    """The fields of a DER certificate as ``getpeercert()`` gives them, or None.

    Used after a failed verification, when ``getpeercert()`` has nothing to say; the
    standard library decodes certificates only from files.
    """
    decode = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(ssl.DER_cert_to_PEM_cert(der))
    try:
        return dict(decode(handle.name))
    except (ssl.SSLError, ValueError):
        return None
    finally:
        os.unlink(handle.name)


def _name(parts: Any) -> str:
    # getpeercert() gives ((("commonName", "x"),), (("organizationName", "y"),), ...).
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    return printable(", ".join(f"{short.get(k, k)}={v}" for rdn in parts or () for k, v in rdn))


def certificate_summary(cert: dict[str, Any] | None) -> dict[str, Any]:
    """subject, issuer, not_before, not_after and names (subjectAltName values), each
    made one printable line: the server chose them."""
    if not cert:
        return {}
    return {
        "subject": _name(cert.get("subject")),
        "issuer": _name(cert.get("issuer")),
        "not_before": printable(str(cert.get("notBefore", ""))),
        "not_after": printable(str(cert.get("notAfter", ""))),
        "names": [printable(str(value)) for _, value in cert.get("subjectAltName", ())],
    }
