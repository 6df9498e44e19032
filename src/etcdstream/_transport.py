"""TransportBase: what the blocking and the asyncio transport share (_transport_sync, _transport_async)."""

from __future__ import annotations

import logging
from typing import Any

from ._calls import Call
from ._core import ClientCore
from ._endpoints import Endpoint
from ._log import CLIENT
from ._retry import Decision, Step
from ._stats import Counters


class TransportBase:
    """What both transports (Transport, AsyncTransport) have in common: their state, without I/O."""

    def __init__(self, core: ClientCore) -> None:
        self.core = core
        self._closed = False
        self._connection: Any = None  # the transport's Connection in use, opened on the first call
        self.counters = Counters()

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    @property
    def timeout(self) -> float:
        """Seconds a call may take unless it says otherwise."""
        return self.core.timeout

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint in use."""
        return self.core.endpoint

    @property
    def can_fail_over(self) -> bool:
        """Whether there is another endpoint to fail over to."""
        return len(self.core.endpoints) > 1

    def replaced(self, connection: Any) -> bool:
        """Whether a failover has replaced connection (a transport's Connection) since it was opened."""
        return connection.generation != self.core.generation

    def metadata(self, call: Call) -> Any:
        """The call's gRPC metadata (the auth token)."""
        return self.core.metadata(call)

    def forget_token(self) -> None:
        """Drop the token: the next call authenticates again."""
        self.core.token = None

    def answered(self, connection: Any) -> None:
        """A call succeeded on connection (the first one: log that it is connected)."""
        if not connection.answered:
            connection.answered = True
            CLIENT.info("connected to %s", connection.endpoint)

    def log_retry(self, call: Call, code: Any, decision: Decision) -> None:
        """Count a failed attempt tried again, and say at DEBUG with what code and what follows."""
        self.counters.add("retries")
        if CLIENT.isEnabledFor(logging.DEBUG):
            wait = f" after {decision.delay:.2f} s" if decision.delay else ""
            CLIENT.debug("%s on %s failed (%s): %s%s", call.method, self.core.endpoint,
                         getattr(code, "name", code), decision.step.value, wait)

    def _take_step(self, decision: Decision, connection: Any) -> bool:
        """Apply a decision of the retry policy to the state; True if a failover left connection (to retire)."""
        if decision.step is Step.REAUTHENTICATE:
            CLIENT.info("etcd refused the auth token (expired, or the auth store changed): logging in again")
            self.forget_token()
        elif decision.step is Step.FAILOVER and not self.replaced(connection):
            self.core.advance(connection.generation)
            self.counters.add("failovers")
            CLIENT.info("failover from %s to %s: %s", connection.endpoint, self.core.endpoint,
                        decision.reason or "the watch stream broke")
            if self._connection is connection:
                self._connection = None
            return True
        return False
