# The objects the decoders hand to users. KeyValue and Event hold no references
# that can form cycles, so they skip the GC; freelists recycle them between batches.

cdef tuple EVENT_TYPES = (EventType.PUT, EventType.DELETE)


cdef inline object event_type(int32_t value):
    # Open enum, as in proto3: a type newer than this client stays a plain int.
    if 0 <= value <= 1:
        return EVENT_TYPES[value]
    return value


@cython.final
@cython.no_gc
@cython.freelist(512)
cdef class KeyValue:
    """One key of etcd (mvccpb.KeyValue): key and value are bytes, revisions ints."""

    cdef readonly bytes key
    cdef readonly bytes value
    cdef readonly int64_t create_revision
    cdef readonly int64_t mod_revision
    cdef readonly int64_t version
    cdef readonly int64_t lease

    def __init__(self, key=b"", value=b"", create_revision=0, mod_revision=0, version=0, lease=0):
        self.key = bytes(key)
        self.value = bytes(value)
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.version = version
        self.lease = lease

    cdef tuple _fields(self):
        return (self.key, self.value, self.create_revision, self.mod_revision, self.version, self.lease)

    def __eq__(self, other):
        if not isinstance(other, KeyValue):
            return NotImplemented
        return self._fields() == (<KeyValue>other)._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        return (
            f"KeyValue(key={self.key!r}, value={self.value!r}, create_revision={self.create_revision}, "
            f"mod_revision={self.mod_revision}, version={self.version}, lease={self.lease})"
        )


@cython.final
@cython.no_gc
@cython.freelist(512)
cdef class Event:
    """A change to one key (mvccpb.Event): `type`, `kv`, `prev_kv` (None unless asked for)."""

    cdef readonly object type
    cdef readonly bytes key
    cdef readonly bytes value
    cdef readonly int64_t mod_revision
    cdef readonly KeyValue prev_kv
    # The rest of kv; the KeyValue itself is made on first use of .kv, since most
    # consumers read only the shortcuts and one allocation per event is saved.
    cdef int64_t _create_revision
    cdef int64_t _version
    cdef int64_t _lease
    cdef KeyValue _kv

    def __init__(self, type, KeyValue kv not None, KeyValue prev_kv=None):
        self.type = event_type(type)
        self.key = kv.key
        self.value = kv.value
        self.mod_revision = kv.mod_revision
        self._create_revision = kv.create_revision
        self._version = kv.version
        self._lease = kv.lease
        self._kv = kv
        self.prev_kv = prev_kv

    @property
    def kv(self):
        """The key after the event (mvccpb.Event.kv)."""
        cdef KeyValue kv = self._kv
        if kv is None:
            kv = KeyValue.__new__(KeyValue)
            kv.key = self.key
            kv.value = self.value
            kv.create_revision = self._create_revision
            kv.mod_revision = self.mod_revision
            kv.version = self._version
            kv.lease = self._lease
            self._kv = kv
        return kv

    def __eq__(self, other):
        if not isinstance(other, Event):
            return NotImplemented
        return (self.type, self.kv, self.prev_kv) == (other.type, other.kv, other.prev_kv)

    def __hash__(self):
        return hash((self.type, self.kv, self.prev_kv))

    def __repr__(self):
        return f"Event(type={self.type!r}, kv={self.kv!r}, prev_kv={self.prev_kv!r})"


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
