"""A Mosquitto broker that a test starts on free loopback ports and stops by its PID.

Mosquitto is installed by setup.sh. Missing, it is a failure, not a skip: the
interoperability tests are how we know our bytes are what real peers send and read.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise AssertionError(f"{program} is not installed: run ./setup.sh")
    return path


@dataclass
class Broker:
    process: subprocess.Popen[bytes]
    anonymous_port: int
    password_port: int
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


def start_broker(directory: Path, username: str, password: str) -> Broker:
    """Mosquitto with an anonymous listener and one that checks a password, on 127.0.0.1."""
    passwords = directory / "passwords"
    subprocess.run(
        [require("mosquitto_passwd"), "-b", "-c", str(passwords), username, password],
        check=True,
        capture_output=True,
        timeout=STOP_TIMEOUT,
    )
    anonymous_port, password_port = free_port(), free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        # Started as root, Mosquitto would switch to its own user, who cannot read our
        # private temporary directory; stay whoever runs the tests.
        f"user {getpass.getuser()}\n"
        "per_listener_settings true\n"
        "persistence false\n"
        "log_dest stderr\n"
        f"listener {anonymous_port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"listener {password_port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {passwords}\n"
    )
    log = directory / "mosquitto.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [require("mosquitto"), "-c", str(config)], stdout=sink, stderr=subprocess.STDOUT
        )
    broker = Broker(process, anonymous_port, password_port, log)
    deadline = time.monotonic() + START_TIMEOUT
    for port in (anonymous_port, password_port):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    broker.stop()
                    raise AssertionError(
                        f"mosquitto did not start listening on {port}:\n{log.read_text()}"
                    ) from None
                time.sleep(0.02)
    return broker
