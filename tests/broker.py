"""A Mosquitto broker that a test starts on free loopback ports and stops by its PID.

One process serves every kind of connection the integration tests make, each on its own
listener bound to 127.0.0.1 (see :class:`Ports` for what each one is). Certificates come
from the throwaway PKI of tests/pki.py.

Mosquitto and openssl are installed by setup.sh. Missing, they are a failure, not a skip:
the interoperability tests are how we know our bytes are what real peers send and read.

Tests normally take the session-scoped ``broker`` fixture of tests/conftest.py; when a
test fails, ``broker.log`` is Mosquitto's own account of what happened, worth putting in
the assertion message.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.pki import Pki, make_pki, require

__all__ = [
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "Broker",
    "Ports",
    "config_head",
    "free_port",
    "free_ports",
    "require",
    "run_mosquitto",
    "start_broker",
    "stop_process",
]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (until someone else takes them)."""
    # All probes stay bound until every port is chosen, so none is handed out twice.
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass(frozen=True)
class Ports:
    """The broker's listeners by name; each field is a TCP port on 127.0.0.1.

    Every listener allows anonymous clients except ``password``. "The CA" is
    ``pki.ca_cert``, and every TLS listener has it as cafile. OpenSSL completes a
    server's chain from that cafile, so the listeners with a certificate issued by the CA
    send the CA certificate after it: a client trusting another CA then fails with
    "self-signed certificate in certificate chain", not "unable to get local issuer
    certificate".
    """

    tcp: int
    """MQTT over plain TCP."""
    password: int
    """MQTT over plain TCP; the user name and password of the Broker are required."""
    tls: int
    """MQTT over TLS, serving pki.server_cert (localhost, 127.0.0.1, ::1, from the CA)."""
    tls_client_cert: int
    """As tls, and the client must present a certificate issued by the CA."""
    tls_expired: int
    """TLS serving pki.expired_cert: verification fails, "certificate has expired"."""
    tls_wrong_name: int
    """TLS serving pki.wrong_name_cert (wrong.example): the chain verifies, the name not."""
    tls_self_signed: int
    """TLS serving pki.self_signed_cert: verifies only when pinned (cafile = that cert)."""
    tls_intermediate: int
    """TLS serving pki.intermediate_server_bundle, the leaf and the intermediate CA, so
    that a client trusting only the root CA verifies it. With the leaf alone as certfile
    such a client fails ("unable to verify the first certificate"): the cafile, from
    which OpenSSL would complete the chain, holds the root only."""
    ws: int
    """MQTT over WebSocket, no TLS. The client must offer the subprotocol "mqtt" (or
    "mqttv3.1"): offered none, Mosquitto upgrades and then never answers; offered another,
    it closes. Each exchange takes about 100 ms (Mosquitto's websocket tick)."""
    wss: int
    """MQTT over WebSocket over TLS, serving pki.server_cert."""

    def by_name(self) -> dict[str, int]:
        """Every listener as name -> port, in the order above."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Broker:
    """A running Mosquitto; :meth:`stop` ends it."""

    process: subprocess.Popen[bytes]
    ports: Ports
    username: str
    """The user name the ``password`` listener accepts."""
    password: str
    """Its password."""
    pki: Pki
    """The certificates and keys the TLS listeners use, and those for clients."""
    log: Path
    """Mosquitto's standard output and error."""

    def stop(self) -> None:
        """Terminate the process (by its PID), kill it if it does not exit in time."""
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (by its PID), kill it if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def config_head() -> str:
    """The lines every test Mosquitto's configuration starts with."""
    # Started as root, Mosquitto would switch to its own user, who cannot read our
    # private temporary directory; stay whoever runs the tests.
    return (
        f"user {getpass.getuser()}\n"
        "per_listener_settings true\n"
        "persistence false\n"
        "log_dest stderr\n"
        # Readable times, to line the log up with a failing test's own output.
        "log_timestamp_format %H:%M:%S\n"
    )


def run_mosquitto(
    directory: Path,
    config: str,
    ports: dict[str, int],
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start Mosquitto with ``config`` (written to ``directory``, its log beside it) and
    wait until each of ``ports`` (by name) accepts; the process and the log. ``env`` adds
    to this process's environment. Raises AssertionError, with the log, when one does not
    within START_TIMEOUT (the process stopped)."""
    path = directory / "mosquitto.conf"
    path.write_text(config)
    log = directory / "mosquitto.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [require("mosquitto"), "-c", str(path)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
            env=None if env is None else {**os.environ, **env},
        )
    try:
        _wait_until_listening(process, ports, log)
    except BaseException:
        stop_process(process)
        raise
    return process, log


def start_broker(directory: Path, username: str, password: str, pki: Pki | None = None) -> Broker:
    """Start Mosquitto with every listener of :class:`Ports` and wait until all accept.

    ``directory`` receives the configuration, the password file and the log, and the PKI
    (in ``directory/pki``) unless one is given. Raises AssertionError when mosquitto,
    mosquitto_passwd or openssl is missing, or when a listener does not accept
    connections within START_TIMEOUT (with the broker's log in the message).
    """
    if pki is None:
        pki = make_pki(directory / "pki")
    passwords = directory / "passwords"
    subprocess.run(
        [require("mosquitto_passwd"), "-b", "-c", str(passwords), username, password],
        check=True,
        capture_output=True,
        timeout=STOP_TIMEOUT,
    )
    ports = Ports(*free_ports(len(dataclasses.fields(Ports))))
    process, log = run_mosquitto(directory, _config(ports, pki, passwords), ports.by_name())
    return Broker(process, ports, username, password, pki, log)


def _config(ports: Ports, pki: Pki, passwords: Path) -> str:
    def tls(cert: Path, key: Path) -> str:
        return f"certfile {cert}\nkeyfile {key}\ncafile {pki.ca_cert}\n"

    def listener(port: int, *settings: str) -> str:
        # per_listener_settings makes allow_anonymous a setting of each listener.
        return f"listener {port} 127.0.0.1\n" + "".join(settings)

    anonymous = "allow_anonymous true\n"
    # Mosquitto 2.0.11 ignores a websockets listener's bind address and listens on every
    # interface, IPv6 included, unless the listener is IPv4 only.
    websockets = "protocol websockets\nsocket_domain ipv4\n"
    good = tls(pki.server_cert, pki.server_key)
    return (
        config_head()
        + listener(ports.tcp, anonymous)
        + listener(ports.password, "allow_anonymous false\n", f"password_file {passwords}\n")
        + listener(ports.tls, anonymous, good)
        + listener(ports.tls_client_cert, anonymous, good, "require_certificate true\n")
        + listener(ports.tls_expired, anonymous, tls(pki.expired_cert, pki.expired_key))
        + listener(ports.tls_wrong_name, anonymous, tls(pki.wrong_name_cert, pki.wrong_name_key))
        + listener(ports.tls_self_signed, anonymous, tls(pki.self_signed_cert, pki.self_signed_key))
        + listener(
            ports.tls_intermediate,
            anonymous,
            tls(pki.intermediate_server_bundle, pki.intermediate_server_key),
        )
        # Mosquitto 2.0.11 fails with "Unable to start any listening sockets" when a
        # websockets listener is the only one; among others, as here, it starts.
        + listener(ports.ws, websockets, anonymous)
        + listener(ports.wss, websockets, anonymous, good)
    )


def _wait_until_listening(
    process: subprocess.Popen[bytes], ports: dict[str, int], log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for name, port in ports.items():
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"mosquitto did not start listening on {port} ({name}):\n"
                        f"{log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.02)
