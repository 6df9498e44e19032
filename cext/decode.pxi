# Decoders. Fields are read into C structs first and objects made once per
# message: a repeated field costs no extra allocation, and protobuf's rules
# (last scalar wins, a repeated message merges) fall out of writing in place.

cdef struct KVSpan:
    const unsigned char* key
    Py_ssize_t key_len
    const unsigned char* value
    Py_ssize_t value_len
    int64_t create_revision
    int64_t mod_revision
    int64_t version
    int64_t lease


cdef struct Header:
    uint64_t cluster_id
    uint64_t member_id
    int64_t revision
    uint64_t raft_term


cdef inline void clear_span(KVSpan* kv) noexcept:
    kv.key = NULL
    kv.key_len = 0
    kv.value = NULL
    kv.value_len = 0
    kv.create_revision = 0
    kv.mod_revision = 0
    kv.version = 0
    kv.lease = 0


cdef inline bytes span_bytes(const unsigned char* start, Py_ssize_t length):
    return PyBytes_FromStringAndSize(<const char*>start, length)


# Tags of the known fields: field number << 3 | wire type.
cdef enum:
    TAG_HEADER_CLUSTER_ID = 1 << 3 | VARINT
    TAG_HEADER_MEMBER_ID = 2 << 3 | VARINT
    TAG_HEADER_REVISION = 3 << 3 | VARINT
    TAG_HEADER_RAFT_TERM = 4 << 3 | VARINT
    TAG_KV_KEY = 1 << 3 | LENGTH
    TAG_KV_CREATE_REVISION = 2 << 3 | VARINT
    TAG_KV_MOD_REVISION = 3 << 3 | VARINT
    TAG_KV_VERSION = 4 << 3 | VARINT
    TAG_KV_VALUE = 5 << 3 | LENGTH
    TAG_KV_LEASE = 6 << 3 | VARINT
    TAG_EVENT_TYPE = 1 << 3 | VARINT
    TAG_EVENT_KV = 2 << 3 | LENGTH
    TAG_EVENT_PREV_KV = 3 << 3 | LENGTH
    TAG_WATCH_HEADER = 1 << 3 | LENGTH
    TAG_WATCH_WATCH_ID = 2 << 3 | VARINT
    TAG_WATCH_CREATED = 3 << 3 | VARINT
    TAG_WATCH_CANCELED = 4 << 3 | VARINT
    TAG_WATCH_COMPACT_REVISION = 5 << 3 | VARINT
    TAG_WATCH_CANCEL_REASON = 6 << 3 | LENGTH
    TAG_WATCH_FRAGMENT = 7 << 3 | VARINT
    TAG_WATCH_EVENTS = 11 << 3 | LENGTH
    TAG_RANGE_HEADER = 1 << 3 | LENGTH
    TAG_RANGE_KVS = 2 << 3 | LENGTH
    TAG_RANGE_MORE = 3 << 3 | VARINT
    TAG_RANGE_COUNT = 4 << 3 | VARINT


cdef int unexpected_field(Reader* r, Py_ssize_t tag_pos, uint32_t tag, uint32_t length_fields, uint32_t varint_fields) except -1:
    """A field that is not one of the tags above: a known field with the wrong wire type, or an unknown one.

    The known fields are bit sets of field numbers, by the wire type they must have.
    """
    cdef uint32_t field = tag >> 3
    if field < 32 and (length_fields >> field) & 1:
        return wrong_wire_type(tag, LENGTH, tag_pos)
    if field < 32 and (varint_fields >> field) & 1:
        return wrong_wire_type(tag, VARINT, tag_pos)
    return skip_field(r, tag_pos, tag, 0)


cdef Py_ssize_t unexpected_field_at(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size,
                                    Py_ssize_t tag_pos, uint32_t tag, uint32_t length_fields, uint32_t varint_fields) except -1:
    """unexpected_field for the position-passing loops: returns the position after the field."""
    cdef Reader r
    r.buf = buf
    r.pos = pos
    r.end = end
    r.size = size
    unexpected_field(&r, tag_pos, tag, length_fields, varint_fields)
    return r.pos


cdef Py_ssize_t decode_header_at(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size, Header* header) except -1:
    cdef Reader r
    r.buf = buf
    r.pos = pos
    r.end = end
    r.size = size
    decode_header(&r, header)
    return end


cdef int decode_header(Reader* r, Header* header) except -1:
    cdef Py_ssize_t tag_pos
    cdef uint32_t tag
    cdef uint64_t value
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(r, &tag)
        if tag == TAG_HEADER_CLUSTER_ID:
            read_varint(r, &header.cluster_id)
        elif tag == TAG_HEADER_MEMBER_ID:
            read_varint(r, &header.member_id)
        elif tag == TAG_HEADER_REVISION:
            read_varint(r, &value)
            header.revision = <int64_t>value
        elif tag == TAG_HEADER_RAFT_TERM:
            read_varint(r, &header.raft_term)
        else:
            unexpected_field(r, tag_pos, tag, 0, 0b11110)
    return 0


cdef inline Py_ssize_t decode_key_value(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size, KVSpan* kv) except -1:
    """Read the KeyValue in buf[pos:end] into kv; return end."""
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length = 0
    cdef uint32_t tag
    cdef uint64_t value
    # etcd writes the fields in field-number order, each once: read that order
    # straight through, then whatever is left (fields out of order, repeated or
    # unknown) in the general loop. Either way each field is read where it lies.
    if pos < end and buf[pos] == TAG_KV_KEY:
        pos = length_at(buf, pos + 1, end, size, &length)
        kv.key = buf + pos
        kv.key_len = length
        pos += length
    if pos < end and buf[pos] == TAG_KV_CREATE_REVISION:
        pos = varint_at(buf, pos + 1, end, &value)
        kv.create_revision = <int64_t>value
    if pos < end and buf[pos] == TAG_KV_MOD_REVISION:
        pos = varint_at(buf, pos + 1, end, &value)
        kv.mod_revision = <int64_t>value
    if pos < end and buf[pos] == TAG_KV_VERSION:
        pos = varint_at(buf, pos + 1, end, &value)
        kv.version = <int64_t>value
    if pos < end and buf[pos] == TAG_KV_VALUE:
        pos = length_at(buf, pos + 1, end, size, &length)
        kv.value = buf + pos
        kv.value_len = length
        pos += length
    if pos < end and buf[pos] == TAG_KV_LEASE:
        pos = varint_at(buf, pos + 1, end, &value)
        kv.lease = <int64_t>value
    while pos < end:
        tag_pos = pos
        pos = tag_at(buf, pos, end, &tag)
        if tag == TAG_KV_KEY:
            pos = length_at(buf, pos, end, size, &length)
            kv.key = buf + pos
            kv.key_len = length
            pos += length
        elif tag == TAG_KV_VALUE:
            pos = length_at(buf, pos, end, size, &length)
            kv.value = buf + pos
            kv.value_len = length
            pos += length
        elif tag == TAG_KV_MOD_REVISION:
            pos = varint_at(buf, pos, end, &value)
            kv.mod_revision = <int64_t>value
        elif tag == TAG_KV_CREATE_REVISION:
            pos = varint_at(buf, pos, end, &value)
            kv.create_revision = <int64_t>value
        elif tag == TAG_KV_VERSION:
            pos = varint_at(buf, pos, end, &value)
            kv.version = <int64_t>value
        elif tag == TAG_KV_LEASE:
            pos = varint_at(buf, pos, end, &value)
            kv.lease = <int64_t>value
        else:
            pos = unexpected_field_at(buf, pos, end, size, tag_pos, tag, 0b100010, 0b1011100)
    return pos


cdef inline KeyValue make_key_value(KVSpan* span):
    cdef KeyValue kv = KeyValue.__new__(KeyValue)
    kv._key = span_bytes(span.key, span.key_len)
    kv._value = span_bytes(span.value, span.value_len)
    kv._mod_revision = span.mod_revision
    kv.create_revision = span.create_revision
    kv.version = span.version
    kv.lease = span.lease
    return kv


cdef inline Event decode_event(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size):
    """The Event in buf[pos:end]."""
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length = 0
    cdef uint32_t tag
    cdef uint64_t value
    cdef int32_t type_value = 0
    cdef KVSpan kv
    cdef KVSpan prev_kv
    cdef bint has_prev_kv = False
    clear_span(&kv)
    clear_span(&prev_kv)
    # In field order first, as in decode_key_value (a PUT has no type on the wire).
    if pos < end and buf[pos] == TAG_EVENT_TYPE:
        pos = varint_at(buf, pos + 1, end, &value)
        type_value = <int32_t>value
    if pos < end and buf[pos] == TAG_EVENT_KV:
        pos = length_at(buf, pos + 1, end, size, &length)
        pos = decode_key_value(buf, pos, pos + length, size, &kv)
    while pos < end:
        tag_pos = pos
        pos = tag_at(buf, pos, end, &tag)
        if tag == TAG_EVENT_KV:
            pos = length_at(buf, pos, end, size, &length)
            pos = decode_key_value(buf, pos, pos + length, size, &kv)
        elif tag == TAG_EVENT_PREV_KV:
            pos = length_at(buf, pos, end, size, &length)
            has_prev_kv = True
            pos = decode_key_value(buf, pos, pos + length, size, &prev_kv)
        elif tag == TAG_EVENT_TYPE:
            pos = varint_at(buf, pos, end, &value)
            type_value = <int32_t>value
        else:
            pos = unexpected_field_at(buf, pos, end, size, tag_pos, tag, 0b1100, 0b10)
    cdef Event event = Event.__new__(Event)
    event._type = event_type(type_value)
    event._key = span_bytes(kv.key, kv.key_len)
    event._value = span_bytes(kv.value, kv.value_len)
    event._mod_revision = kv.mod_revision
    if has_prev_kv:  # else it stays None
        event._prev_kv = make_key_value(&prev_kv)
    event._create_revision = kv.create_revision
    event._version = kv.version
    event._lease = kv.lease
    return event


def decode_watch_response(bytes data not None):
    """Decode an etcdserverpb.WatchResponse; raise DecodeError on bad bytes."""
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t pos = 0
    cdef Header header
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length = 0
    cdef uint32_t tag
    cdef uint64_t value
    cdef WatchResponse resp = WatchResponse.__new__(WatchResponse)
    cdef list events = resp.events
    header.cluster_id = header.member_id = header.raft_term = 0
    header.revision = 0
    while pos < size:
        tag_pos = pos
        pos = tag_at(buf, pos, size, &tag)
        if tag == TAG_WATCH_EVENTS:
            pos = length_at(buf, pos, size, size, &length)
            events.append(decode_event(buf, pos, pos + length, size))
            pos += length
        elif tag == TAG_WATCH_HEADER:
            pos = length_at(buf, pos, size, size, &length)
            pos = decode_header_at(buf, pos, pos + length, size, &header)
        elif tag == TAG_WATCH_CANCEL_REASON:
            pos = length_at(buf, pos, size, size, &length)
            try:
                resp.cancel_reason = PyUnicode_DecodeUTF8(<const char*>(buf + pos), length, NULL)
            except UnicodeDecodeError:
                decode_error("invalid UTF-8 in a string field", pos)
            pos += length
        elif tag == TAG_WATCH_WATCH_ID:
            pos = varint_at(buf, pos, size, &value)
            resp.watch_id = <int64_t>value
        elif tag == TAG_WATCH_CREATED:
            pos = varint_at(buf, pos, size, &value)
            resp.created = value != 0
        elif tag == TAG_WATCH_CANCELED:
            pos = varint_at(buf, pos, size, &value)
            resp.canceled = value != 0
        elif tag == TAG_WATCH_COMPACT_REVISION:
            pos = varint_at(buf, pos, size, &value)
            resp.compact_revision = <int64_t>value
        elif tag == TAG_WATCH_FRAGMENT:
            pos = varint_at(buf, pos, size, &value)
            resp.fragment = value != 0
        else:
            pos = unexpected_field_at(buf, pos, size, size, tag_pos, tag, 0b100001000010, 0b10111100)
    resp.cluster_id = header.cluster_id
    resp.member_id = header.member_id
    resp.revision = header.revision
    resp.raft_term = header.raft_term
    return resp


def decode_range_response(bytes data not None):
    """Decode an etcdserverpb.RangeResponse; raise DecodeError on bad bytes."""
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t pos = 0
    cdef Header header
    cdef KVSpan kv
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length = 0
    cdef uint32_t tag
    cdef uint64_t value
    cdef RangeResponse resp = RangeResponse.__new__(RangeResponse)
    cdef list kvs = resp.kvs
    header.cluster_id = header.member_id = header.raft_term = 0
    header.revision = 0
    while pos < size:
        tag_pos = pos
        pos = tag_at(buf, pos, size, &tag)
        if tag == TAG_RANGE_KVS:
            pos = length_at(buf, pos, size, size, &length)
            clear_span(&kv)
            pos = decode_key_value(buf, pos, pos + length, size, &kv)
            kvs.append(make_key_value(&kv))
        elif tag == TAG_RANGE_HEADER:
            pos = length_at(buf, pos, size, size, &length)
            pos = decode_header_at(buf, pos, pos + length, size, &header)
        elif tag == TAG_RANGE_MORE:
            pos = varint_at(buf, pos, size, &value)
            resp.more = value != 0
        elif tag == TAG_RANGE_COUNT:
            pos = varint_at(buf, pos, size, &value)
            resp.count = <int64_t>value
        else:
            pos = unexpected_field_at(buf, pos, size, size, tag_pos, tag, 0b110, 0b11000)
    resp.cluster_id = header.cluster_id
    resp.member_id = header.member_id
    resp.revision = header.revision
    resp.raft_term = header.raft_term
    return resp
