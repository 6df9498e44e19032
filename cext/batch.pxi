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

    Fragments of one revision are joined back together; responses must come in
    the order the stream delivered them (ValueError if revisions go backwards).
    """
    cdef list events = []
    cdef int64_t revision = 0
    cdef WatchResponse resp
    for item in responses:
        if not isinstance(item, WatchResponse):
            raise TypeError(f"batch_events takes WatchResponse objects, got {type(item).__name__}")
        resp = <WatchResponse>item
        if resp.revision < revision:
            raise ValueError(f"responses out of order: revision {resp.revision} after {revision}")
        revision = resp.revision
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
        key = <object>event._key
        if not PySet_Contains(seen, key):
            PySet_Add(seen, key)
            kept.append(event)
    kept.reverse()
    return new_batch(kept, batch.revision)
