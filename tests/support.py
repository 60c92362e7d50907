"""What the codec tests share: the two implementations, typed, and exact comparisons.

Both codec modules are loaded here, by name, so that a test can use either one whatever
``pco_wire.codec`` selected. A compiled codec that cannot be imported is a failure when
``PCO_WIRE_EXPECT_COMPILED=1`` (CI builds it, so it must be there) and a skip otherwise.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeAlias, cast

import pytest

from pco_wire import (
    ConnAck,
    Connect,
    Disconnect,
    Error,
    OtherPacket,
    PingReq,
    PingResp,
    RemoteProtocolError,
    Will,
)
from pco_wire._codec_py import Packet
from pco_wire.packets import (
    Auth,
    AuthProperties,
    ConnAckProperties,
    ConnectProperties,
    DisconnectProperties,
    WillProperties,
)

__all__ = [
    "BENCH_CATEGORY_KEYS",
    "BENCH_JSON_KEYS",
    "BENCH_PLAN_KEYS",
    "BENCH_STATS_KEYS",
    "FIELD_NAMES",
    "IMPLEMENTATIONS",
    "JSON_KEYS",
    "PHASES",
    "PHASE_KEYS",
    "SERVERS_JSON_KEYS",
    "TLS_KEYS",
    "Codec",
    "FramerLike",
    "Outcome",
    "Packet",
    "compiled_expected",
    "fields",
    "load_codec",
    "outcome",
    "pure_forced",
    "readme_table",
]

#: The id of each implementation and the module that holds it.
IMPLEMENTATIONS = {"python": "pco_wire._codec_py", "cython": "pco_wire._codec"}


class FramerLike(Protocol):
    @property
    def buffered(self) -> int: ...

    @property
    def max_packet_size(self) -> int: ...

    @property
    def protocol_level(self) -> int: ...

    @property
    def error(self) -> RemoteProtocolError | None: ...

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]: ...


class Codec(Protocol):
    """Either codec module. Arguments are ``object`` so tests may pass wrong types."""

    __name__: str
    DEFAULT_MAX_PACKET_SIZE: int

    def encode(self, packet: object) -> bytes: ...

    def decode(self, data: object, protocol_level: object = 4) -> Packet: ...

    def Framer(self, max_packet_size: object = ..., protocol_level: object = ...) -> FramerLike: ...


def _flag(name: str) -> bool:
    # The convention of pco_wire.codec: unset, "" and "0" are off.
    return os.environ.get(name, "") not in ("", "0")


def compiled_expected() -> bool:
    return _flag("PCO_WIRE_EXPECT_COMPILED")


def pure_forced() -> bool:
    return _flag("PCO_WIRE_PURE")


def load_codec(name: str) -> Codec:
    """The codec module called ``name`` ("python" or "cython"); fails or skips as above."""
    try:
        module = importlib.import_module(IMPLEMENTATIONS[name])
    except ImportError as exc:
        if name == "python":
            raise
        if compiled_expected():
            pytest.fail(
                f"PCO_WIRE_EXPECT_COMPILED=1 but the compiled codec does not import ({exc}); "
                "build it: python setup.py build_ext --inplace",
                pytrace=False,
            )
        pytest.skip(
            f"compiled codec not built ({exc}); build it with "
            "'python setup.py build_ext --inplace' (PCO_WIRE_EXPECT_COMPILED=1 fails instead)"
        )
    return cast(Codec, module)


#: The public fields of each packet class, in constructor order.
FIELD_NAMES: dict[type, tuple[str, ...]] = {
    Connect: (
        "client_id",
        "clean_session",
        "keep_alive",
        "username",
        "password",
        "will",
        "protocol_level",
        "properties",
    ),
    Will: ("topic", "message", "qos", "retain", "properties"),
    ConnAck: ("session_present", "return_code", "properties"),
    PingReq: (),
    PingResp: (),
    Disconnect: ("reason_code", "properties"),
    Auth: ("reason_code", "properties"),
    OtherPacket: ("packet_type", "flags", "body"),
    # MQTT 5.0 properties: every field, so a bool is not taken for 1 nor a list for a tuple.
    **{
        cls: cls._fields
        for cls in (
            ConnectProperties,
            WillProperties,
            ConnAckProperties,
            DisconnectProperties,
            AuthProperties,
        )
    },
}


def fields(value: object) -> object:
    """``value`` with the type of every packet field spelled out.

    Packet equality compares field values, so ``ConnAck(1, 0) == ConnAck(True,
    ConnAckCode(0))`` and ``OtherPacket(3, 0, b"") == OtherPacket(PacketType.PUBLISH, 0,
    b"")``. Comparing ``fields(a) == fields(b)`` also demands the same types: bool, not
    int; the enum, not a bare int; bytes, not bytearray.
    """
    names = FIELD_NAMES.get(type(value))
    if names is not None:
        return (type(value), tuple((name, fields(getattr(value, name))) for name in names))
    if isinstance(value, list):
        return [fields(item) for item in value]
    if type(value) is tuple:  # user properties: pairs of str
        return (tuple, tuple(fields(item) for item in value))
    return (type(value), value)


#: What one call came to: ("ok", result) or ("error", type, offset or field, message).
Outcome: TypeAlias = tuple[object, ...]


def outcome(call: Callable[[], object]) -> Outcome:
    """Run ``call``; describe its result or pco_wire error so two codecs can be compared.

    Any exception that is not a pco_wire.Error propagates: the codecs must raise nothing
    else for any bytes, and a test that meets one fails with its traceback.
    """
    try:
        result = call()
    except RemoteProtocolError as exc:
        return ("error", type(exc), exc.offset, exc.reason, str(exc), exc.args)
    except Error as exc:
        return ("error", type(exc), getattr(exc, "field", None), str(exc), exc.args)
    return ("ok", fields(result))


# The documented `--json` document of `test` (README, "JSON"), stated once for the tests.
JSON_KEYS = {
    "ok",
    "exit_code",
    "category",
    "message",
    "uri",
    "client_id",
    "return_code",
    "return_code_text",
    "session_present",
    "address",
    "phases",
    "tls",
    "other_packets",
    "other_packet_count",
    "warnings",
    "protocol",
    "properties",
}
PHASE_KEYS = {"name", "seconds", "ok", "detail"}
# `test --json` of several servers (README, "Several servers"): the outcome, and each
# server's document (JSON_KEYS) in ``servers``, in the order tested.
SERVERS_JSON_KEYS = {
    "ok",
    "exit_code",
    "category",
    "message",
    "any",
    "accepted",
    "warnings",
    "servers",
}

# The documented `bench --json` document (README, "bench"), stated once for the tests.
BENCH_JSON_KEYS = {
    "ok",
    "exit_code",
    "category",
    "message",
    "uri",
    "loop",
    "stopped_by",
    "plan",
    "attempts",
    "connected",
    "failed",
    "cancelled",
    "not_started",
    "lost",
    "held",
    "failures",
    "losses",
    "limits",
    "connect_seconds",
    "pingresp_seconds",
    "tls_handshake_seconds",
    "tls_sessions_offered",
    "connect_buckets",
    "pingresp_buckets",
    "tls_handshake_buckets",
    "timeline",
    "packets",
    "rate",
    "seconds",
    "cpu_seconds",
    "cpu_seconds_per_connection",
    "rss_bytes",
    "rss_bytes_per_connection",
    "warnings",
}
BENCH_PLAN_KEYS = {
    "connections",
    "rate",
    "concurrency",
    "duration",
    "ping_interval",
    "keep_alive",
    "clean_session",
    "protocol",
    "response_timeout",
    "client_id_prefix",
    "start_number",
    "source",
    "workers",
    "tls_resume",
    "servers",
}
#: Each histogram of `bench --json`, in seconds.
BENCH_STATS_KEYS = {"count", "min", "p50", "p90", "p99", "p99_9", "max", "mean"}
BENCH_CATEGORY_KEYS = {"category", "count", "exit_code", "example"}
TLS_KEYS = {"version", "cipher", "alpn", "subject", "issuer", "not_after"}

#: The phases of a successful test connection, by scheme, in order.
PHASES = {
    "mqtt": ["name resolution", "TCP connect", "CONNACK", "DISCONNECT"],
    "mqtts": ["name resolution", "TCP connect", "TLS handshake", "CONNACK", "DISCONNECT"],
    "ws": ["name resolution", "TCP connect", "WebSocket upgrade", "CONNACK", "DISCONNECT"],
    "wss": [
        "name resolution",
        "TCP connect",
        "TLS handshake",
        "WebSocket upgrade",
        "CONNACK",
        "DISCONNECT",
    ],
}


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_table(heading: str) -> list[list[str]]:
    """The rows of the first table below the README heading ``heading`` (e.g. "###
    Diagnoses"), each a list of its cells without their backquotes: what the README
    documents, for a test to hold against the code that states it once."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table below {heading!r} in the README"
    return rows[2:]  # past the header and the |---| line
