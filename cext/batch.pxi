# Batching: the events of a watch ready at one moment, and their coalesced form.

@cython.final
cdef class EventBatch:
    """Events of one watch ready at one moment, in revision order.

    `revision` is the revision up to which the watch has seen everything.
    """

    cdef readonly list events
    cdef readonly int64_t revision

    def __init__(self, events=(), revision=0):
        self.events = list(events)
        self.revision = revision

    def __len__(self):
        return PyList_GET_SIZE(self.events)

    def __iter__(self):
        return iter(self.events)

    def __repr__(self):
        return f"<EventBatch revision={self.revision} events={len(self.events)}>"


cdef EventBatch new_batch(list events, int64_t revision):
    cdef EventBatch batch = EventBatch.__new__(EventBatch)
    batch.events = events
    batch.revision = revision
    return batch


def batch_events(responses):
    """Join the events of consecutive responses of one watch into one batch.

    Fragments of one revision are joined back together. The batch's revision
    is the revision up to which the responses show every event: the last
    event's revision, or a progress notification's header revision (a
    catching-up watcher's header revision runs ahead of its events, and a
    created or canceled response says nothing about events). Responses must
    come in the order the stream delivered them (ValueError if they go back).
    """
    cdef list events = []
    cdef int64_t revision = 0
    cdef int64_t seen
    cdef WatchResponse resp
    for item in responses:
        if not isinstance(item, WatchResponse):
            raise TypeError(f"batch_events takes WatchResponse objects, got {type(item).__name__}")
        resp = <WatchResponse>item
        if PyList_GET_SIZE(resp.events):
            seen = (<Event>PyList_GET_ITEM(resp.events, PyList_GET_SIZE(resp.events) - 1))._mod_revision
        elif resp.created or resp.canceled:
            continue
        else:
            seen = resp.revision
        if seen < revision:
            raise ValueError(f"responses out of order: revision {seen} after {revision}")
        revision = seen
        events.extend(resp.events)
    return new_batch(events, revision)


def coalesce(EventBatch batch not None):
    """Keep only the last event of each key, in revision order."""
    cdef list events = batch.events
    cdef Py_ssize_t i
    cdef set seen = set()
    cdef list kept = []
    cdef Event event
    for i in range(PyList_GET_SIZE(events) - 1, -1, -1):
        event = <Event>PyList_GET_ITEM(events, i)
        key = event._key
        if not PySet_Contains(seen, key):
            PySet_Add(seen, key)
            kept.append(event)
    kept.reverse()
    return new_batch(kept, batch.revision)


cdef inline int compare_keys(PyObject* key, bytes other):
    """memcmp's order of two bytes objects, shorter first on a tie."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(<object>key), m = PyBytes_GET_SIZE(other)
    cdef int order = memcmp(PyBytes_AS_STRING(<object>key), PyBytes_AS_STRING(other), n if n < m else m)
    if order:
        return order
    return (n > m) - (n < m)


def event_out_of_order(WatchResponse resp not None, int64_t after_revision):
    """The first event of resp at or below after_revision, or below the event before it, or None.

    etcd promises each watch its events once, in revision order (the events of
    one revision may be several: a txn). A watcher checks every response with
    it against the revision it has delivered up to, so that an old server's bug
    or a mixed-up stream is caught before anything of it is delivered.
    """
    cdef list events = resp.events
    cdef Py_ssize_t i
    cdef int64_t floor = after_revision + 1
    cdef int64_t revision
    for i in range(PyList_GET_SIZE(events)):
        revision = (<Event>PyList_GET_ITEM(events, i))._mod_revision
        if revision < floor:
            return <Event>PyList_GET_ITEM(events, i)
        floor = revision
    return None


def event_outside_range(WatchResponse resp not None, bytes key not None, bytes range_end not None):
    """The first event of resp whose key is outside the watched range, or None.

    The range is etcd's: [key, range_end), the one key when range_end is empty,
    every key from key on when range_end is b"\\x00". A watcher checks its
    events with it: a proxy that answers creates out of order could otherwise
    hand it another range's events.
    """
    cdef list events = resp.events
    cdef Py_ssize_t i
    cdef Py_ssize_t end_size = PyBytes_GET_SIZE(range_end)
    cdef bint to_the_end = end_size == 1 and PyBytes_AS_STRING(range_end)[0] == 0
    cdef PyObject* event_key
    for i in range(PyList_GET_SIZE(events)):
        event_key = <PyObject*>(<Event>PyList_GET_ITEM(events, i))._key
        if end_size == 0:
            if compare_keys(event_key, key) != 0:
                return <Event>PyList_GET_ITEM(events, i)
        elif compare_keys(event_key, key) < 0 or (not to_the_end and compare_keys(event_key, range_end) >= 0):
            return <Event>PyList_GET_ITEM(events, i)
    return None


cdef bytes key_without_prefix(object key, bytes prefix):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(prefix), size = PyBytes_GET_SIZE(key)
    if size < n or memcmp(PyBytes_AS_STRING(key), PyBytes_AS_STRING(prefix), n) != 0:
        raise ValueError(f"key {key!r} is outside the namespace {prefix!r}")
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(key) + n, size - n)


cdef KeyValue kv_without_prefix(KeyValue kv, bytes prefix):
    cdef KeyValue out = KeyValue.__new__(KeyValue)
    out._key = key_without_prefix(kv._key, prefix)
    out._value = kv._value
    out._mod_revision = kv._mod_revision
    out.create_revision = kv.create_revision
    out.version = kv.version
    out.lease = kv.lease
    return out


def without_prefix(items, bytes prefix not None):
    """Copies of items (KeyValue or Event objects, an Event's kv and prev_kv alike) whose keys lose
    the leading prefix: what a namespace shows of etcd's keys. ValueError for a key outside it."""
    cdef list out = []
    cdef Event event, copy
    for item in items:
        if isinstance(item, Event):
            event = <Event>item
            copy = Event.__new__(Event)
            copy._type = event._type
            copy._key = key_without_prefix(event._key, prefix)
            copy._value = event._value
            copy._mod_revision = event._mod_revision
            copy._create_revision = event._create_revision
            copy._version = event._version
            copy._lease = event._lease
            copy._prev_kv = None if event._prev_kv is None else kv_without_prefix(<KeyValue>event._prev_kv, prefix)
            out.append(copy)
        elif isinstance(item, KeyValue):
            out.append(kv_without_prefix(<KeyValue>item, prefix))
        else:
            raise TypeError(f"without_prefix takes KeyValue or Event objects, got {type(item).__name__}")
    return out
