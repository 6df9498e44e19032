# cython: language_level=3
"""The floor under the compiled codec: the objects a consumer gets, made from precomputed offsets.

Benchmark-only (built by bench/build_floor.py, never shipped). No decoder can
do less than this: per event a key bytes, a value bytes, an int and one
@final @freelist @no_gc object whose fields are read through member
descriptors, as etcdstream's Event; per range key the same with the three
int64 revisions a KeyValue also holds. `watch_offsets`/`range_offsets` walk
the (trusted) corpus once, untimed; `build_watch`/`build_range` are the floor.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etcdstream._types import EventType


cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
        const char* doc
    int T_OBJECT_EX
    int READONLY


cdef extern from "Python.h":
    ctypedef struct PyTypeObject:
        PyObject* tp_dict
        Py_ssize_t tp_basicsize
    object PyDescr_NewMember(type cls, PyMemberDef* member)
    void PyType_Modified(type cls)


cdef PyMemberDef MEMBERS[8]
cdef int member_count = 0


cdef add_member(type cls, const char* name, Py_ssize_t offset):
    global member_count
    cdef PyMemberDef* member = &MEMBERS[member_count]
    member_count += 1
    member.name = name
    member.type = T_OBJECT_EX
    member.offset = offset
    member.flags = READONLY
    member.doc = NULL
    (<dict>(<PyTypeObject*>cls).tp_dict)[name.decode()] = PyDescr_NewMember(cls, member)
    PyType_Modified(cls)


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class FloorEvent:
    cdef object type, key, value, mod_revision


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class FloorKeyValue:
    cdef object key, value, mod_revision
    cdef int64_t create_revision, version, lease


@cython.final
cdef class FloorResponse:
    cdef readonly list events
    cdef readonly list kvs


cdef Py_ssize_t field_offset(object instance, str name) except -1:
    """Where the object field `name` lies in `instance` (Cython will not take its address)."""
    cdef object sentinel = object()
    cdef PyObject** words = <PyObject**><PyObject*>instance
    cdef type cls = type(instance)
    cdef Py_ssize_t i
    setattr_field(instance, name, sentinel)
    for i in range(sizeof(PyObject) // sizeof(PyObject*), (<PyTypeObject*>cls).tp_basicsize // sizeof(PyObject*)):
        if words[i] == <PyObject*>sentinel:
            return i * sizeof(PyObject*)
    raise RuntimeError(f"field {name} not found")


cdef setattr_field(object instance, str name, object value):
    if isinstance(instance, FloorEvent):
        if name == "type":
            (<FloorEvent>instance).type = value
        elif name == "key":
            (<FloorEvent>instance).key = value
        elif name == "value":
            (<FloorEvent>instance).value = value
        else:
            (<FloorEvent>instance).mod_revision = value
    else:
        if name == "key":
            (<FloorKeyValue>instance).key = value
        elif name == "value":
            (<FloorKeyValue>instance).value = value
        else:
            (<FloorKeyValue>instance).mod_revision = value


cdef install_members():
    # Literal names: the descriptors keep pointers to them.
    add_member(FloorEvent, b"type", field_offset(FloorEvent.__new__(FloorEvent), "type"))
    add_member(FloorEvent, b"key", field_offset(FloorEvent.__new__(FloorEvent), "key"))
    add_member(FloorEvent, b"value", field_offset(FloorEvent.__new__(FloorEvent), "value"))
    add_member(FloorEvent, b"mod_revision", field_offset(FloorEvent.__new__(FloorEvent), "mod_revision"))
    add_member(FloorKeyValue, b"key", field_offset(FloorKeyValue.__new__(FloorKeyValue), "key"))
    add_member(FloorKeyValue, b"value", field_offset(FloorKeyValue.__new__(FloorKeyValue), "value"))
    add_member(FloorKeyValue, b"mod_revision", field_offset(FloorKeyValue.__new__(FloorKeyValue), "mod_revision"))


install_members()


cdef struct Span:
    Py_ssize_t key
    Py_ssize_t key_len
    Py_ssize_t value
    Py_ssize_t value_len
    int64_t mod_revision
    int64_t create_revision
    int64_t version
    int64_t lease


@cython.final
cdef class Offsets:
    """Where each key and value lies in one serialized response, and its revisions."""

    cdef bytes data
    cdef Span* spans
    cdef Py_ssize_t count

    def __dealloc__(self):
        PyMem_Free(self.spans)

    def __len__(self):
        return self.count


def _varint(const unsigned char[:] buf, Py_ssize_t pos):
    cdef unsigned long long result = 0
    cdef int shift = 0
    while True:
        result |= <unsigned long long>(buf[pos] & 0x7F) << shift
        pos += 1
        if buf[pos - 1] < 0x80:
            return <long long>result, pos
        shift += 7


def _fields(const unsigned char[:] buf, Py_ssize_t pos, Py_ssize_t end):
    """(field number, value or (start, length)) of each field in buf[pos:end]; varint and length fields only."""
    out = []
    while pos < end:
        tag, pos = _varint(buf, pos)
        if tag & 7 == 0:
            value, pos = _varint(buf, pos)
            out.append((tag >> 3, value))
        elif tag & 7 == 2:
            length, pos = _varint(buf, pos)
            out.append((tag >> 3, (pos, length)))
            pos += length
        else:
            raise ValueError(f"the floor's walker reads varint and length fields only, not wire type {tag & 7}")
    return out


cdef Offsets make_offsets(bytes data, list kv_spans):
    cdef Offsets offsets = Offsets.__new__(Offsets)
    cdef Span* span
    offsets.data = data
    offsets.count = len(kv_spans)
    offsets.spans = <Span*>PyMem_Malloc(max(offsets.count, 1) * sizeof(Span))
    if offsets.spans == NULL:
        raise MemoryError()
    for i, (start, length) in enumerate(kv_spans):
        span = &offsets.spans[i]
        span.key = span.key_len = span.value = span.value_len = 0
        span.mod_revision = span.create_revision = span.version = span.lease = 0
        for field, value in _fields(data, start, start + length):
            if field == 1:
                span.key, span.key_len = value
            elif field == 5:
                span.value, span.value_len = value
            elif field == 2:
                span.create_revision = value
            elif field == 3:
                span.mod_revision = value
            elif field == 4:
                span.version = value
            elif field == 6:
                span.lease = value
    return offsets


def watch_offsets(bytes data not None):
    """Offsets of the PUT events of a serialized WatchResponse (the benchmark corpus has no other kind)."""
    kvs = []
    for field, value in _fields(data, 0, len(data)):
        if field == 11:
            for inner, kv in _fields(data, value[0], value[0] + value[1]):
                if inner == 2:
                    kvs.append(kv)
                elif inner != 1 or kv != 0:
                    raise ValueError("the floor handles PUT events without prev_kv only")
    return make_offsets(data, kvs)


def range_offsets(bytes data not None):
    """Offsets of the keys of a serialized RangeResponse."""
    return make_offsets(data, [value for field, value in _fields(data, 0, len(data)) if field == 2])


def build_watch(Offsets offsets not None):
    """The floor of decode_watch_response: a response whose `events` a consumer reads as Event's."""
    cdef FloorResponse resp = FloorResponse.__new__(FloorResponse)
    cdef list events = []
    cdef const char* base = PyBytes_AS_STRING(offsets.data)
    cdef Span* span
    cdef FloorEvent event
    cdef object put = EventType.PUT
    cdef Py_ssize_t i
    for i in range(offsets.count):
        span = &offsets.spans[i]
        event = FloorEvent.__new__(FloorEvent)
        event.type = put
        event.key = PyBytes_FromStringAndSize(base + span.key, span.key_len)
        event.value = PyBytes_FromStringAndSize(base + span.value, span.value_len)
        event.mod_revision = span.mod_revision
        events.append(event)
    resp.events = events
    return resp


def build_range(Offsets offsets not None):
    """The floor of decode_range_response: a response whose `kvs` a consumer reads as KeyValue's."""
    cdef FloorResponse resp = FloorResponse.__new__(FloorResponse)
    cdef list kvs = []
    cdef const char* base = PyBytes_AS_STRING(offsets.data)
    cdef Span* span
    cdef FloorKeyValue kv
    cdef Py_ssize_t i
    for i in range(offsets.count):
        span = &offsets.spans[i]
        kv = FloorKeyValue.__new__(FloorKeyValue)
        kv.key = PyBytes_FromStringAndSize(base + span.key, span.key_len)
        kv.value = PyBytes_FromStringAndSize(base + span.value, span.value_len)
        kv.mod_revision = span.mod_revision
        kv.create_revision = span.create_revision
        kv.version = span.version
        kv.lease = span.lease
        kvs.append(kv)
    resp.kvs = kvs
    return resp


def measured(run, Py_ssize_t times):
    """Call run() `times` times: `valgrind --tool=callgrind --collect-atstart=no
    --toggle-collect='*measured*'` counts exactly the instructions spent in here."""
    cdef Py_ssize_t i
    for i in range(times):
        run()
