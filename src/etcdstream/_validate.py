"""Argument checks of the encoders, shared by the compiled codec and its twin, and of enum arguments.

The operations' own checks (in _calls) build on INT64_MAX; this module stays
at the codec's layer, importing nothing of the package. enum_member is here
because both layers take enum arguments: the client's (sort_order, filters,
perm_type, ...) and the codec's Event(type, ...).
"""

import reprlib
from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)

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


def enum_member(name: str, value: object, enum: type[E]) -> E:
    """The member of enum that value is, or that it names: a str, any case, one of the member's names in
    enum.__members__ (aliases included: SortTarget's "create_revision" is SortTarget.CREATE). Anything else
    raises, naming the argument, the members, their names and what was given: TypeError for what is
    neither a member nor a str (a plain int too: a member says what it means), ValueError for an unknown name.
    """
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        member = enum.__members__.get(value.upper())
        if member is not None:
            return member
    members = ", ".join(f"{enum.__name__}.{member.name}" for member in enum)
    names = ", ".join(repr(alias.lower()) for alias in enum.__members__)
    given = reprlib.repr(value) if isinstance(value, str) else f"{type(value).__name__} {reprlib.repr(value)}"
    message = f"{name} must be one of {members} or its name as a str (any case: {names}), got {given}"
    raise ValueError(message) if isinstance(value, str) else TypeError(message)
