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


cdef inline void clear_span(KVSpan* kv):
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


cdef int decode_header(Reader* r, Header* header) except -1:
    cdef Py_ssize_t tag_pos
    cdef uint32_t tag
    cdef uint32_t field
    cdef uint64_t value
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(r, &tag)
        field = tag >> 3
        if 1 <= field <= 4:
            expect_wire_type(tag, VARINT, tag_pos)
            read_varint(r, &value)
            if field == 1:
                header.cluster_id = value
            elif field == 2:
                header.member_id = value
            elif field == 3:
                header.revision = <int64_t>value
            else:
                header.raft_term = value
        else:
            skip_field(r, tag_pos, tag, 0)
    return 0


cdef int decode_key_value(Reader* r, KVSpan* kv) except -1:
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length
    cdef uint32_t tag
    cdef uint32_t field
    cdef uint64_t value
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(r, &tag)
        field = tag >> 3
        if field == 1 or field == 5:
            expect_wire_type(tag, LENGTH, tag_pos)
            read_length(r, &length)
            if field == 1:
                kv.key = r.buf + r.pos
                kv.key_len = length
            else:
                kv.value = r.buf + r.pos
                kv.value_len = length
            r.pos += length
        elif 2 <= field <= 6:
            expect_wire_type(tag, VARINT, tag_pos)
            read_varint(r, &value)
            if field == 2:
                kv.create_revision = <int64_t>value
            elif field == 3:
                kv.mod_revision = <int64_t>value
            elif field == 4:
                kv.version = <int64_t>value
            else:
                kv.lease = <int64_t>value
        else:
            skip_field(r, tag_pos, tag, 0)
    return 0


cdef KeyValue make_key_value(KVSpan* span):
    cdef KeyValue kv = KeyValue.__new__(KeyValue)
    kv.key = span_bytes(span.key, span.key_len)
    kv.value = span_bytes(span.value, span.value_len)
    kv.create_revision = span.create_revision
    kv.mod_revision = span.mod_revision
    kv.version = span.version
    kv.lease = span.lease
    return kv


cdef Event decode_event(Reader* r):
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length
    cdef uint32_t tag
    cdef uint32_t field
    cdef uint64_t value
    cdef int32_t type_value = 0
    cdef KVSpan kv
    cdef KVSpan prev_kv
    cdef bint has_prev_kv = False
    cdef Reader sub
    clear_span(&kv)
    clear_span(&prev_kv)
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(r, &tag)
        field = tag >> 3
        if field == 1:
            expect_wire_type(tag, VARINT, tag_pos)
            read_varint(r, &value)
            type_value = <int32_t>value
        elif field == 2 or field == 3:
            expect_wire_type(tag, LENGTH, tag_pos)
            read_length(r, &length)
            sub = sub_reader(r, length)
            if field == 2:
                decode_key_value(&sub, &kv)
            else:
                has_prev_kv = True
                decode_key_value(&sub, &prev_kv)
            r.pos += length
        else:
            skip_field(r, tag_pos, tag, 0)
    cdef Event event = Event.__new__(Event)
    event.type = event_type(type_value)
    event.key = span_bytes(kv.key, kv.key_len)
    event.value = span_bytes(kv.value, kv.value_len)
    event.mod_revision = kv.mod_revision
    event._create_revision = kv.create_revision
    event._version = kv.version
    event._lease = kv.lease
    event._kv = None
    event.prev_kv = make_key_value(&prev_kv) if has_prev_kv else None
    return event


cdef inline Reader whole_reader(bytes data):
    cdef Reader r
    r.buf = <const unsigned char*>PyBytes_AS_STRING(data)
    r.pos = 0
    r.end = PyBytes_GET_SIZE(data)
    r.size = r.end
    return r


def decode_watch_response(bytes data not None):
    """Decode an etcdserverpb.WatchResponse; raise DecodeError on bad bytes."""
    cdef Reader r = whole_reader(data)
    cdef Reader sub
    cdef Header header
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length
    cdef uint32_t tag
    cdef uint32_t field
    cdef uint64_t value
    cdef WatchResponse resp = WatchResponse.__new__(WatchResponse)
    cdef list events = resp.events
    header.cluster_id = header.member_id = header.raft_term = 0
    header.revision = 0
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(&r, &tag)
        field = tag >> 3
        if field == 11 or field == 1 or field == 6:
            expect_wire_type(tag, LENGTH, tag_pos)
            read_length(&r, &length)
            sub = sub_reader(&r, length)
            if field == 11:
                events.append(decode_event(&sub))
            elif field == 1:
                decode_header(&sub, &header)
            else:
                try:
                    resp.cancel_reason = PyUnicode_DecodeUTF8(<const char*>(r.buf + r.pos), length, NULL)
                except UnicodeDecodeError:
                    decode_error("invalid UTF-8 in a string field", r.pos)
            r.pos += length
        elif 2 <= field <= 7:
            expect_wire_type(tag, VARINT, tag_pos)
            read_varint(&r, &value)
            if field == 2:
                resp.watch_id = <int64_t>value
            elif field == 3:
                resp.created = value != 0
            elif field == 4:
                resp.canceled = value != 0
            elif field == 5:
                resp.compact_revision = <int64_t>value
            else:
                resp.fragment = value != 0
        else:
            skip_field(&r, tag_pos, tag, 0)
    resp.cluster_id = header.cluster_id
    resp.member_id = header.member_id
    resp.revision = header.revision
    resp.raft_term = header.raft_term
    return resp


def decode_range_response(bytes data not None):
    """Decode an etcdserverpb.RangeResponse; raise DecodeError on bad bytes."""
    cdef Reader r = whole_reader(data)
    cdef Reader sub
    cdef Header header
    cdef KVSpan kv
    cdef Py_ssize_t tag_pos
    cdef Py_ssize_t length
    cdef uint32_t tag
    cdef uint32_t field
    cdef uint64_t value
    cdef RangeResponse resp = RangeResponse.__new__(RangeResponse)
    cdef list kvs = resp.kvs
    header.cluster_id = header.member_id = header.raft_term = 0
    header.revision = 0
    while r.pos < r.end:
        tag_pos = r.pos
        read_tag(&r, &tag)
        field = tag >> 3
        if field == 1 or field == 2:
            expect_wire_type(tag, LENGTH, tag_pos)
            read_length(&r, &length)
            sub = sub_reader(&r, length)
            if field == 2:
                clear_span(&kv)
                decode_key_value(&sub, &kv)
                kvs.append(make_key_value(&kv))
            else:
                decode_header(&sub, &header)
            r.pos += length
        elif field == 3 or field == 4:
            expect_wire_type(tag, VARINT, tag_pos)
            read_varint(&r, &value)
            if field == 3:
                resp.more = value != 0
            else:
                resp.count = <int64_t>value
        else:
            skip_field(&r, tag_pos, tag, 0)
    resp.cluster_id = header.cluster_id
    resp.member_id = header.member_id
    resp.revision = header.revision
    resp.raft_term = header.raft_term
    return resp
