# Bounds-checked reads of protobuf's wire format through a pointer and a length.
#
# The hot readers (`*_at`) take a position and return the next one (-1 with
# DecodeError raised): a message's loop keeps its position in a register. A
# Reader struct in memory would be reloaded after every store to the fields
# being decoded, since C lets those stores alias it. The cold paths (headers,
# unknown fields, errors) use the struct.

# GCC otherwise inlines the error paths into the readers, which then grow past
# its inlining limits and are called out of line at every field. The names are
# those Cython gives these functions (a renamed function only warns that a
# static function is declared and never defined).
cdef extern from *:
    """
    #if defined(__GNUC__)
    #define ETCDSTREAM_COLD __attribute__((noinline, cold))
    #define ETCDSTREAM_INLINE __attribute__((always_inline))
    #else
    #define ETCDSTREAM_COLD
    #define ETCDSTREAM_INLINE
    #endif
    static Py_ssize_t __pyx_f_10etcdstream_6_codec_varint_slow(unsigned char const *, Py_ssize_t, Py_ssize_t, uint64_t *) ETCDSTREAM_COLD;
    static Py_ssize_t __pyx_f_10etcdstream_6_codec_tag_slow(unsigned char const *, Py_ssize_t, Py_ssize_t, uint32_t *) ETCDSTREAM_COLD;
    static int __pyx_f_10etcdstream_6_codec_length_past_end(Py_ssize_t, Py_ssize_t, Py_ssize_t, uint64_t) ETCDSTREAM_COLD;
    static Py_ssize_t __pyx_f_10etcdstream_6_codec_unexpected_field_at(unsigned char const *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, uint32_t, uint32_t, uint32_t) ETCDSTREAM_COLD;
    static inline Py_ssize_t __pyx_f_10etcdstream_6_codec_varint_at(unsigned char const *, Py_ssize_t, Py_ssize_t, uint64_t *) ETCDSTREAM_INLINE;
    static inline Py_ssize_t __pyx_f_10etcdstream_6_codec_tag_at(unsigned char const *, Py_ssize_t, Py_ssize_t, uint32_t *) ETCDSTREAM_INLINE;
    static inline Py_ssize_t __pyx_f_10etcdstream_6_codec_length_at(unsigned char const *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t *) ETCDSTREAM_INLINE;
    struct __pyx_t_10etcdstream_6_codec_KVSpan;
    static inline Py_ssize_t __pyx_f_10etcdstream_6_codec_decode_key_value(unsigned char const *, Py_ssize_t, Py_ssize_t, Py_ssize_t, struct __pyx_t_10etcdstream_6_codec_KVSpan *) ETCDSTREAM_INLINE;
    struct __pyx_obj_10etcdstream_6_codec_Event;
    static inline struct __pyx_obj_10etcdstream_6_codec_Event *__pyx_f_10etcdstream_6_codec_decode_event(unsigned char const *, Py_ssize_t, Py_ssize_t, Py_ssize_t) ETCDSTREAM_INLINE;
    """


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


cdef int decode_error(str reason, Py_ssize_t offset) except -1:
    raise DecodeError(reason, offset)


cdef Py_ssize_t varint_slow(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, uint64_t* out) except -1:
    cdef Py_ssize_t start = pos
    cdef uint64_t result = 0
    cdef uint64_t byte
    cdef int shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        # Bits past 64 in a 10th byte are dropped, as protobuf does.
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            out[0] = result
            return pos
        shift += 7
        if shift == 70:
            return decode_error("varint longer than 10 bytes", start)
    return decode_error("truncated varint", start)


cdef inline Py_ssize_t varint_at(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, uint64_t* out) except -1:
    # Tags, lengths and etcd's revisions take one to three bytes: those are read
    # inline, longer or truncated ones in a call.
    cdef uint64_t b0
    cdef uint64_t b1
    cdef uint64_t b2
    if pos < end:
        b0 = buf[pos]
        if b0 < 0x80:
            out[0] = b0
            return pos + 1
        if pos + 2 < end:
            b1 = buf[pos + 1]
            if b1 < 0x80:
                out[0] = (b0 & 0x7F) | (b1 << 7)
                return pos + 2
            b2 = buf[pos + 2]
            if b2 < 0x80:
                out[0] = (b0 & 0x7F) | ((b1 & 0x7F) << 7) | (b2 << 14)
                return pos + 3
    return varint_slow(buf, pos, end, out)


cdef int invalid_tag(Py_ssize_t start, uint64_t value) except -1:
    return decode_error(f"invalid field tag {value}", start)


cdef Py_ssize_t tag_slow(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, uint32_t* tag) except -1:
    cdef uint64_t value
    cdef Py_ssize_t next_pos = varint_slow(buf, pos, end, &value)
    if (value >> 32) != 0 or value < 8:
        return invalid_tag(pos, value)
    tag[0] = <uint32_t>value
    return next_pos


cdef inline Py_ssize_t tag_at(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, uint32_t* tag) except -1:
    # Every known field's tag takes one byte.
    cdef uint32_t first
    if pos < end:
        first = buf[pos]
        if 8 <= first < 0x80:
            tag[0] = first
            return pos + 1
    return tag_slow(buf, pos, end, tag)


cdef int length_past_end(Py_ssize_t end, Py_ssize_t size, Py_ssize_t start, uint64_t value) except -1:
    where = "the data" if end == size else "its enclosing message"
    return decode_error(f"length {value} runs past the end of {where}", start)


cdef inline Py_ssize_t length_at(const unsigned char* buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size, Py_ssize_t* length) except -1:
    """Read a length prefix and check that what it announces fits in the message."""
    cdef uint64_t value
    cdef Py_ssize_t next_pos = varint_at(buf, pos, end, &value)
    if value > <uint64_t>(end - next_pos):
        return length_past_end(end, size, pos, value)
    length[0] = <Py_ssize_t>value
    return next_pos


cdef inline int read_varint(Reader* r, uint64_t* out) except -1:
    r.pos = varint_at(r.buf, r.pos, r.end, out)
    return 0


cdef inline int read_tag(Reader* r, uint32_t* tag) except -1:
    r.pos = tag_at(r.buf, r.pos, r.end, tag)
    return 0


cdef inline int read_length(Reader* r, Py_ssize_t* length) except -1:
    r.pos = length_at(r.buf, r.pos, r.end, r.size, length)
    return 0


cdef int wrong_wire_type(uint32_t tag, int expected, Py_ssize_t tag_pos) except -1:
    return decode_error(f"field {tag >> 3} has wire type {tag & 7}, expected {expected}", tag_pos)


cdef int skip_field(Reader* r, Py_ssize_t tag_pos, uint32_t tag, int depth) except -1:
    """Skip the value of an unknown field."""
    cdef int wire_type = tag & 7
    cdef uint64_t ignored
    cdef Py_ssize_t length = 0
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
