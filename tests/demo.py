"""The README's main job: a local Mosquitto with TCP, TLS, WebSocket and secure-WebSocket
listeners, and ``python -m pco_wire test`` against each, then two failures explained.

Run by ``./setup.sh`` (or ``.venv/bin/python -m tests.demo``). The broker and its
throwaway certificates live in a temporary directory; the broker is stopped by its PID
at the end, whatever happens. Exits 0 when every connection that should work did and
every failure got the diagnosis it should.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.broker import start_broker

TIMEOUT = 30.0


def _run(title: str, args: list[str], expected: int) -> bool:
    command = [sys.executable, "-m", "pco_wire", "test", *args, "--response-timeout", "5"]
    print(f"\n== {title}\n$ python -m pco_wire test {shlex.join(args)}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    ok = done.returncode == expected
    print(f"(exit {done.returncode}{'' if ok else f', expected {expected}'})", flush=True)
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pco_wire-demo-") as directory:
        broker = start_broker(Path(directory), "gateway", "demo-password")
        try:
            ports, ca = broker.ports, ["--cafile", str(broker.pki.ca_cert)]
            results = [
                _run("MQTT over TCP", [f"mqtt://127.0.0.1:{ports.tcp}"], 0),
                _run("MQTT over TLS", [f"mqtts://localhost:{ports.tls}", *ca], 0),
                _run("MQTT over WebSocket", [f"ws://127.0.0.1:{ports.ws}/mqtt"], 0),
                _run("MQTT over secure WebSocket", [f"wss://localhost:{ports.wss}/mqtt", *ca], 0),
                _run(
                    "a failure: TLS spoken to the plain port",
                    [f"mqtts://localhost:{ports.tcp}", *ca],
                    4,
                ),
                _run(
                    "a failure: a certificate for another name",
                    [f"mqtts://127.0.0.1:{ports.tls_wrong_name}", *ca],
                    4,
                ),
            ]
        finally:
            broker.stop()
    print(f"\n{sum(results)} of {len(results)} behaved as expected")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
