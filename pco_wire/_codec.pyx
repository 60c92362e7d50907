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
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_GET_LENGTH
from libc.string cimport memchr, memcpy

from pco_wire import _codec_py as _py
from pco_wire.errors import RemoteProtocolError
from pco_wire.packets import (
    CONNACKS,
    DISCONNECT,
    EMPTY_AUTH_PROPERTIES,
    EMPTY_CONNACK_PROPERTIES,
    EMPTY_CONNECT_PROPERTIES,
    EMPTY_DISCONNECT_PROPERTIES,
    EMPTY_WILL_PROPERTIES,
    PINGREQ,
    PINGRESP,
    PROPERTIES,
    Auth,
    AuthProperties,
    ConnAck,
    ConnAckProperties,
    Connect,
    ConnectProperties,
    Disconnect,
    DisconnectProperties,
    OtherPacket,
    PacketType,
    PingReq,
    PingResp,
    Will,
    WillProperties,
)
from pco_wire.reasons import REASONS, ReasonCode

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
cdef object _EMPTY_CONNACK_PROPERTIES = EMPTY_CONNACK_PROPERTIES
cdef object _EMPTY_DISCONNECT_PROPERTIES = EMPTY_DISCONNECT_PROPERTIES
cdef object _EMPTY_AUTH_PROPERTIES = EMPTY_AUTH_PROPERTIES
cdef object _ConnectProperties = ConnectProperties
cdef object _WillProperties = WillProperties
cdef object _ConnAckProperties = ConnAckProperties
cdef object _DisconnectProperties = DisconnectProperties
cdef object _AuthProperties = AuthProperties
cdef object _ConnAck = ConnAck
cdef object _Auth = Auth
cdef object _NORMAL_DISCONNECTION = ReasonCode.NORMAL_DISCONNECTION
cdef object _AUTH_SUCCESS = ReasonCode.SUCCESS
cdef tuple _CONNACKS = CONNACKS
cdef tuple _TYPES = (None,) + tuple(PacketType)[:14] + (None,)
cdef bytes _PINGREQ_BYTES = b"\xc0\x00"
cdef bytes _PINGRESP_BYTES = b"\xd0\x00"
cdef bytes _DISCONNECT_BYTES = b"\xe0\x00"
cdef Py_ssize_t _MAX_REMAINING_LENGTH = _py.MAX_REMAINING_LENGTH
cdef Py_ssize_t _LARGEST_PACKET = 5 + _MAX_REMAINING_LENGTH

# Fixed-header flags per type (MQTT 3.1.1 §2.2.2); -1: PUBLISH, checked for QoS 3 only.
cdef int[16] _REQUIRED_FLAGS
_REQUIRED_FLAGS[:] = [0, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0]
# Types this codec decodes into packet classes; the rest become OtherPacket.
cdef bint[16] _DECODED
_DECODED[:] = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]


class _Disagreement(AssertionError):
    pass


# What a fast path returns for input it leaves to the reference: not a fault, just
# something rare (MQTT 5.0 beyond the common packets) that the reference decodes, or
# refuses with its own error.
cdef object _DEFER = object()


# Packets keep their fields in private slots (see packets.py). The compiled codec reads
# and writes those slots at their offsets in the object, as CPython's own slot
# descriptors do, instead of going through attribute lookups.

cdef Py_ssize_t[8] _CONNECT_SLOTS
cdef Py_ssize_t[5] _WILL_SLOTS
cdef Py_ssize_t[3] _OTHER_SLOTS
cdef Py_ssize_t[3] _CONNACK_SLOTS
cdef Py_ssize_t[2] _DISCONNECT_SLOTS
cdef Py_ssize_t[2] _AUTH_SLOTS
cdef Py_ssize_t[9] _CONNECT_PROPERTIES_SLOTS
cdef Py_ssize_t[7] _WILL_PROPERTIES_SLOTS
cdef Py_ssize_t[17] _CONNACK_PROPERTIES_SLOTS
cdef Py_ssize_t[4] _DISCONNECT_PROPERTIES_SLOTS
cdef Py_ssize_t[4] _AUTH_PROPERTIES_SLOTS


cdef void _slot_offsets(object cls, Py_ssize_t* offsets) except *:
    cdef Py_ssize_t i
    member = type(Connect.__dict__["_client_id"])
    for i, name in enumerate(cls._fields):  # the order of the fields arrays below
        descriptor = cls.__dict__["_" + name]
        assert type(descriptor) is member, f"{cls.__name__}.{name} is not a slot"
        offsets[i] = (<PyMemberDescrObject*>descriptor).d_member.offset


cdef void _check_fields(object cls, Py_ssize_t size) except *:
    assert len(cls._fields) == size, f"{cls.__name__} has {len(cls._fields)} fields, not {size}"


_check_fields(Connect, 8)
_check_fields(Will, 5)
_check_fields(OtherPacket, 3)
_check_fields(ConnAck, 3)
_check_fields(Disconnect, 2)
_check_fields(Auth, 2)
_check_fields(ConnectProperties, 9)
_check_fields(WillProperties, 7)
_check_fields(ConnAckProperties, 17)
_check_fields(DisconnectProperties, 4)
_check_fields(AuthProperties, 4)
_slot_offsets(Connect, _CONNECT_SLOTS)
_slot_offsets(Will, _WILL_SLOTS)
_slot_offsets(OtherPacket, _OTHER_SLOTS)
_slot_offsets(ConnAck, _CONNACK_SLOTS)
_slot_offsets(Disconnect, _DISCONNECT_SLOTS)
_slot_offsets(Auth, _AUTH_SLOTS)
_slot_offsets(ConnectProperties, _CONNECT_PROPERTIES_SLOTS)
_slot_offsets(WillProperties, _WILL_PROPERTIES_SLOTS)
_slot_offsets(ConnAckProperties, _CONNACK_PROPERTIES_SLOTS)
_slot_offsets(DisconnectProperties, _DISCONNECT_PROPERTIES_SLOTS)
_slot_offsets(AuthProperties, _AUTH_PROPERTIES_SLOTS)


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


cdef inline void _set(object packet, Py_ssize_t offset, object value):
    """Replace a slot of a packet this module has just built and not yet handed out."""
    cdef PyObject** slot = <PyObject**>((<char*><PyObject*>packet) + offset)
    cdef PyObject* old = slot[0]
    Py_INCREF(value)
    slot[0] = <PyObject*>value
    Py_XDECREF(old)


# ---------------------------------------------------------------------------- MQTT 5.0 properties

# MQTT 5.0 §2.2.2.2: the data type of each property. "byte" splits in two: a boolean
# where the field's default is a bool, else a small integer.
cdef enum:
    _K_NONE = 0
    _K_BYTE
    _K_BOOL
    _K_U16
    _K_U32
    _K_STR
    _K_BIN
    _K_PAIRS

ctypedef struct _Prop:
    int identifier
    int kind
    Py_ssize_t offset      # of the field's slot in the properties object
    long long low
    long long high
    PyObject* default      # borrowed from the class's ``_defaults``, which lives on


cdef dict _KINDS = {"u16": _K_U16, "u32": _K_U32, "str": _K_STR, "bin": _K_BIN, "pair": _K_PAIRS}
cdef dict _HIGHS = {_K_BYTE: 255, _K_BOOL: 1, _K_U16: 65535, _K_U32: 0xFFFFFFFF}
cdef dict _BY_NAME = {prop.name: prop for prop in PROPERTIES.values()}


cdef void _fill(_Prop* out, object prop, object default, Py_ssize_t offset) except *:
    if prop.kind == "byte":
        kind = _K_BOOL if type(default) is bool else _K_BYTE
    else:
        kind = _KINDS[prop.kind]
    out.identifier = prop.identifier
    out.kind = kind
    out.offset = offset
    out.low = prop.low
    out.high = _HIGHS.get(kind, 0) if prop.high is None else prop.high
    out.default = <PyObject*>default


cdef void _encoding_table(object cls, Py_ssize_t* offsets, _Prop* out) except *:
    """``out`` gets one entry per field of ``cls``, in ascending identifier order: the
    order the encoder writes them in."""
    cdef Py_ssize_t i, j
    rows = sorted(
        (_BY_NAME[name].identifier, i) for i, name in enumerate(cls._fields)
    )
    for j, (_identifier, i) in enumerate(rows):
        _fill(&out[j], _BY_NAME[cls._fields[i]], cls._defaults[i], offsets[i])


cdef void _decoding_table(object cls, Py_ssize_t* offsets, str packet, _Prop* out) except *:
    """``out[identifier]`` says how to read a property of ``packet``; kind _K_NONE for
    the identifiers not allowed in it."""
    cdef Py_ssize_t i
    for i in range(128):
        out[i].kind = _K_NONE
    for i, name in enumerate(cls._fields):
        prop = _BY_NAME[name]
        if packet in prop.packets:
            _fill(&out[prop.identifier], prop, cls._defaults[i], offsets[i])


cdef Py_ssize_t _AUTH_METHOD_SLOT = _CONNECT_PROPERTIES_SLOTS[ConnectProperties._fields.index("authentication_method")]
cdef Py_ssize_t _AUTH_DATA_SLOT = _CONNECT_PROPERTIES_SLOTS[ConnectProperties._fields.index("authentication_data")]
cdef _Prop[9] _CONNECT_PROPS
cdef _Prop[7] _WILL_PROPS
cdef _Prop[128] _CONNACK_PROPS
cdef _Prop[128] _DISCONNECT_PROPS
cdef _Prop[128] _AUTH_PROPS
_encoding_table(ConnectProperties, _CONNECT_PROPERTIES_SLOTS, _CONNECT_PROPS)
_encoding_table(WillProperties, _WILL_PROPERTIES_SLOTS, _WILL_PROPS)
_decoding_table(ConnAckProperties, _CONNACK_PROPERTIES_SLOTS, "CONNACK", _CONNACK_PROPS)
_decoding_table(DisconnectProperties, _DISCONNECT_PROPERTIES_SLOTS, "DISCONNECT", _DISCONNECT_PROPS)
_decoding_table(AuthProperties, _AUTH_PROPERTIES_SLOTS, "AUTH", _AUTH_PROPS)

# The defaults in field order, to build a properties object before reading its fields.
cdef tuple _CONNACK_DEFAULTS = tuple(ConnAckProperties._defaults)
cdef tuple _DISCONNECT_DEFAULTS = tuple(DisconnectProperties._defaults)
cdef tuple _AUTH_DEFAULTS = tuple(AuthProperties._defaults)


cdef tuple _reasons(int packet_type):
    """For each byte, the ReasonCode member it stands for in ``packet_type``, or None
    where it is not one defined there (MQTT 5.0 §2.4)."""
    members = {int(member): member for member in ReasonCode}
    return tuple(
        members[code] if code in members and code in REASONS and REASONS[code].defined_for(packet_type) else None
        for code in range(256)
    )


cdef tuple _CONNACK_REASONS = _reasons(2)
cdef tuple _DISCONNECT_REASONS = _reasons(14)
cdef tuple _AUTH_REASONS = _reasons(15)


cdef inline Py_ssize_t _varint_size(Py_ssize_t value) noexcept:
    return 1 if value < 128 else 2 if value < 16384 else 3 if value < 2097152 else 4


cdef inline char* _put_varint(char* out, Py_ssize_t value) noexcept:
    """The minimal Variable Byte Integer (MQTT 5.0 §1.5.5)."""
    while value >= 128:
        out[0] = <char>((value & 0x7F) | 0x80)
        out += 1
        value >>= 7
    out[0] = <char>value
    return out + 1


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
        # Only the 3.1.1 form here: a reason or properties make it MQTT 5.0's longer one.
        if (
            _get(packet, _DISCONNECT_SLOTS[0]) == <PyObject*>_NORMAL_DISCONNECTION
            and _get(packet, _DISCONNECT_SLOTS[1]) == <PyObject*>_EMPTY_DISCONNECT_PROPERTIES
        ):
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


cdef inline bint _topic_name(const char* data, Py_ssize_t size):
    """A topic name, not a filter: not empty, no wildcard (MQTT 3.1.1 §4.7.1)."""
    return size != 0 and memchr(data, ord("+"), size) == NULL and memchr(data, ord("#"), size) == NULL


cdef Py_ssize_t _properties_size(object properties, _Prop* table, Py_ssize_t count):
    """The bytes of the properties that differ from their defaults, or -1 where the
    reference must decide (a value of an unusual type, out of range, ...)."""
    cdef Py_ssize_t i, j, n, size, total = 0
    cdef PyObject* raw
    cdef _Prop* prop
    cdef long value
    cdef int overflow
    cdef object field, pair
    for i in range(count):
        prop = &table[i]
        raw = _get(properties, prop.offset)
        if raw == NULL:
            return -1
        if raw == prop.default:
            continue
        field = <object>raw
        if prop.kind == _K_PAIRS:
            if type(field) is not tuple:
                return -1
            n = PyTuple_GET_SIZE(field)
            for j in range(n):
                pair = <object>PyTuple_GET_ITEM(field, j)
                if type(pair) is not tuple or PyTuple_GET_SIZE(pair) != 2:
                    return -1
                if _text(<object>PyTuple_GET_ITEM(pair, 0), &size) == NULL:
                    return -1
                total += 5 + size
                if _text(<object>PyTuple_GET_ITEM(pair, 1), &size) == NULL:
                    return -1
                total += size
        elif prop.kind == _K_STR:
            if _text(field, &size) == NULL:
                return -1
            total += 3 + size
        elif prop.kind == _K_BIN:
            if type(field) is not bytes or PyBytes_GET_SIZE(field) > 65535:
                return -1
            total += 3 + PyBytes_GET_SIZE(field)
        elif prop.kind == _K_BOOL:
            # The default is the other bool (identity above); anything else: reference.
            if field is not True and field is not False:
                return -1
            total += 2
        else:
            if type(field) is not int:
                return -1
            value = PyLong_AsLongAndOverflow(field, &overflow)
            if overflow or not prop.low <= value <= prop.high:
                return -1
            if type(<object>prop.default) is int and value == <long><object>prop.default:
                continue  # equal to the default without being its object: not written
            total += 2 if prop.kind == _K_BYTE else 3 if prop.kind == _K_U16 else 5
    return total


cdef char* _put_properties(char* out, object properties, _Prop* table, Py_ssize_t count):
    """Write what ``_properties_size`` counted (and checked), in the table's order."""
    cdef Py_ssize_t i, j, size
    cdef PyObject* raw
    cdef _Prop* prop
    cdef const char* data
    cdef unsigned long value
    cdef object field, pair
    for i in range(count):
        prop = &table[i]
        raw = _get(properties, prop.offset)
        if raw == prop.default:
            continue
        field = <object>raw
        if prop.kind == _K_PAIRS:
            for j in range(PyTuple_GET_SIZE(field)):
                pair = <object>PyTuple_GET_ITEM(field, j)
                out[0] = <char>prop.identifier
                data = _text(<object>PyTuple_GET_ITEM(pair, 0), &size)
                out = _put_field(out + 1, data, size)
                data = _text(<object>PyTuple_GET_ITEM(pair, 1), &size)
                out = _put_field(out, data, size)
        elif prop.kind == _K_STR:
            out[0] = <char>prop.identifier
            data = _text(field, &size)
            out = _put_field(out + 1, data, size)
        elif prop.kind == _K_BIN:
            out[0] = <char>prop.identifier
            out = _put_field(out + 1, PyBytes_AS_STRING(field), PyBytes_GET_SIZE(field))
        elif prop.kind == _K_BOOL:
            out[0] = <char>prop.identifier
            out[1] = 1 if field is True else 0
            out += 2
        else:
            value = <unsigned long>field
            if type(<object>prop.default) is int and value == <unsigned long><object>prop.default:
                continue
            out[0] = <char>prop.identifier
            if prop.kind == _K_BYTE:
                out[1] = <char>value
                out += 2
            elif prop.kind == _K_U16:
                out[1] = <char>(value >> 8)
                out[2] = <char>(value & 0xFF)
                out += 3
            else:
                out[1] = <char>(value >> 24)
                out[2] = <char>((value >> 16) & 0xFF)
                out[3] = <char>((value >> 8) & 0xFF)
                out[4] = <char>(value & 0xFF)
                out += 5
    return out


cdef object _encode_connect(object packet):
    """The bytes of a CONNECT, or None where the reference must decide."""
    cdef PyObject* fields[8]
    cdef Py_ssize_t i
    for i in range(8):
        fields[i] = _get(packet, _CONNECT_SLOTS[i])
        if fields[i] == NULL:
            return None
    cdef object client_id = <object>fields[0], clean = <object>fields[1]
    cdef object username = <object>fields[3], password = <object>fields[4], will = <object>fields[5]
    cdef object properties = <object>fields[7], will_properties = None
    cdef PyObject* will_fields[5]
    cdef long level = 0, keep_alive = 0, qos = 0
    cdef int flags
    cdef const char* id_data
    cdef const char* user_data = NULL
    cdef const char* topic_data = NULL
    cdef const char* message_data = NULL
    cdef const char* password_data = NULL
    cdef Py_ssize_t id_size, user_size = 0, topic_size = 0, message_size = 0, password_size = 0
    cdef Py_ssize_t props_size = 0, will_props_size = 0
    cdef Py_ssize_t length, total
    cdef char* out

    if not _small_int(<object>fields[6], 5, &level) or level < 3:
        return None
    if level == 5:
        if properties is _EMPTY_CONNECT_PROPERTIES:
            props_size = 0
        elif type(properties) is _ConnectProperties:
            props_size = _properties_size(properties, _CONNECT_PROPS, 9)
            if props_size < 0:
                return None
            # MQTT 5.0 §3.1.2.11.10: no authentication data without a method.
            if (
                _get(properties, _AUTH_METHOD_SLOT) == <PyObject*>None
                and _get(properties, _AUTH_DATA_SLOT) != <PyObject*>None
            ):
                return None
        else:
            return None
    elif properties is not _EMPTY_CONNECT_PROPERTIES:
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
    elif level == 4:
        if id_size == 0 and flags == 0:
            return None
        length = 10 + 2 + id_size
    else:
        # MQTT 5.0 §3.1.3.1: a zero-length identifier needs no clean start.
        length = 10 + _varint_size(props_size) + props_size + 2 + id_size
    if will is not None:
        if type(will) is not _Will:
            return None
        for i in range(5):
            will_fields[i] = _get(will, _WILL_SLOTS[i])
            if will_fields[i] == NULL:
                return None
        will_properties = <object>will_fields[4]
        if level == 5 and will_properties is not _EMPTY_WILL_PROPERTIES:
            if type(will_properties) is not _WillProperties:
                return None
            will_props_size = _properties_size(will_properties, _WILL_PROPS, 7)
            if will_props_size < 0:
                return None
            length += _varint_size(will_props_size) + will_props_size
        elif level == 5:
            length += 1
        elif will_properties is not _EMPTY_WILL_PROPERTIES:
            return None
        topic_data = _text(<object>will_fields[0], &topic_size)
        if topic_data == NULL or not _topic_name(topic_data, topic_size):
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
        # MQTT 5.0 §3.1.2.9 lifts 3.1.1's rule that a password needs a user name.
        if (username is None and level != 5) or type(password) is not bytes or PyBytes_GET_SIZE(password) > 65535:
            return None
        password_data = PyBytes_AS_STRING(password)
        password_size = PyBytes_GET_SIZE(password)
        flags |= 0x40
        length += 2 + password_size
    if length > _MAX_REMAINING_LENGTH:
        return None

    total = 1 + _varint_size(length) + length
    data = PyBytes_FromStringAndSize(NULL, total)
    out = PyBytes_AS_STRING(data)
    out[0] = 0x10
    out = _put_varint(out + 1, length)
    if level == 4:
        memcpy(out, b"\x00\x04MQTT\x04", 7)
        out += 7
    elif level == 5:
        memcpy(out, b"\x00\x04MQTT\x05", 7)
        out += 7
    else:
        memcpy(out, b"\x00\x06MQIsdp\x03", 9)
        out += 9
    out[0] = <char>flags
    out[1] = <char>(keep_alive >> 8)
    out[2] = <char>(keep_alive & 0xFF)
    out += 3
    if level == 5:
        out = _put_varint(out, props_size)
        if props_size:
            out = _put_properties(out, properties, _CONNECT_PROPS, 9)
    out = _put_field(out, id_data, id_size)
    if topic_data != NULL:
        if level == 5:
            out = _put_varint(out, will_props_size)
            if will_props_size:
                out = _put_properties(out, will_properties, _WILL_PROPS, 7)
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

    ``protocol_level`` (3, 4 or 5) says how to read the packets whose form depends on
    it (CONNACK, DISCONNECT); a CONNECT says its own level. Raises MalformedPacket when
    ``data`` is incomplete, has bytes after the packet, or breaks the specification;
    UnsupportedProtocol for a CONNECT of another level; InvalidPacket for another
    ``protocol_level``.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t size
    if type(protocol_level) is not int or not 3 <= protocol_level <= 5:
        return _py.decode(data, protocol_level)
    if type(data) is bytes:
        p = <const unsigned char*>PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    elif type(data) is bytearray:
        p = <const unsigned char*>PyByteArray_AS_STRING(data)
        size = PyByteArray_GET_SIZE(data)
    else:
        return _py.decode(data, protocol_level)
    packet = _decode_one(p, size, protocol_level)
    if packet is _DEFER:
        return _py.decode(data, protocol_level)
    if packet is not None:
        return packet
    _py.decode(data, protocol_level)
    raise _Disagreement(f"the reference decodes what the compiled codec refused: {bytes(data)[:64].hex()}")


cdef object _decode_one(const unsigned char* p, Py_ssize_t size, int level):
    """The one packet that is all of ``p[:size]``; None where the reference must refuse
    the data, _DEFER where it must judge it."""
    cdef unsigned char digit
    cdef Py_ssize_t length, index = 1
    cdef int shift = 0
    if size < 2:
        return None
    length = 0
    while True:
        digit = p[index]
        length |= <Py_ssize_t>(digit & 0x7F) << shift
        index += 1
        if digit < 0x80:
            break
        if index == 5 or index >= size:
            return None
        shift += 7
    if size - index != length or (digit == 0 and index > 2 and level == 5):
        return None
    return _body(p[0], p, index, length, level)


cdef inline object _body(unsigned char first, const unsigned char* p, Py_ssize_t index, Py_ssize_t length, int level):
    # The packets a client receives most, decided inline.
    if first == 0xD0 and length == 0:
        return _PINGRESP
    if level == 5:
        return _decode_body5(first, p, index, index + length)
    if first == 0x20 and length == 2:
        return _connack(p[index], p[index + 1], level)
    return _decode_body(first, p, index, index + length, level)


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
    Py_ssize_t* defer,
) except -1:
    """Append up to ``count`` packets from ``p[pos:end]`` to ``out``; see ``_py._frame``.

    Returns the position after the last packet; ``need`` gets how many bytes the next
    packet needs at least, ``fault`` the start of a packet the reference must refuse,
    ``defer`` the start of one the reference must judge (decode, wait for, or refuse).
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
        if digit == 0 and index - pos > 2 and level == 5:
            fault[0] = pos  # MQTT 5.0 §1.5.5: a longer form than needed
            return pos
        size = index - pos + length
        if size > limit:
            fault[0] = pos
            return pos
        if end - pos < size:
            if level == 5:
                defer[0] = pos  # whether the header is refused now: the reference says
            elif _header_fault(first, length, level):
                # Known before the body: see ``_py._frame``.
                fault[0] = pos
            else:
                need[0] = size
            return pos
        packet = _body(first, p, index, length, level)
        if packet is None:
            fault[0] = pos
            return pos
        if packet is _DEFER:
            defer[0] = pos
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
    if not _DECODED[kind]:
        return _other(kind, flags, p, start, end)
    if kind == 1:
        return _decode_connect(p, start, end)
    if kind == 2:
        return _connack(p[start], p[start + 1], level) if end - start == 2 else None
    if end != start:
        return None
    return _PINGRESP if kind == 13 else _PINGREQ if kind == 12 else _DISCONNECT


cdef inline object _other(int kind, int flags, const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    cdef PyObject* fields[3]
    cdef object packet_type = _TYPES[kind], flag_bits = flags
    cdef object body = PyBytes_FromStringAndSize(<const char*>p + start, end - start)
    fields[0] = <PyObject*>packet_type
    fields[1] = <PyObject*>flag_bits
    fields[2] = <PyObject*>body
    return _packet(_OtherPacket, _OTHER_SLOTS, 3, fields)


# ---------------------------------------------------------------------------- decoding MQTT 5.0


cdef object _decode_body5(unsigned char first, const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    """The MQTT 5.0 packets a client receives most, valid and common; _DEFER for the
    rest, which the reference decodes or refuses."""
    cdef int kind = first >> 4
    if first == 0x20:
        return _connack5(p, start, end)
    if first == 0xE0:
        return _disconnect5(p, start, end)
    if first == 0xF0:
        return _auth5(p, start, end)
    if 3 <= kind <= 11:
        # Framed, not decoded, with the fixed-header flags of 3.1.1 (MQTT 5.0 §2.1.3).
        return _decode_body(first, p, start, end, 4)
    if first == 0xC0 and start == end:
        return _PINGREQ
    return _DEFER


cdef inline Py_ssize_t _varint(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t end) noexcept:
    """A Variable Byte Integer in its minimal form (MQTT 5.0 §1.5.5), or -1."""
    cdef Py_ssize_t at = pos[0], value = 0, i
    cdef unsigned char digit
    for i in range(4):
        if at >= end:
            return -1
        digit = p[at]
        at += 1
        value |= <Py_ssize_t>(digit & 0x7F) << (7 * i)
        if digit < 0x80:
            if digit == 0 and i:
                return -1  # a longer form than needed
            pos[0] = at
            return value
    return -1


cdef object _properties(
    const unsigned char* p,
    Py_ssize_t pos,
    Py_ssize_t end,
    object cls,
    object empty,
    tuple defaults,
    Py_ssize_t* offsets,
    _Prop* table,
):
    """The properties in ``p[pos:end]`` (the Property Length read, ``end`` where they
    stop), or None where the reference must judge them: a property not allowed in this
    packet, one given twice, a value out of range."""
    cdef PyObject* fields[17]
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(defaults)
    cdef unsigned long long seen_low = 0, seen_high = 0, bit
    cdef unsigned long value
    cdef int identifier
    cdef _Prop* prop
    cdef object properties, item, name
    cdef list pairs = None
    if pos == end:
        return empty
    for i in range(n):
        fields[i] = PyTuple_GET_ITEM(defaults, i)
    properties = _packet(cls, offsets, n, fields)
    while pos < end:
        identifier = p[pos]
        pos += 1
        if identifier >= 128:
            return None  # a two-byte identifier: none is defined
        prop = &table[identifier]
        if prop.kind == _K_NONE:
            return None
        if prop.kind == _K_PAIRS:
            name = _read_string(p, &pos, end)
            if name is None:
                return None
            item = _read_string(p, &pos, end)
            if item is None:
                return None
            if pairs is None:
                pairs = []
            pairs.append((name, item))
            continue
        # MQTT 5.0 §2.2.2.2: every other property at most once.
        bit = 1ULL << (identifier & 63)
        if identifier < 64:
            if seen_low & bit:
                return None
            seen_low |= bit
        else:
            if seen_high & bit:
                return None
            seen_high |= bit
        if prop.kind == _K_STR:
            item = _read_string(p, &pos, end)
            if item is None:
                return None
        elif prop.kind == _K_BIN:
            item = _read_bytes(p, &pos, end)
            if item is None:
                return None
        else:
            if prop.kind == _K_U16:
                if end - pos < 2:
                    return None
                value = <unsigned long>p[pos] << 8 | p[pos + 1]
                pos += 2
            elif prop.kind == _K_U32:
                if end - pos < 4:
                    return None
                value = (
                    <unsigned long>p[pos] << 24 | <unsigned long>p[pos + 1] << 16
                    | <unsigned long>p[pos + 2] << 8 | p[pos + 3]
                )
                pos += 4
            else:
                if pos >= end:
                    return None
                value = p[pos]
                pos += 1
            if value < <unsigned long>prop.low or value > <unsigned long>prop.high:
                return None
            if prop.kind == _K_BOOL:
                item = value == 1
            else:
                item = value
        _set(properties, prop.offset, item)
    # MQTT 5.0 §3.2.2.3.18, §3.15.2.2.3: no authentication data without a method.
    if seen_low & (1ULL << 0x16) and not seen_low & (1ULL << 0x15):
        return None
    if pairs is not None:
        _set(properties, table[0x26].offset, tuple(pairs))
    return properties


cdef object _connack5(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end):
    cdef PyObject* fields[3]
    cdef unsigned char ack, code
    cdef Py_ssize_t length
    cdef object session_present, reason, properties
    if end - pos < 3:
        return _DEFER
    ack = p[pos]
    code = p[pos + 1]
    reason = _CONNACK_REASONS[code]
    # MQTT 5.0 §3.2.2.1: bits 7..1 reserved; session present only on success.
    if ack > 1 or reason is None or (ack and code):
        return _DEFER
    pos += 2
    length = _varint(p, &pos, end)
    if length < 0 or end - pos != length:
        return _DEFER
    properties = _properties(
        p, pos, end, _ConnAckProperties, _EMPTY_CONNACK_PROPERTIES, _CONNACK_DEFAULTS,
        _CONNACK_PROPERTIES_SLOTS, _CONNACK_PROPS,
    )
    if properties is None:
        return _DEFER
    session_present = ack == 1
    fields[0] = <PyObject*>session_present
    fields[1] = <PyObject*>reason
    fields[2] = <PyObject*>properties
    return _packet(_ConnAck, _CONNACK_SLOTS, 3, fields)


cdef object _disconnect5(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end):
    cdef PyObject* fields[2]
    cdef Py_ssize_t length
    cdef object reason, properties
    if pos == end:
        return _DISCONNECT  # MQTT 5.0 §3.14.2.1: no reason means 0x00, no properties
    reason = _DISCONNECT_REASONS[p[pos]]
    if reason is None:
        return _DEFER
    pos += 1
    if pos == end:
        properties = _EMPTY_DISCONNECT_PROPERTIES
    else:
        length = _varint(p, &pos, end)
        if length < 0 or end - pos != length:
            return _DEFER
        properties = _properties(
            p, pos, end, _DisconnectProperties, _EMPTY_DISCONNECT_PROPERTIES,
            _DISCONNECT_DEFAULTS, _DISCONNECT_PROPERTIES_SLOTS, _DISCONNECT_PROPS,
        )
        if properties is None:
            return _DEFER
    fields[0] = <PyObject*>reason
    fields[1] = <PyObject*>properties
    return _packet(_Disconnect, _DISCONNECT_SLOTS, 2, fields)


cdef object _auth5(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end):
    cdef PyObject* fields[2]
    cdef Py_ssize_t length
    cdef object reason, properties
    if pos == end:
        reason = _AUTH_SUCCESS  # MQTT 5.0 §3.15.2.1
        properties = _EMPTY_AUTH_PROPERTIES
    else:
        # MQTT 5.0 §3.15.2.1: a reason code comes with a Property Length.
        reason = _AUTH_REASONS[p[pos]]
        if reason is None or end - pos < 2:
            return _DEFER
        pos += 1
        length = _varint(p, &pos, end)
        if length < 0 or end - pos != length:
            return _DEFER
        properties = _properties(
            p, pos, end, _AuthProperties, _EMPTY_AUTH_PROPERTIES, _AUTH_DEFAULTS,
            _AUTH_PROPERTIES_SLOTS, _AUTH_PROPS,
        )
        if properties is None:
            return _DEFER
    fields[0] = <PyObject*>reason
    fields[1] = <PyObject*>properties
    return _packet(_Auth, _AUTH_SLOTS, 2, fields)


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
    if p[pos] == 5 and level == 4:
        return _DEFER  # an MQTT 5.0 CONNECT
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
        """Raises InvalidPacket for a ``protocol_level`` other than 3, 4 or 5 or a
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
        cdef Py_ssize_t size, pos, need = 0, fault = -1, defer = -1
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
        pos = 0
        while True:
            pos = _frame(p, pos, size, out, self._limit, self._level, -1, &need, &fault, &defer)
            if defer < 0:
                break
            # A packet for the reference: it appends it, waits for more, or raises.
            try:
                after, need_py = _py._frame(buf, defer, size, out, self._limit, self._level, 1)
            except RemoteProtocolError as exc:
                exc._shift(self._consumed)
                self._error = exc
                del buffer[:]
                if not out:
                    raise
                return out
            defer = -1
            if after == pos:
                need = need_py
                break
            pos = after
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
