"""The exceptions etcdstream raises; shared by the compiled codec and its twin."""


class EtcdError(Exception):
    """Base class of every error etcdstream raises."""


class DecodeError(EtcdError, ValueError):
    """Bytes that are not a valid etcd message; `offset` is where decoding stopped."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset

    def __reduce__(self):
        return (type(self), (self.reason, self.offset))
