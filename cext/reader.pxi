# Bounds-checked reads of protobuf's wire format through a pointer and a length.

cdef enum WireType:
    VARINT = 0
    FIXED64 = 1
    LENGTH = 2
    START_GROUP = 3
    END_GROUP = 4
    FIXED32 = 5

cdef enum:
    MAX_GROUP_DEPTH = 64


cdef struct Reader:
    const unsigned char* buf
    Py_ssize_t pos
    Py_ssize_t end
    Py_ssize_t size  # of the whole data, to tell "past the data" from "past its message"


cdef inline Reader sub_reader(Reader* r, Py_ssize_t length) noexcept:
    cdef Reader sub
    sub.buf = r.buf
    sub.pos = r.pos
    sub.end = r.pos + length
    sub.size = r.size
    return sub


cdef int decode_error(str reason, Py_ssize_t offset) except -1:
    raise DecodeError(reason, offset)


cdef int read_long_varint(Reader* r, uint64_t* out) except -1:
    cdef Py_ssize_t start = r.pos
    cdef Py_ssize_t pos = r.pos
    cdef uint64_t result = 0
    cdef uint64_t byte
    cdef int shift = 0
    while pos < r.end:
        byte = r.buf[pos]
        pos += 1
        # Bits past 64 in a 10th byte are dropped, as protobuf does.
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            out[0] = result
            r.pos = pos
            return 0
        shift += 7
        if shift == 70:
            return decode_error("varint longer than 10 bytes", start)
    return decode_error("truncated varint", start)


cdef int read_varint_slow(Reader* r, uint64_t* out) except -1:
    # Varints that end before the message does are read here; the rest
    # (truncated or over-long ones included) take the careful path.
    cdef Py_ssize_t pos = r.pos
    cdef Py_ssize_t stop = pos + 10
    cdef uint64_t result = 0
    cdef uint64_t byte
    cdef int shift = 0
    if stop > r.end:
        return read_long_varint(r, out)
    while pos < stop:
        byte = r.buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            out[0] = result
            r.pos = pos
            return 0
        shift += 7
    return read_long_varint(r, out)


cdef inline int read_varint(Reader* r, uint64_t* out) except -1:
    # Most varints on the hot path are tags, lengths and small numbers of one or
    # two bytes: they are read inline, the rest in a call.
    cdef Py_ssize_t pos = r.pos
    cdef uint64_t first
    cdef uint64_t second
    if pos < r.end:
        first = r.buf[pos]
        if first < 0x80:
            out[0] = first
            r.pos = pos + 1
            return 0
        if pos + 1 < r.end:
            second = r.buf[pos + 1]
            if second < 0x80:
                out[0] = (first & 0x7F) | (second << 7)
                r.pos = pos + 2
                return 0
    return read_varint_slow(r, out)


cdef int invalid_tag(Py_ssize_t start, uint64_t value) except -1:
    return decode_error(f"invalid field tag {value}", start)


cdef int read_tag_slow(Reader* r, uint32_t* tag) except -1:
    cdef Py_ssize_t start = r.pos
    cdef uint64_t value
    read_varint(r, &value)
    if (value >> 32) != 0 or value < 8:
        return invalid_tag(start, value)
    tag[0] = <uint32_t>value
    return 0


cdef inline int read_tag(Reader* r, uint32_t* tag) except -1:
    # The tags of every known field fit in one byte.
    cdef uint32_t first
    if r.pos < r.end:
        first = r.buf[r.pos]
        if 8 <= first < 0x80:
            tag[0] = first
            r.pos += 1
            return 0
    return read_tag_slow(r, tag)


cdef int length_past_end(Reader* r, Py_ssize_t start, uint64_t value) except -1:
    where = "the data" if r.end == r.size else "its enclosing message"
    return decode_error(f"length {value} runs past the end of {where}", start)


cdef inline int read_length(Reader* r, Py_ssize_t* length) except -1:
    """Read a length prefix and check that what it announces fits in the message."""
    cdef Py_ssize_t start = r.pos
    cdef uint64_t value
    read_varint(r, &value)
    if value > <uint64_t>(r.end - r.pos):
        return length_past_end(r, start, value)
    length[0] = <Py_ssize_t>value
    return 0


cdef int wrong_wire_type(uint32_t tag, int expected, Py_ssize_t tag_pos) except -1:
    return decode_error(f"field {tag >> 3} has wire type {tag & 7}, expected {expected}", tag_pos)


cdef int skip_field(Reader* r, Py_ssize_t tag_pos, uint32_t tag, int depth) except -1:
    """Skip the value of an unknown field."""
    cdef int wire_type = tag & 7
    cdef uint64_t ignored
    cdef Py_ssize_t length
    cdef Py_ssize_t inner_pos
    cdef uint32_t inner
    if wire_type == VARINT:
        return read_varint(r, &ignored)
    if wire_type == LENGTH:
        read_length(r, &length)
        r.pos += length
        return 0
    if wire_type == FIXED64 or wire_type == FIXED32:
        length = 8 if wire_type == FIXED64 else 4
        if r.end - r.pos < length:
            return decode_error(f"truncated fixed{length * 8} field", r.pos)
        r.pos += length
        return 0
    if wire_type == START_GROUP:
        if depth == MAX_GROUP_DEPTH:
            return decode_error("groups nested too deeply", tag_pos)
        while True:
            if r.pos >= r.end:
                return decode_error("group without an end", tag_pos)
            inner_pos = r.pos
            read_tag(r, &inner)
            if (inner & 7) == END_GROUP:
                if (inner >> 3) != (tag >> 3):
                    return decode_error("mismatched end of group", inner_pos)
                return 0
            skip_field(r, inner_pos, inner, depth + 1)
    if wire_type == END_GROUP:
        return decode_error("end of group without a start", tag_pos)
    return decode_error(f"invalid wire type {wire_type}", tag_pos)
