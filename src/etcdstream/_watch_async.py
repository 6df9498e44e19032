"""The asyncio client's Watch stream: one task reads the stream all watchers share."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from . import codec
from ._cluster_ops import STATUS_CALL
from ._errors import ClientClosed, EtcdError, Timeout
from ._results import Snapshot
from ._transport_async import cancelled_by_caller
from ._watch import WATCH_METHOD
from ._watch_driver import STOP, STREAM_CALL, StreamStep, WatchStreamDriver, server_status
from ._watch_spec import WatchSpec
from ._watcher_async import AsyncWatcher
from ._watcher_state import WatcherState
from .codec import EventBatch

if TYPE_CHECKING:
    from ._transport_async import AsyncTransport, Connection


class AsyncWatchStream(WatchStreamDriver):
    """The one Watch stream of an AsyncClient, reconnected (and resumed) as long as it has watchers."""

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport)
        self._transport: AsyncTransport = transport
        # Weak: a closed watcher whose consumer never reads again must not stay here.
        self._wakeups: weakref.WeakKeyDictionary[WatcherState, asyncio.Event] = weakref.WeakKeyDictionary()
        self._task: asyncio.Task[None] | None = None

    async def open(self, spec: WatchSpec, max_buffered_events: int, after: Snapshot | None = None) -> AsyncWatcher:
        """Start a watcher on the stream (starting the stream if needed) and wait until etcd created it.

        Waiting means that a watch "from now" sees every change made after it returns,
        and that a refused watch (permission denied, compacted) raises here.
        after: the snapshot this watch continues (its history must be the snapshot's).
        """
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        watcher = WatcherState(spec, max_buffered_events, after)
        wakeup = self._wakeups[watcher] = asyncio.Event()
        self._state.add(watcher)
        self._flush()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="etcdstream-watch")
        timeout = self._transport.timeout

        async def started() -> None:
            while not watcher.has_started():
                wakeup.clear()
                await wakeup.wait()

        try:
            await asyncio.wait_for(started(), timeout)
        except asyncio.TimeoutError:
            self.close_watcher(watcher)
            raise Timeout(f"etcd at {self._transport.endpoint} did not create the watch within {timeout:g} s "
                          "(is etcd reachable? raise the client's timeout=)") from None
        if watcher.error is not None and not watcher.responses:
            raise watcher.error
        return AsyncWatcher(self, watcher)

    def request_progress(self) -> bool:
        """Ask etcd for a progress notification on this stream now; False when there is no stream now, or its
        server answers them ahead of its events (_watch_progress)."""
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        if self._requests is None or not self._state.request_progress():
            return False
        self._flush()
        return True

    async def next_batch(self, watcher: WatcherState, timeout: float | None) -> EventBatch | None:
        while not watcher.has_news():
            wakeup = self._wakeups[watcher]  # dropped once the watcher ended, which is news forever
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        if not watcher.responses:
            self._wakeups.pop(watcher, None)  # it ended: news forever
        batch = self._state.take_news(watcher)
        self._flush()
        return batch

    def close_watcher(self, watcher: WatcherState) -> None:
        if not watcher.closed:
            self._state.remove(watcher)
            self._flush()
            self._wake([watcher])

    async def close(self) -> None:
        """Stop the stream and its task; every watcher ends."""
        self._closed = True
        failed = self._state.fail_all(ClientClosed("the client was closed"))
        for watcher in failed:
            watcher.closed = True
        self._wake(failed)
        self._stop_call()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # --- the stream task ---

    def _wake(self, watchers: list[WatcherState]) -> None:
        for watcher in watchers:
            wakeup = self._wakeups.get(watcher)
            if wakeup is not None:
                wakeup.set()


    async def _run(self) -> None:
        pause = 0.0
        while not self._closed:
            if pause:
                await self._pause(pause)
            connection = None
            try:
                connection = self._transport.connect()
                await self._transport.authenticate(STREAM_CALL)
                await self._read(connection)
                pause = 0.0  # etcd ended the stream: reconnect at once
            except grpc.RpcError as e:
                if self._closed:
                    return
                step, error = self._broken_by(e)
                if not await self._recover(step, error, connection):
                    return
                pause = self._state.pause_after(pause, error)
            except asyncio.CancelledError:
                if self._closed or cancelled_by_caller():
                    raise
                pause = self._state.pause_after(pause)  # the channel was closed by a failover: the next one
            except grpc.aio.UsageError:  # "Channel is closed": a unary call's failover closed it first
                if self._closed or connection is None or not self._transport.replaced(connection):
                    raise
                pause = self._state.pause_after(pause)
            except EtcdError as e:
                if self._ends_after(e):
                    return
                pause = self._state.pause_after(pause, e)

    async def _pause(self, pause: float) -> None:
        """Wait pause seconds before reconnecting, or less: until the channel connects again after failed
        attempts (a call made during grpc's own reconnect backoff fails at once: the backoffs would add up)."""
        try:
            channel = self._transport.connect().channel
        except ClientClosed:
            return

        async def recovered() -> None:
            failed = False
            while True:
                state = channel.get_state(try_to_connect=True)
                failed = failed or state is grpc.ChannelConnectivity.TRANSIENT_FAILURE
                if failed and state is grpc.ChannelConnectivity.READY:
                    return
                await channel.wait_for_state_change(state)

        try:
            await asyncio.wait_for(recovered(), pause)
        except (asyncio.TimeoutError, grpc.aio.UsageError):  # waited it out, or a failover closed the channel
            pass

    async def _read(self, connection: Connection) -> None:
        requests: asyncio.Queue[object] = asyncio.Queue()

        async def request_stream() -> AsyncIterator[object]:
            while (request := await requests.get()) is not STOP:
                yield request

        raw, error = None, None
        try:
            raw = await connection.send(STATUS_CALL, self._transport.timeout, self._transport.metadata(STREAM_CALL))
        except grpc.RpcError as e:
            error = e
        status = server_status(raw, error)  # raised outside the handler: no grpc error as __context__
        self._wake(self._state.restart(status.version if status else None, status))
        self._requests = requests
        self._flush()
        method = connection.channel.stream_stream(WATCH_METHOD)
        self._call = call = method(request_stream(), metadata=self._transport.metadata(STREAM_CALL))
        try:
            async for raw in call:
                resp = codec.decode_watch_response(raw)
                self._wake(self._state.on_response(resp, len(raw)))
                self._flush()
                if self._state.reauth_needed:
                    self._transport.forget_token()
                    return
                if self._state.protocol_error is not None:
                    raise self._state.protocol_error  # a new stream, after a pause
        finally:
            requests.put_nowait(STOP)
            call.cancel()
            if self._requests is requests:
                self._requests = None

    async def _recover(self, step: StreamStep, error: EtcdError, connection: Connection | None) -> bool:
        """Act on a broken stream; False when the watchers must end."""
        if not self._recover_in_place(step, error):
            return False
        if step is StreamStep.FAILOVER and connection is not None:
            await self._transport.failover(connection)
        return True

    def _fail(self, error: EtcdError) -> None:
        self._wake(self._state.fail_all(error))
        self._task = None
