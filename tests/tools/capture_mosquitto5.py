"""Records what real mosquitto 2.0 peers send in MQTT 5.0, for the captured 5.0 rows of
tests/vectors.py.

Not part of the suite (pytest collects only test_*.py): run it by hand where mosquitto,
mosquitto_pub and mosquitto_passwd are installed::

    python tests/tools/capture_mosquitto5.py

Like capture_mosquitto.py (whose helpers it uses) it talks to 127.0.0.1 only, on ports
the kernel picks, and stops every process it starts by its PID. It prints one line per
capture: a label and the hex of the bytes received.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_mosquitto import (  # type: ignore[import-not-found]
    TIMEOUT,
    broker,
    capture_client,
    read_packet,
)

# The broker configuration of the CONNACK with properties: each line makes mosquitto
# announce a limit in its CONNACK (MQTT 5.0 §3.2.2.3).
LIMITS = "max_keepalive 30\nmax_packet_size 2000\nmax_qos 1\nretain_available false\n"


def connect5(
    client_id: bytes, flags: int = 0x02, properties: bytes = b"", tail: bytes = b""
) -> bytes:
    """A level-5 CONNECT laid out by hand (MQTT 5.0 §3.1), keep alive 60."""
    assert len(properties) < 128
    body = (
        b"\x00\x04MQTT\x05"
        + bytes((flags, 0, 60, len(properties)))
        + properties
        + len(client_id).to_bytes(2, "big")
        + client_id
        + tail
    )
    assert len(body) < 128
    return bytes((0x10, len(body))) + body


def reply(port: int, packet: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as conn:
        conn.sendall(packet)
        answer: bytes = read_packet(conn)
        return answer


def until_closed(conn: socket.socket) -> bytes:
    """Everything ``conn`` receives until the peer closes or resets it."""
    data = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def after_connack(port: int, packet: bytes) -> bytes:
    """What the broker sends after its CONNACK when ``packet`` follows our CONNECT."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as conn:
        conn.sendall(connect5(b"capture57"))
        read_packet(conn)
        conn.sendall(packet)
        return until_closed(conn)


def main() -> None:
    # mosquitto_pub's own level-5 CONNECT, with a session expiry interval and a user
    # property (-D connect ...).
    args = ["-V", "mqttv5", "-i", "capture51", "-t", "t", "-m", "x", "-k", "30"]
    args += ["-D", "connect", "session-expiry-interval", "60"]
    args += ["-D", "connect", "user-property", "site", "a"]
    print("mosquitto_pub -V mqttv5", capture_client(args).hex())

    with broker("allow_anonymous true\n") as port:
        print("rc 0 level 5", reply(port, connect5(b"capture52")).hex())
        # §3.2.2.3.7: an empty client identifier gets one assigned.
        print("assigned client identifier", reply(port, connect5(b"")).hex())
        # A second connection with the same client identifier takes the session over. The
        # first one may be told so with DISCONNECT 0x8E (§3.14.2.1); mosquitto 2.0.11
        # closes it without a packet (it queues the DISCONNECT, then closes at once).
        with socket.create_connection(("127.0.0.1", port), TIMEOUT) as first:
            first.sendall(connect5(b"capture53"))
            read_packet(first)
            with socket.create_connection(("127.0.0.1", port), TIMEOUT) as second:
                second.sendall(connect5(b"capture53"))
                read_packet(second)
                print("taken over", until_closed(first).hex() or "closed without a packet")

    with broker("allow_anonymous true\nmax_packet_size 100\n") as port:
        # What mosquitto closes a 5.0 connection with after a fault of the client's.
        too_large = b"\x30\x7f\x00\x01t\x00" + bytes(123)  # 129 bytes > 100
        print("packet too large", after_connack(port, too_large).hex())
        qos3 = b"\x36\x05\x00\x01t\x00x"  # PUBLISH QoS 3 (§3.3.1.2)
        print("publish qos 3", after_connack(port, qos3).hex())

    with broker(f"allow_anonymous true\n{LIMITS}") as port:
        # Session Expiry Interval 3600 (11) and Receive Maximum 20 (21) asked for.
        properties = b"\x11\x00\x00\x0e\x10\x21\x00\x14"
        print("rc 0 with limits", reply(port, connect5(b"capture54", properties=properties)).hex())

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", f"{folder}/passwords", "user", "pass"], check=True
        )
        # Started as root, mosquitto drops to its own user before it reads the password file.
        os.chmod(folder, 0o755)
        os.chmod(f"{folder}/passwords", 0o644)
        with broker(f"password_file {folder}/passwords\nallow_anonymous false\n") as port:
            wrong = b"\x00\x04user\x00\x05wrong"
            print("wrong password", reply(port, connect5(b"capture55", 0xC2, tail=wrong)).hex())
            print("no credentials", reply(port, connect5(b"capture56")).hex())


if __name__ == "__main__":
    main()
