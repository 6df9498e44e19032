# The objects the decoders hand to users. KeyValue and Event hold no references
# that can form cycles, so they skip the GC; freelists recycle them between batches.
#
# Their hot attributes (key, value, mod_revision, type, prev_kv) are member
# descriptors over PyObject* fields rather than Cython's readonly properties:
# CPython specializes attribute loads of member descriptors (LOAD_ATTR_SLOT)
# but not of getset descriptors, which halves the cost of a consumer's loop
# that reads these attributes. Cold attributes stay Cython properties.

from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF


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


cdef enum:
    MAX_MEMBERS = 8

cdef PyMemberDef MEMBERS[MAX_MEMBERS]  # descriptors point into this: it lives as long as the module
cdef int member_count = 0


cdef add_member(type cls, const char* name, Py_ssize_t offset, const char* doc):
    """Expose the PyObject* field at `offset` of `cls` as a read-only attribute."""
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


cdef inline void set_field(PyObject** field, object value) noexcept:
    Py_INCREF(value)
    Py_XDECREF(field[0])
    field[0] = <PyObject*>value


cdef inline object get_field(PyObject* field):
    # Fields are NULL only in an instance made by cls.__new__ from Python.
    return <object>field if field != NULL else None


cdef tuple EVENT_TYPES = (EventType.PUT, EventType.DELETE)


cdef inline object event_type(int32_t value):
    # Open enum, as in proto3: a type newer than this client stays a plain int.
    if 0 <= value <= 1:
        return EVENT_TYPES[value]
    return value


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class KeyValue:
    """One key of etcd (mvccpb.KeyValue): key and value are bytes, revisions ints."""

    cdef PyObject* _key
    cdef PyObject* _value
    cdef PyObject* _mod_revision
    cdef readonly int64_t create_revision
    cdef readonly int64_t version
    cdef readonly int64_t lease

    def __init__(self, key=b"", value=b"", create_revision=0, mod_revision=0, version=0, lease=0):
        set_field(&self._key, bytes(key))
        set_field(&self._value, bytes(value))
        set_field(&self._mod_revision, int(mod_revision))
        self.create_revision = create_revision
        self.version = version
        self.lease = lease

    def __dealloc__(self):
        Py_XDECREF(self._key)
        Py_XDECREF(self._value)
        Py_XDECREF(self._mod_revision)

    cdef tuple _fields(self):
        return (
            get_field(self._key),
            get_field(self._value),
            self.create_revision,
            get_field(self._mod_revision),
            self.version,
            self.lease,
        )

    def __eq__(self, other):
        if not isinstance(other, KeyValue):
            return NotImplemented
        return self._fields() == (<KeyValue>other)._fields()

    def __hash__(self):
        return hash(self._fields())

    def __reduce__(self):
        return (KeyValue, self._fields())

    def __repr__(self):
        key, value, create_revision, mod_revision, version, lease = self._fields()
        return (
            f"KeyValue(key={key!r}, value={value!r}, create_revision={create_revision}, "
            f"mod_revision={mod_revision}, version={version}, lease={lease})"
        )


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class Event:
    """A change to one key (mvccpb.Event): `type`, `kv`, `prev_kv` (None unless asked for)."""

    cdef PyObject* _type
    cdef PyObject* _key
    cdef PyObject* _value
    cdef PyObject* _mod_revision
    cdef PyObject* _prev_kv
    # The rest of kv; the KeyValue itself is made on first use of .kv, since most
    # consumers read only the shortcuts and one allocation per event is saved.
    cdef int64_t _create_revision
    cdef int64_t _version
    cdef int64_t _lease
    cdef KeyValue _kv

    def __init__(self, type, KeyValue kv not None, KeyValue prev_kv=None):
        set_field(&self._type, event_type(type))
        set_field(&self._key, get_field(kv._key))
        set_field(&self._value, get_field(kv._value))
        set_field(&self._mod_revision, get_field(kv._mod_revision))
        set_field(&self._prev_kv, prev_kv)
        self._create_revision = kv.create_revision
        self._version = kv.version
        self._lease = kv.lease
        self._kv = kv

    def __dealloc__(self):
        Py_XDECREF(self._type)
        Py_XDECREF(self._key)
        Py_XDECREF(self._value)
        Py_XDECREF(self._mod_revision)
        Py_XDECREF(self._prev_kv)

    @property
    def kv(self):
        """The key after the event (mvccpb.Event.kv)."""
        cdef KeyValue kv = self._kv
        if kv is None:
            kv = KeyValue.__new__(KeyValue)
            set_field(&kv._key, get_field(self._key))
            set_field(&kv._value, get_field(self._value))
            set_field(&kv._mod_revision, get_field(self._mod_revision))
            kv.create_revision = self._create_revision
            kv.version = self._version
            kv.lease = self._lease
            self._kv = kv
        return kv

    cdef tuple _fields(self):
        return (get_field(self._type), self.kv, get_field(self._prev_kv))

    def __eq__(self, other):
        if not isinstance(other, Event):
            return NotImplemented
        return self._fields() == (<Event>other)._fields()

    def __hash__(self):
        return hash(self._fields())

    def __reduce__(self):
        return (Event, self._fields())

    def __repr__(self):
        return "Event(type={!r}, kv={!r}, prev_kv={!r})".format(*self._fields())


cdef install_members():
    cdef KeyValue kv = KeyValue.__new__(KeyValue)
    cdef Event event = Event.__new__(Event)
    cdef char* kv_base = <char*><PyObject*>kv
    cdef char* event_base = <char*><PyObject*>event
    add_member(KeyValue, b"key", <char*>&kv._key - kv_base, b"The key (bytes).")
    add_member(KeyValue, b"value", <char*>&kv._value - kv_base, b"The value (bytes).")
    add_member(KeyValue, b"mod_revision", <char*>&kv._mod_revision - kv_base, b"Revision of the last change.")
    add_member(Event, b"type", <char*>&event._type - event_base, b"EventType.PUT or EventType.DELETE.")
    add_member(Event, b"key", <char*>&event._key - event_base, b"The event's key (kv.key).")
    add_member(Event, b"value", <char*>&event._value - event_base, b"The value after the event (kv.value).")
    add_member(Event, b"mod_revision", <char*>&event._mod_revision - event_base, b"Revision of the event.")
    add_member(Event, b"prev_kv", <char*>&event._prev_kv - event_base, b"The key before the event, or None.")


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
