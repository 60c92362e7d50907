"""Phase times of ``test`` through the real proxies against direct, for README's
"Proxies".

Not part of the suite (pytest collects only test_*.py): run it by hand where Mosquitto,
Squid and microsocks are installed (setup.sh), from the repository root::

    .venv/bin/python -m tests.tools.proxy_phases

It starts the tests' Mosquitto (tests/broker.py) and proxies (tests/proxies.py) on free
loopback ports, runs ``pco_wire.test_connection`` 9 times for each scheme and route, and
prints the median of each phase and of their sum (DISCONNECT and name resolution left
out), then stops every process by its PID.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import pco_wire
from pco_wire import Security, Settings
from tests.broker import start_broker
from tests.proxies import PROXY_PASSWORD, PROXY_USER, start_proxies

RUNS = 9
_LEFT_OUT = ("name resolution", "DISCONNECT")


def main() -> None:
    broker = start_broker(Path(tempfile.mkdtemp()), "gateway", "pw-test-0451")
    proxies = start_proxies()
    try:
        ports = broker.ports
        schemes = {"mqtt": ports.tcp, "mqtts": ports.tls, "ws": ports.ws, "wss": ports.wss}
        login = f"{PROXY_USER}:{PROXY_PASSWORD}@"
        routes = {
            "direct": None,
            "squid": f"http://127.0.0.1:{proxies.http}",
            "squid-auth": f"http://{login}127.0.0.1:{proxies.http_auth}",
            "microsocks": f"socks5://127.0.0.1:{proxies.socks}",
            "microsocks-auth": f"socks5h://{login}127.0.0.1:{proxies.socks_auth}",
        }
        for scheme, port in schemes.items():
            tls = scheme in ("mqtts", "wss")
            security = Security(cafile=str(broker.pki.ca_cert)) if tls else None
            for name, proxy in routes.items():
                settings = Settings(f"{scheme}://127.0.0.1:{port}", security=security, proxy=proxy)
                runs = []
                for _ in range(RUNS):
                    result = pco_wire.test_connection(settings)
                    assert result.ok, result.message
                    runs.append({str(p.name): p.seconds * 1000 for p in result.phases})
                keys = [key for key in runs[0] if key not in _LEFT_OUT]
                total = statistics.median(sum(run[key] for key in keys) for run in runs)
                phases = "  ".join(
                    f"{key} {statistics.median(run[key] for run in runs):.1f}" for key in keys
                )
                print(f"{scheme:6} {name:16} total {total:6.1f} ms  {phases}", flush=True)
    finally:
        proxies.stop()
        broker.stop()


if __name__ == "__main__":
    main()
