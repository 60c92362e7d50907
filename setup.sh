#!/usr/bin/env bash
# Sets up a fresh Debian machine for pco_wire and runs the demonstration (tests/demo.py):
# Mosquitto and its clients (the integration tests' broker), openssl (their throwaway
# certificates), Chromium (the tests open `bench --report` pages in it, headless), Squid
# and microsocks (the proxies the tests put in front of Mosquitto: HTTP CONNECT, SOCKS5), a
# virtual environment in .venv with pco_wire built in place (the Cython
# codec compiled) and the test and benchmark extras.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null \
    || ! command -v openssl >/dev/null || ! command -v chromium >/dev/null \
    || ! [ -x /usr/sbin/squid ] || ! command -v microsocks >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto mosquitto-clients openssl \
        chromium squid microsocks >/dev/null
fi
# Debian starts a system-wide broker on port 1883; the tests start their own on free
# ports and do not need it. So may Squid on port 3128: the tests start their own Squid
# (its own configuration, pid file and free ports) and never use that one.

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[ws,test,bench]"
# A regular install compiles the modules; an editable one leaves that to the first run,
# which cannot write them where PYTHONDONTWRITEBYTECODE is set, and every start-up pays.
.venv/bin/python -m compileall -q pco_wire
# Development needs the compiled codec (the suite tests both); a gateway install without a
# compiler falls back to the pure one, and `pip install -v` shows the line that says why.
if ! .venv/bin/python -c 'import pco_wire; print("pco_wire codec:", pco_wire.codec.IMPLEMENTATION); assert pco_wire.codec.IMPLEMENTATION == "cython"'; then
    echo "setup.sh: the compiled codec did not build; see why with: .venv/bin/python -m pip install -v -e ." >&2
    exit 1
fi

if [ "${1:-}" != "--no-demo" ]; then
    # The main job: a local Mosquitto with TCP, TLS, WebSocket and secure-WebSocket
    # listeners, and `python -m pco_wire test` against each of them.
    .venv/bin/python -m tests.demo
fi
