"""Records the bytes real mosquitto 2.0 peers send, for the captured rows of tests/vectors.py.

Not part of the suite (pytest collects only test_*.py): run it by hand where mosquitto,
mosquitto_pub and mosquitto_passwd are installed::

    python tests/tools/capture_mosquitto.py

It talks to 127.0.0.1 only, on ports the kernel picks, and stops every process it starts
by its PID. It prints one line per capture: a label and the hex of the bytes received.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_packet(conn: socket.socket) -> bytes:
    """One whole MQTT packet: fixed header, Remaining Length (MQTT 3.1.1 §2.2.3), body."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if len(data) >= 2:
            length = shift = 0
            for index in range(1, min(len(data), 5)):
                length |= (data[index] & 0x7F) << shift
                shift += 7
                if data[index] < 0x80:
                    if len(data) >= index + 1 + length:
                        return data[: index + 1 + length]
                    break
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    raise RuntimeError(f"no complete packet, got {data.hex()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


def capture_client(args: list[str]) -> bytes:
    """The first packet mosquitto_pub sends to a listening socket that never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(TIMEOUT)
        port = server.getsockname()[1]
        client = subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                return read_packet(conn)
        finally:
            stop(client)


@contextmanager
def broker(config: str) -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mosquitto.conf")
        with open(path, "w") as file:
            file.write(f"listener {port} 127.0.0.1\n{config}")
        process = subprocess.Popen(
            ["mosquitto", "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield port
        finally:
            stop(process)


def exchange(port: int, *packets: bytes, tls: bool = False) -> bytes:
    """Send CONNECT packets on fresh connections; return the first reply to the last."""
    reply = b""
    for packet in packets:
        with socket.create_connection(("127.0.0.1", port), TIMEOUT) as conn:
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                with context.wrap_socket(conn) as secure:
                    secure.sendall(packet)
                    reply = read_packet(secure)
            else:
                conn.sendall(packet)
                reply = read_packet(conn)
    return reply


def connect(
    client_id: bytes,
    flags: int,
    *,
    level: int = 4,
    name: bytes = b"MQTT",
    tail: bytes = b"",
) -> bytes:
    """A CONNECT laid out by hand (MQTT 3.1.1 §3.1), keep alive 60."""
    body = (
        len(name).to_bytes(2, "big")
        + name
        + bytes((level, flags, 0, 60))
        + len(client_id).to_bytes(2, "big")
        + client_id
        + tail
    )
    assert len(body) < 128
    return bytes((0x10, len(body))) + body


def main() -> None:
    for label, args in (
        ("mosquitto_pub -V mqttv311", ["-V", "mqttv311"]),
        ("mosquitto_pub -V mqttv31", ["-V", "mqttv31"]),
    ):
        common = ["-i", "capture1", "-t", "t", "-m", "x", "-k", "30", "-u", "user", "-P", "pass"]
        print(label, capture_client([*common, *args]).hex())

    with broker("allow_anonymous true\n") as port:
        print("rc 0", exchange(port, connect(b"capture2", 0x02)).hex())
        # The second connection of a client without clean session finds its session.
        persistent = connect(b"capture3", 0x00)
        print("rc 0 session present", exchange(port, persistent, persistent).hex())
        print(
            "rc 0 level 3",
            exchange(port, connect(b"capture4", 0x02, level=3, name=b"MQIsdp")).hex(),
        )
        print("rc 1", exchange(port, connect(b"capture5", 0x02, level=99)).hex())
        print("rc 2", exchange(port, connect(b"", 0x00)).hex())

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", f"{folder}/passwords", "user", "pass"], check=True
        )
        # Started as root, mosquitto drops to its own user before it reads the password file.
        os.chmod(folder, 0o755)
        os.chmod(f"{folder}/passwords", 0o644)
        with broker(f"password_file {folder}/passwords\nallow_anonymous false\n") as port:
            user_wrong_pass = b"\x00\x04user\x00\x05wrong"
            print(
                "wrong password",
                exchange(port, connect(b"capture6", 0xC2, tail=user_wrong_pass)).hex(),
            )
            print("no credentials", exchange(port, connect(b"capture7", 0x02)).hex())
            user_pass = b"\x00\x04user\x00\x04pass"
            print(
                "right password", exchange(port, connect(b"capture8", 0xC2, tail=user_pass)).hex()
            )

    # mosquitto 2.0 answers wrong credentials with 5 (above); it sends 4, bad user name or
    # password, when a TLS listener takes the user name from a client certificate and the
    # client presented none.
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
                f"{folder}/key.pem",
                "-out",
                f"{folder}/cert.pem",
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        os.chmod(folder, 0o755)
        os.chmod(f"{folder}/key.pem", 0o644)
        tls = (
            f"certfile {folder}/cert.pem\nkeyfile {folder}/key.pem\nrequire_certificate false\n"
            "use_identity_as_username true\nallow_anonymous true\n"
        )
        with broker(tls) as port:
            print(
                "no client certificate", exchange(port, connect(b"capture9", 0x02), tls=True).hex()
            )


if __name__ == "__main__":
    main()
