# Encoders of the requests the hot path sends. Every field number is below 16,
# so each tag is one byte; defaults are left out, as protobuf does.

cdef inline Py_ssize_t varint_size(uint64_t value):
    cdef Py_ssize_t size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


cdef inline unsigned char* put_varint(unsigned char* out, uint64_t value):
    while value >= 0x80:
        out[0] = <unsigned char>((value & 0x7F) | 0x80)
        out += 1
        value >>= 7
    out[0] = <unsigned char>value
    return out + 1


cdef inline Py_ssize_t bytes_field_size(bytes value):
    cdef Py_ssize_t length = PyBytes_GET_SIZE(value)
    return 0 if length == 0 else 1 + varint_size(length) + length


cdef inline unsigned char* put_bytes_field(unsigned char* out, int field, bytes value):
    cdef Py_ssize_t length = PyBytes_GET_SIZE(value)
    if length == 0:
        return out
    out[0] = <unsigned char>(field << 3 | LENGTH)
    out = put_varint(out + 1, length)
    memcpy(out, PyBytes_AS_STRING(value), length)
    return out + length


cdef inline Py_ssize_t varint_field_size(uint64_t value):
    return 0 if value == 0 else 1 + varint_size(value)


cdef inline unsigned char* put_varint_field(unsigned char* out, int field, uint64_t value):
    if value == 0:
        return out
    out[0] = <unsigned char>(field << 3 | VARINT)
    return put_varint(out + 1, value)


cdef inline bytes new_bytes(Py_ssize_t size):
    return PyBytes_FromStringAndSize(NULL, size)


def encode_watch_create(
    key,
    range_end=b"",
    *,
    start_revision=0,
    prev_kv=False,
    progress_notify=False,
    fragment=False,
    watch_id=0,
    filters=(),
):
    """Encode a WatchRequest carrying a WatchCreateRequest."""
    cdef bytes key_bytes = check_key("key", key)
    cdef bytes range_end_bytes = check_key("range_end", range_end)
    cdef uint64_t start = check_count("start_revision", start_revision)
    cdef uint64_t watch = check_count("watch_id", watch_id)
    # Filter values are 0 or 1: one byte each when packed.
    cdef bytes packed = bytes([check_enum("filter", f, WatchFilter) for f in filters])
    cdef bint want_progress = progress_notify
    cdef bint want_prev_kv = prev_kv
    cdef bint want_fragment = fragment
    cdef Py_ssize_t create_size = (
        bytes_field_size(key_bytes)
        + bytes_field_size(range_end_bytes)
        + varint_field_size(start)
        + varint_field_size(want_progress)
        + bytes_field_size(packed)
        + varint_field_size(want_prev_kv)
        + varint_field_size(watch)
        + varint_field_size(want_fragment)
    )
    cdef bytes out = new_bytes(1 + varint_size(create_size) + create_size)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    p[0] = 1 << 3 | LENGTH
    p = put_varint(p + 1, create_size)
    p = put_bytes_field(p, 1, key_bytes)
    p = put_bytes_field(p, 2, range_end_bytes)
    p = put_varint_field(p, 3, start)
    p = put_varint_field(p, 4, want_progress)
    p = put_bytes_field(p, 5, packed)
    p = put_varint_field(p, 6, want_prev_kv)
    p = put_varint_field(p, 7, watch)
    put_varint_field(p, 8, want_fragment)
    return out


def encode_watch_cancel(watch_id):
    """Encode a WatchRequest carrying a WatchCancelRequest."""
    cdef uint64_t watch = check_count("watch_id", watch_id)
    cdef Py_ssize_t cancel_size = varint_field_size(watch)
    cdef bytes out = new_bytes(2 + cancel_size)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    p[0] = 2 << 3 | LENGTH
    p[1] = <unsigned char>cancel_size
    put_varint_field(p + 2, 1, watch)
    return out


def encode_watch_progress():
    """Encode a WatchRequest carrying a WatchProgressRequest."""
    return b"\x1a\x00"


def encode_range_request(
    key,
    range_end=b"",
    *,
    limit=0,
    revision=0,
    keys_only=False,
    count_only=False,
    serializable=False,
    sort_order=0,
    sort_target=0,
):
    """Encode an etcdserverpb.RangeRequest."""
    cdef bytes key_bytes = check_key("key", key)
    cdef bytes range_end_bytes = check_key("range_end", range_end)
    cdef uint64_t limit_value = check_count("limit", limit)
    cdef uint64_t revision_value = check_count("revision", revision)
    cdef uint64_t order = check_enum("sort_order", sort_order, SortOrder)
    cdef uint64_t target = check_enum("sort_target", sort_target, SortTarget)
    cdef bint want_serializable = serializable
    cdef bint want_keys_only = keys_only
    cdef bint want_count_only = count_only
    cdef bytes out = new_bytes(
        bytes_field_size(key_bytes)
        + bytes_field_size(range_end_bytes)
        + varint_field_size(limit_value)
        + varint_field_size(revision_value)
        + varint_field_size(order)
        + varint_field_size(target)
        + varint_field_size(want_serializable)
        + varint_field_size(want_keys_only)
        + varint_field_size(want_count_only)
    )
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    p = put_bytes_field(p, 1, key_bytes)
    p = put_bytes_field(p, 2, range_end_bytes)
    p = put_varint_field(p, 3, limit_value)
    p = put_varint_field(p, 4, revision_value)
    p = put_varint_field(p, 5, order)
    p = put_varint_field(p, 6, target)
    p = put_varint_field(p, 7, want_serializable)
    p = put_varint_field(p, 8, want_keys_only)
    put_varint_field(p, 9, want_count_only)
    return out
