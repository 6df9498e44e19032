# The objects the decoders hand to users. KeyValue and Event hold no references
# that can form cycles, so they skip the GC; freelists recycle them between batches.
#
# Their hot attributes (key, value, mod_revision, type, prev_kv) are member
# descriptors over their object fields rather than Cython's readonly properties:
# CPython specializes attribute loads of member descriptors (LOAD_ATTR_SLOT)
# but not of getset descriptors, which halves the cost of a consumer's loop
# that reads these attributes. Cold attributes stay Cython properties.
#
# The fields are Cython `object`s, so Cython's own tp_dealloc releases them: a
# user-level __dealloc__ would make it save and restore the error state at
# every free. No cdef methods either: they would add a vtable pointer to set
# in every new object.

from cpython.ref cimport PyObject


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
    object PyDescr_NewMember(type cls, PyMemberDef* member)
    void PyType_Modified(type cls)


# Cython will not take the address of an object field; C's offsetof will, on
# the structs Cython names after module and class (a rename fails the build).
cdef extern from *:
    """
    #define ETCDSTREAM_KV_OFFSET(field) ((Py_ssize_t)offsetof(struct __pyx_obj_10etcdstream_6_codec_KeyValue, field))
    #define ETCDSTREAM_EVENT_OFFSET(field) ((Py_ssize_t)offsetof(struct __pyx_obj_10etcdstream_6_codec_Event, field))
    """
    Py_ssize_t KV_KEY "ETCDSTREAM_KV_OFFSET(_key)"
    Py_ssize_t KV_VALUE "ETCDSTREAM_KV_OFFSET(_value)"
    Py_ssize_t KV_MOD_REVISION "ETCDSTREAM_KV_OFFSET(_mod_revision)"
    Py_ssize_t EVENT_TYPE "ETCDSTREAM_EVENT_OFFSET(_type)"
    Py_ssize_t EVENT_KEY "ETCDSTREAM_EVENT_OFFSET(_key)"
    Py_ssize_t EVENT_VALUE "ETCDSTREAM_EVENT_OFFSET(_value)"
    Py_ssize_t EVENT_MOD_REVISION "ETCDSTREAM_EVENT_OFFSET(_mod_revision)"
    Py_ssize_t EVENT_PREV_KV "ETCDSTREAM_EVENT_OFFSET(_prev_kv)"


cdef enum:
    MAX_MEMBERS = 8

cdef PyMemberDef MEMBERS[MAX_MEMBERS]  # descriptors point into this: it lives as long as the module
cdef int member_count = 0


cdef add_member(type cls, const char* name, Py_ssize_t offset, const char* doc):
    """Expose the object field at `offset` of `cls` as a read-only attribute."""
    global member_count
    if member_count == MAX_MEMBERS:
        raise RuntimeError("etcdstream._codec: MEMBERS is full")
    cdef PyMemberDef* member = &MEMBERS[member_count]
    member_count += 1
    member.name = name
    member.type = T_OBJECT_EX
    member.offset = offset
    member.flags = READONLY
    member.doc = doc
    (<dict>(<PyTypeObject*>cls).tp_dict)[name.decode()] = PyDescr_NewMember(cls, member)
    PyType_Modified(cls)


cdef object PUT = EventType.PUT
cdef object DELETE = EventType.DELETE


cdef inline object event_type(int32_t value):
    # Open enum, as in proto3: a type newer than this client stays a plain int.
    if value == 0:
        return PUT
    if value == 1:
        return DELETE
    return value


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class KeyValue:
    """One key of etcd (mvccpb.KeyValue): key and value are bytes, revisions ints."""

    cdef object _key
    cdef object _value
    cdef object _mod_revision
    cdef readonly int64_t create_revision
    cdef readonly int64_t version
    cdef readonly int64_t lease

    def __init__(self, key=b"", value=b"", create_revision=0, mod_revision=0, version=0, lease=0):
        self._key = bytes(key)
        self._value = bytes(value)
        self._mod_revision = int(mod_revision)
        self.create_revision = create_revision
        self.version = version
        self.lease = lease

    def __eq__(self, other):
        if not isinstance(other, KeyValue):
            return NotImplemented
        return kv_fields(self) == kv_fields(<KeyValue>other)

    def __hash__(self):
        return hash(kv_fields(self))

    def __reduce__(self):
        return (KeyValue, kv_fields(self))

    def __repr__(self):
        key, value, create_revision, mod_revision, version, lease = kv_fields(self)
        return (
            f"KeyValue(key={key!r}, value={value!r}, create_revision={create_revision}, "
            f"mod_revision={mod_revision}, version={version}, lease={lease})"
        )


cdef tuple kv_fields(KeyValue kv):
    return (kv._key, kv._value, kv.create_revision, kv._mod_revision, kv.version, kv.lease)


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class Event:
    """A change to one key (mvccpb.Event): `type`, `kv`, `prev_kv` (None unless asked for).

    Event(type, kv, prev_kv=None): type an EventType, its name as a str in any case ("put", "delete"), or
    the number etcd sends (a type newer than this client stays a plain int).
    """

    cdef object _type
    cdef object _key
    cdef object _value
    cdef object _mod_revision
    cdef object _prev_kv
    # The rest of kv; the KeyValue itself is made on first use of .kv, since most
    # consumers read only the shortcuts and one allocation per event is saved.
    cdef int64_t _create_revision
    cdef int64_t _version
    cdef int64_t _lease
    cdef KeyValue _kv

    def __init__(self, type, KeyValue kv not None, KeyValue prev_kv=None):
        # Built by hand (the decoders make Events with __new__): a name is looked up, off the hot path.
        self._type = event_type(type if isinstance(type, int) else enum_member("type", type, EventType))
        self._key = kv._key
        self._value = kv._value
        self._mod_revision = kv._mod_revision
        self._prev_kv = prev_kv
        self._create_revision = kv.create_revision
        self._version = kv.version
        self._lease = kv.lease
        self._kv = kv

    @property
    def kv(self):
        """The key after the event (mvccpb.Event.kv)."""
        cdef KeyValue kv = self._kv
        if kv is None:
            kv = KeyValue.__new__(KeyValue)
            kv._key = self._key
            kv._value = self._value
            kv._mod_revision = self._mod_revision
            kv.create_revision = self._create_revision
            kv.version = self._version
            kv.lease = self._lease
            self._kv = kv
        return kv

    def __eq__(self, other):
        if not isinstance(other, Event):
            return NotImplemented
        return event_fields(self) == event_fields(<Event>other)

    def __hash__(self):
        return hash(event_fields(self))

    def __reduce__(self):
        return (Event, event_fields(self))

    def __repr__(self):
        return "Event(type={!r}, kv={!r}, prev_kv={!r})".format(*event_fields(self))


cdef tuple event_fields(Event event):
    return (event._type, event.kv, event._prev_kv)


cdef install_members():
    add_member(KeyValue, b"key", KV_KEY, b"The key (bytes).")
    add_member(KeyValue, b"value", KV_VALUE, b"The value (bytes).")
    add_member(KeyValue, b"mod_revision", KV_MOD_REVISION, b"Revision of the last change.")
    add_member(Event, b"type", EVENT_TYPE, b"EventType.PUT or EventType.DELETE.")
    add_member(Event, b"key", EVENT_KEY, b"The event's key (kv.key).")
    add_member(Event, b"value", EVENT_VALUE, b"The value after the event (kv.value).")
    add_member(Event, b"mod_revision", EVENT_MOD_REVISION, b"Revision of the event.")
    add_member(Event, b"prev_kv", EVENT_PREV_KV, b"The key before the event, or None.")


install_members()


@cython.final
cdef class WatchResponse:
    """A decoded etcdserverpb.WatchResponse; `revision` is the header's revision."""

    cdef readonly int64_t revision
    cdef readonly uint64_t cluster_id
    cdef readonly uint64_t member_id
    cdef readonly uint64_t raft_term
    cdef readonly int64_t watch_id
    cdef readonly bint created
    cdef readonly bint canceled
    cdef readonly int64_t compact_revision
    cdef readonly str cancel_reason
    cdef readonly bint fragment
    cdef readonly list events

    def __cinit__(self):
        self.cancel_reason = ""
        self.events = []

    def __repr__(self):
        return (
            f"<WatchResponse watch_id={self.watch_id} revision={self.revision} events={len(self.events)} "
            f"created={self.created} canceled={self.canceled} compact_revision={self.compact_revision} "
            f"fragment={self.fragment}>"
        )


@cython.final
cdef class RangeResponse:
    """A decoded etcdserverpb.RangeResponse; `revision` is the header's revision."""

    cdef readonly int64_t revision
    cdef readonly uint64_t cluster_id
    cdef readonly uint64_t member_id
    cdef readonly uint64_t raft_term
    cdef readonly list kvs
    cdef readonly bint more
    cdef readonly int64_t count

    def __cinit__(self):
        self.kvs = []

    def __repr__(self):
        return f"<RangeResponse revision={self.revision} kvs={len(self.kvs)} more={self.more} count={self.count}>"
