# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled twin of ``_codec_py``: same names, signatures, bytes, packets and errors.

Valid input takes a C path. Anything else goes to the reference: input of an unusual
type (a str subclass, a memoryview) is simply handed over, and on a fault this module
asks the reference to decode or encode the same input, which raises the error. So both
implementations raise the same type, offset and message by construction; the shared
tests and the property tests check that they agree on what is a fault. Should the
reference accept what the fast path refused, that is our bug: AssertionError.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_AsLongAndOverflow
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_GET_LENGTH
from libc.string cimport memchr, memcpy

from pco_wire import _codec_py as _py
from pco_wire.errors import RemoteProtocolError
from pco_wire.packets import (
    CONNACKS,
    DISCONNECT,
    EMPTY_CONNECT_PROPERTIES,
    EMPTY_WILL_PROPERTIES,
    PINGREQ,
    PINGRESP,
    Connect,
    Disconnect,
    OtherPacket,
    PacketType,
    PingReq,
    PingResp,
    Will,
)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) noexcept
    PyObject* PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

DEFAULT_MAX_PACKET_SIZE = _py.DEFAULT_MAX_PACKET_SIZE

cdef object _Connect = Connect
cdef object _Will = Will
cdef object _OtherPacket = OtherPacket
cdef object _PingReq = PingReq
cdef object _PingResp = PingResp
cdef object _Disconnect = Disconnect
cdef object _PINGREQ = PINGREQ
cdef object _PINGRESP = PINGRESP
cdef object _DISCONNECT = DISCONNECT
cdef object _EMPTY_CONNECT_PROPERTIES = EMPTY_CONNECT_PROPERTIES
cdef object _EMPTY_WILL_PROPERTIES = EMPTY_WILL_PROPERTIES
cdef tuple _CONNACKS = CONNACKS
cdef tuple _TYPES = (None,) + tuple(PacketType)[:14] + (None,)
cdef bytes _PINGREQ_BYTES = b"\xc0\x00"
cdef bytes _PINGRESP_BYTES = b"\xd0\x00"
cdef bytes _DISCONNECT_BYTES = b"\xe0\x00"
cdef Py_ssize_t _LARGEST_PACKET = 5 + _py.MAX_REMAINING_LENGTH

# Fixed-header flags per type (MQTT 3.1.1 §2.2.2); -1: PUBLISH, checked for QoS 3 only.
cdef int[16] _REQUIRED_FLAGS
_REQUIRED_FLAGS[:] = [0, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0]
# Types this codec decodes into packet classes; the rest become OtherPacket.
cdef bint[16] _DECODED
_DECODED[:] = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]


class _Disagreement(AssertionError):
    pass


# Packets keep their fields in private slots (see packets.py). The compiled codec reads
# and writes those slots at their offsets in the object, as CPython's own slot
# descriptors do, instead of going through attribute lookups.

cdef Py_ssize_t[8] _CONNECT_SLOTS
cdef Py_ssize_t[5] _WILL_SLOTS
cdef Py_ssize_t[3] _OTHER_SLOTS


cdef void _slot_offsets(object cls, Py_ssize_t* offsets) except *:
    cdef Py_ssize_t i
    member = type(Connect.__dict__["_client_id"])
    for i, name in enumerate(cls._fields):  # the order of the fields arrays below
        descriptor = cls.__dict__["_" + name]
        assert type(descriptor) is member, f"{cls.__name__}.{name} is not a slot"
        offsets[i] = (<PyMemberDescrObject*>descriptor).d_member.offset


_slot_offsets(Connect, _CONNECT_SLOTS)
_slot_offsets(Will, _WILL_SLOTS)
_slot_offsets(OtherPacket, _OTHER_SLOTS)


cdef inline PyObject* _get(object packet, Py_ssize_t offset) noexcept:
    """A slot's value, borrowed; NULL if it was deleted."""
    return (<PyObject**>((<char*><PyObject*>packet) + offset))[0]


cdef object _packet(object cls, Py_ssize_t* offsets, Py_ssize_t size, PyObject** fields):
    """A new ``cls`` with its slots set to ``fields``, as its ``__init__`` would."""
    cdef PyObject* raw = PyType_GenericAlloc(<PyTypeObject*>cls, 0)
    cdef Py_ssize_t i
    if raw == NULL:
        raise MemoryError()
    packet = <object>raw
    Py_DECREF(packet)  # the cast above took a second reference
    for i in range(size):
        Py_INCREF(<object>fields[i])
        (<PyObject**>((<char*>raw) + offsets[i]))[0] = fields[i]
    return packet


# ---------------------------------------------------------------------------- encoding


def encode(packet):
    """Return the bytes of ``packet``.

    Raises InvalidPacket (a ValueError) naming the field that a client must never send
    as it is.
    """
    kind = type(packet)
    if kind is _Connect:
        data = _encode_connect(packet)
        if data is not None:
            return data
    elif kind is _PingReq:
        return _PINGREQ_BYTES
    elif kind is _Disconnect:
        return _DISCONNECT_BYTES
    elif kind is _PingResp:
        return _PINGRESP_BYTES
    return _py.encode(packet)


cdef inline bint _small_int(object value, long high, long* out):
    """True if ``value`` is exactly an int in 0..high."""
    cdef int overflow
    if type(value) is not int:
        return False
    out[0] = PyLong_AsLongAndOverflow(value, &overflow)
    return not overflow and 0 <= out[0] <= high


cdef inline const char* _text(object value, Py_ssize_t* size):
    """UTF-8 of an exact str that is a valid MQTT string, else NULL."""
    cdef const char* data
    if type(value) is not str:
        return NULL
    data = PyUnicode_AsUTF8AndSize(value, size)
    if data == NULL:  # a lone surrogate
        PyErr_Clear()
        return NULL
    if size[0] > 65535 or memchr(data, 0, size[0]) != NULL:
        return NULL
    return data


cdef inline char* _put_field(char* out, const char* data, Py_ssize_t size):
    out[0] = <char>(size >> 8)
    out[1] = <char>(size & 0xFF)
    memcpy(out + 2, data, size)
    return out + 2 + size


cdef object _encode_connect(object packet):
    """The bytes of a CONNECT, or None where the reference must decide."""
    cdef PyObject* fields[8]
    cdef Py_ssize_t i
    for i in range(8):
        fields[i] = _get(packet, _CONNECT_SLOTS[i])
        if fields[i] == NULL:
            return None
    if fields[7] != <PyObject*>_EMPTY_CONNECT_PROPERTIES:
        return None
    cdef object client_id = <object>fields[0], clean = <object>fields[1]
    cdef object username = <object>fields[3], password = <object>fields[4], will = <object>fields[5]
    cdef PyObject* will_fields[5]
    cdef long level = 0, keep_alive = 0, qos = 0
    cdef int flags
    cdef const char* id_data
    cdef const char* user_data = NULL
    cdef const char* topic_data = NULL
    cdef const char* message_data = NULL
    cdef const char* password_data = NULL
    cdef Py_ssize_t id_size, user_size = 0, topic_size = 0, message_size = 0, password_size = 0
    cdef Py_ssize_t length, total
    cdef char* out

    if not _small_int(<object>fields[6], 4, &level) or level < 3:
        return None
    if not _small_int(<object>fields[2], 65535, &keep_alive):
        return None
    if clean is True:
        flags = 0x02
    elif clean is False:
        flags = 0
    else:
        return None
    id_data = _text(client_id, &id_size)
    if id_data == NULL:
        return None
    if level == 3:
        if not 1 <= PyUnicode_GET_LENGTH(client_id) <= 23:
            return None
        length = 12 + 2 + id_size
    else:
        if id_size == 0 and flags == 0:
            return None
        length = 10 + 2 + id_size
    if will is not None:
        if type(will) is not _Will:
            return None
        for i in range(5):
            will_fields[i] = _get(will, _WILL_SLOTS[i])
            if will_fields[i] == NULL:
                return None
        if will_fields[4] != <PyObject*>_EMPTY_WILL_PROPERTIES:
            return None
        topic_data = _text(<object>will_fields[0], &topic_size)
        if topic_data == NULL or topic_size == 0:
            return None
        if memchr(topic_data, ord("+"), topic_size) != NULL or memchr(topic_data, ord("#"), topic_size) != NULL:
            return None
        message = <object>will_fields[1]
        if type(message) is not bytes or PyBytes_GET_SIZE(message) > 65535:
            return None
        message_data = PyBytes_AS_STRING(message)
        message_size = PyBytes_GET_SIZE(message)
        if not _small_int(<object>will_fields[2], 2, &qos):
            return None
        retain = <object>will_fields[3]
        if retain is True:
            flags |= 0x20
        elif retain is not False:
            return None
        flags |= 0x04 | (qos << 3)
        length += 4 + topic_size + message_size
    if username is not None:
        user_data = _text(username, &user_size)
        if user_data == NULL:
            return None
        flags |= 0x80
        length += 2 + user_size
    if password is not None:
        if username is None or type(password) is not bytes or PyBytes_GET_SIZE(password) > 65535:
            return None
        password_data = PyBytes_AS_STRING(password)
        password_size = PyBytes_GET_SIZE(password)
        flags |= 0x40
        length += 2 + password_size

    # At most five fields of 64 KiB: the Remaining Length takes one to three bytes.
    total = 1 + (1 if length < 128 else 2 if length < 16384 else 3) + length
    data = PyBytes_FromStringAndSize(NULL, total)
    out = PyBytes_AS_STRING(data)
    out[0] = 0x10
    out += 1
    while True:
        if length < 128:
            out[0] = <char>length
            out += 1
            break
        out[0] = <char>((length & 0x7F) | 0x80)
        out += 1
        length >>= 7
    if level == 4:
        memcpy(out, b"\x00\x04MQTT\x04", 7)
        out += 7
    else:
        memcpy(out, b"\x00\x06MQIsdp\x03", 9)
        out += 9
    out[0] = <char>flags
    out[1] = <char>(keep_alive >> 8)
    out[2] = <char>(keep_alive & 0xFF)
    out = _put_field(out + 3, id_data, id_size)
    if topic_data != NULL:
        out = _put_field(out, topic_data, topic_size)
        out = _put_field(out, message_data, message_size)
    if user_data != NULL:
        out = _put_field(out, user_data, user_size)
    if password_data != NULL:
        _put_field(out, password_data, password_size)
    return data


# ---------------------------------------------------------------------------- decoding


def decode(data, protocol_level=4):
    """Decode exactly one complete packet.

    ``protocol_level`` (3 or 4) says how to read a CONNACK; a CONNECT says its own level.
    Raises MalformedPacket when ``data`` is incomplete, has bytes after the packet, or
    breaks the specification; UnsupportedProtocol for a CONNECT of another level;
    InvalidPacket for a ``protocol_level`` other than 3 or 4.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t size, pos, need = 0, fault = -1
    cdef list out = []
    if type(protocol_level) is not int or not (protocol_level == 3 or protocol_level == 4):
        return _py.decode(data, protocol_level)
    if type(data) is bytes:
        p = <const unsigned char*>PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    elif type(data) is bytearray:
        p = <const unsigned char*>PyByteArray_AS_STRING(data)
        size = PyByteArray_GET_SIZE(data)
    else:
        return _py.decode(data, protocol_level)
    pos = _frame(p, 0, size, out, _LARGEST_PACKET, protocol_level, 1, &need, &fault)
    if fault < 0 and pos == size and len(out) == 1:
        return out[0]
    _py.decode(data, protocol_level)
    raise _Disagreement(f"the reference decodes what the compiled codec refused: {bytes(data)[:64].hex()}")


cdef Py_ssize_t _frame(
    const unsigned char* p,
    Py_ssize_t pos,
    Py_ssize_t end,
    list out,
    Py_ssize_t limit,
    int level,
    Py_ssize_t count,
    Py_ssize_t* need,
    Py_ssize_t* fault,
) except -1:
    """Append up to ``count`` packets from ``p[pos:end]`` to ``out``; see ``_py._frame``.

    Returns the position after the last packet; ``need`` gets how many bytes the next
    packet needs at least, ``fault`` the start of a packet the reference must judge.
    """
    cdef unsigned char first, digit
    cdef Py_ssize_t length, index, size
    cdef int shift
    cdef object packet
    while count and pos < end:
        first = p[pos]
        if pos + 1 >= end:
            need[0] = 2
            return pos
        digit = p[pos + 1]
        length = digit & 0x7F
        index = pos + 2
        shift = 0
        while digit & 0x80:
            if index - pos == 5:
                fault[0] = pos
                return pos
            if index >= end:
                need[0] = index - pos + 1
                return pos
            digit = p[index]
            index += 1
            shift += 7
            length |= <Py_ssize_t>(digit & 0x7F) << shift
        size = index - pos + length
        if size > limit:
            fault[0] = pos
            return pos
        if end - pos < size:
            if _header_fault(first, length, level):
                # Known before the body: see ``_py._frame``.
                fault[0] = pos
            else:
                need[0] = size
            return pos
        # The packets a client receives most, decided inline.
        if first == 0xD0 and length == 0:
            packet = _PINGRESP
        elif first == 0x20 and length == 2:
            packet = _connack(p[index], p[index + 1], level)
        else:
            packet = _decode_body(first, p, index, index + length, level)
        if packet is None:
            fault[0] = pos
            return pos
        PyList_Append(out, packet)
        pos = index + length
        count -= 1
    need[0] = 2
    return pos


cdef bint _header_fault(unsigned char first, Py_ssize_t length, int level):
    """Whether a fixed header is refused before its body: see ``_py._refuse_header``.
    Off the hot path: it runs only when a chunk ends inside a packet's body."""
    cdef int kind = first >> 4, flags = first & 0x0F
    cdef int required = _REQUIRED_FLAGS[kind]
    if kind == 0 or kind == 15:
        return True
    if required < 0:
        return flags & 0x06 == 0x06
    if flags != required and (level == 4 or _DECODED[kind]):
        return True
    if kind == 2:
        return length != 2
    if kind >= 12:
        return length != 0
    return False


cdef inline object _connack(unsigned char ack, unsigned char code, int level):
    if code > 5:
        return None
    if level == 3:
        return _CONNACKS[code]
    if ack > 1 or (ack and code):
        return None
    return _CONNACKS[6 if ack else code]


cdef object _decode_body(unsigned char first, const unsigned char* p, Py_ssize_t start, Py_ssize_t end, int level):
    cdef int kind = first >> 4, flags = first & 0x0F
    cdef int required = _REQUIRED_FLAGS[kind]
    if kind == 0 or kind == 15:
        return None
    if required < 0:
        if flags & 0x06 == 0x06:
            return None
    elif flags != required and (level == 4 or _DECODED[kind]):
        return None
    cdef PyObject* fields[3]
    cdef object packet_type, flag_bits, body
    if not _DECODED[kind]:
        packet_type = _TYPES[kind]
        flag_bits = flags
        body = PyBytes_FromStringAndSize(<const char*>p + start, end - start)
        fields[0] = <PyObject*>packet_type
        fields[1] = <PyObject*>flag_bits
        fields[2] = <PyObject*>body
        return _packet(_OtherPacket, _OTHER_SLOTS, 3, fields)
    if kind == 1:
        return _decode_connect(p, start, end)
    if kind == 2:
        return _connack(p[start], p[start + 1], level) if end - start == 2 else None
    if end != start:
        return None
    return _PINGRESP if kind == 13 else _PINGREQ if kind == 12 else _DISCONNECT


cdef object _decode_connect(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end):
    cdef Py_ssize_t size
    cdef int level, flags
    cdef object client_id, username = None, password = None, will = None, topic, message
    cdef PyObject* fields[8]
    cdef object keep_alive, qos, retain, clean, protocol_level
    if end - pos < 2:
        return None
    size = p[pos] << 8 | p[pos + 1]
    if size == 4 and end - pos >= 10 and memcmp4(p + pos + 2, b"MQTT"):
        level = 4
    elif size == 6 and end - pos >= 12 and memcmp4(p + pos + 2, b"MQIs") and p[pos + 6] == ord("d") and p[pos + 7] == ord("p"):
        level = 3
    else:
        return None
    pos += 2 + size
    if p[pos] != level:
        return None
    flags = p[pos + 1]
    if flags & 0x01 or (flags & 0x18) == 0x18:
        return None
    if not flags & 0x04 and flags & 0x38:
        return None
    if flags & 0x40 and not flags & 0x80:
        return None
    keep_alive = p[pos + 2] << 8 | p[pos + 3]
    pos += 4
    client_id = _read_string(p, &pos, end)
    if client_id is None:
        return None
    if flags & 0x04:
        topic = _read_string(p, &pos, end)
        if topic is None:
            return None
        message = _read_bytes(p, &pos, end)
        if message is None:
            return None
        qos = (flags >> 3) & 0x03
        retain = bool(flags & 0x20)
        fields[0] = <PyObject*>topic
        fields[1] = <PyObject*>message
        fields[2] = <PyObject*>qos
        fields[3] = <PyObject*>retain
        fields[4] = <PyObject*>_EMPTY_WILL_PROPERTIES
        will = _packet(_Will, _WILL_SLOTS, 5, fields)
    if flags & 0x80:
        username = _read_string(p, &pos, end)
        if username is None:
            return None
    if flags & 0x40:
        password = _read_bytes(p, &pos, end)
        if password is None:
            return None
    if pos != end:
        return None
    clean = bool(flags & 0x02)
    protocol_level = level
    fields[0] = <PyObject*>client_id
    fields[1] = <PyObject*>clean
    fields[2] = <PyObject*>keep_alive
    fields[3] = <PyObject*>username
    fields[4] = <PyObject*>password
    fields[5] = <PyObject*>will
    fields[6] = <PyObject*>protocol_level
    fields[7] = <PyObject*>_EMPTY_CONNECT_PROPERTIES
    return _packet(_Connect, _CONNECT_SLOTS, 8, fields)


cdef inline bint memcmp4(const unsigned char* a, const char* b):
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


cdef object _read_bytes(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t end):
    cdef Py_ssize_t at = pos[0], size
    if end - at < 2:
        return None
    size = p[at] << 8 | p[at + 1]
    at += 2
    if end - at < size:
        return None
    pos[0] = at + size
    return PyBytes_FromStringAndSize(<const char*>p + at, size)


cdef object _read_string(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t end):
    cdef Py_ssize_t at = pos[0], size
    if end - at < 2:
        return None
    size = p[at] << 8 | p[at + 1]
    at += 2
    if end - at < size or memchr(p + at, 0, size) != NULL:
        return None
    try:
        # Strict: refuses ill-formed sequences, surrogates and overlong forms.
        text = PyUnicode_DecodeUTF8(<const char*>p + at, size, NULL)
    except UnicodeDecodeError:
        return None
    pos[0] = at + size
    return text


# ---------------------------------------------------------------------------- framing


cdef class Framer:
    """Cuts a byte stream into packets.

    ``feed(data)`` returns the packets completed by ``data``; a partial packet is kept
    for the next call. ``max_packet_size`` counts the whole packet, fixed header
    included, and is checked as soon as a header is complete, before its body is waited
    for. Errors carry offsets counted from the first byte ever fed.

    A fault loses no packet that arrived whole before it: the call that meets it returns
    those packets and keeps the fault in ``error`` (or raises it at once when there are
    none). From then on every call raises it again, ``feed(b"")`` included: the stream
    cannot be resynchronised, and nothing after the fault is read.
    """

    cdef bytearray _buffer
    cdef Py_ssize_t _need
    cdef Py_ssize_t _consumed
    cdef Py_ssize_t _limit
    cdef int _level
    cdef object _error

    def __init__(self, max_packet_size=DEFAULT_MAX_PACKET_SIZE, protocol_level=4):
        """Raises InvalidPacket for a ``protocol_level`` other than 3 or 4 or a
        ``max_packet_size`` below 2 (the smallest packet)."""
        _py._check_level(protocol_level)
        self._limit = _py._check_int(max_packet_size, 2, 1 << 62, "max_packet_size")
        self._level = protocol_level
        self._buffer = bytearray()
        self._need = 0
        self._consumed = 0
        self._error = None

    @property
    def max_packet_size(self):
        return self._limit

    @property
    def protocol_level(self):
        return self._level

    @property
    def buffered(self):
        """How many bytes of an incomplete packet are held (none after a fault)."""
        return PyByteArray_GET_SIZE(self._buffer)

    @property
    def error(self):
        """The fault the stream met, which every later ``feed`` raises; None before."""
        return self._error

    def feed(self, data):
        """Return the packets ``data`` completes, in order.

        When the stream breaks the specification, returns the packets completed before
        the fault and raises it on the next call, or at once if there are none; later
        calls raise it again. Raises MalformedPacket, PacketTooLarge or
        UnsupportedProtocol.
        """
        cdef bytearray buffer = self._buffer
        cdef object buf
        cdef const unsigned char* p
        cdef Py_ssize_t size, pos, need = 0, fault = -1
        cdef list out = []
        if self._error is not None:
            raise self._error
        if PyByteArray_GET_SIZE(buffer):
            buffer += data
            if PyByteArray_GET_SIZE(buffer) < self._need:
                return out
            buf = buffer
            p = <const unsigned char*>PyByteArray_AS_STRING(buffer)
            size = PyByteArray_GET_SIZE(buffer)
        else:
            if type(data) is bytearray:
                buf = data
                p = <const unsigned char*>PyByteArray_AS_STRING(buf)
                size = PyByteArray_GET_SIZE(buf)
            else:
                buf = data if type(data) is bytes else bytes(data)
                p = <const unsigned char*>PyBytes_AS_STRING(buf)
                size = PyBytes_GET_SIZE(buf)
        pos = _frame(p, 0, size, out, self._limit, self._level, -1, &need, &fault)
        if fault >= 0:
            self._fail(buf, fault, size)
            del buffer[:]  # nothing after the fault is read
            if not out:
                raise self._error
            return out  # the packets completed before the fault
        if buf is buffer:
            del buffer[:pos]
        elif pos < size:
            buffer += buf[pos:]
        self._need = need
        self._consumed += pos
        return out

    cdef _fail(self, object buf, Py_ssize_t fault, Py_ssize_t size):
        """Keep the error the reference raises for the packet at ``fault``."""
        try:
            _py._frame(buf, fault, size, [], self._limit, self._level, 1)
        except RemoteProtocolError as exc:
            exc._shift(self._consumed)
            self._error = exc
            return
        raise _Disagreement(
            f"the reference frames what the compiled codec refused: {bytes(buf[fault:fault + 64]).hex()}"
        )
