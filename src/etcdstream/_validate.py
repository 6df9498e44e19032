"""Argument checks of the encoders, shared by the compiled codec and its twin.

The operations' own checks (in _calls) build on INT64_MAX; this module stays
at the codec's layer, importing nothing of the package.
"""

#: The largest protobuf int64: revisions, lease ids and counts.
INT64_MAX = (1 << 63) - 1


def check_key(name: str, value: object) -> bytes:
    """Return value if it is bytes, else raise TypeError naming the argument."""
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return value


def check_count(name: str, value: object) -> int:
    """Return value if it is an int in [0, 2**63), else raise TypeError/ValueError."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be between 0 and 2**63-1, got {value}")
    return int(value)


def check_enum(name: str, value: object, enum: type) -> int:
    """Return value if it is one of the IntEnum's values, else raise TypeError/ValueError."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value not in enum._value2member_map_:
        choices = ", ".join(f"{member.name}={member.value}" for member in enum)
        raise ValueError(f"{name} must be one of {choices}, got {value}")
    return int(value)
