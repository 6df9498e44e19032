"""A fault-injecting TCP proxy in front of a real etcd: forward, stall (silently), reset or drop connections."""

from __future__ import annotations

import selectors
import socket
import threading
import time


class _HangupFilter:
    """Drops RST_STREAM and GOAWAY frames from a client's HTTP/2 byte stream (after its 24-byte preface)."""

    _DROPPED_TYPES = (0x3, 0x7)

    def __init__(self) -> None:
        self.preface_left = 24
        self.pending = bytearray()

    def __call__(self, data: bytes) -> bytes:
        self.pending += data
        out = bytearray()
        if self.preface_left:
            taken = bytes(self.pending[:self.preface_left])
            del self.pending[:len(taken)]
            self.preface_left -= len(taken)
            out += taken
        while len(self.pending) >= 9:
            size = 9 + int.from_bytes(self.pending[:3], "big")
            if len(self.pending) < size:
                break
            if self.pending[3] not in self._DROPPED_TYPES:
                out += self.pending[:size]
            del self.pending[:size]
        return bytes(out)


class FaultProxy:
    """Listens on a free loopback port and forwards every connection to `target` ("host:port").

    stall(): stop forwarding in both directions but keep the sockets open, as a
    dead network path does (no RST, no FIN); resume() forwards again (what was
    held back is delivered). reset(): close every connection at once.
    drop(): reset, and close every new connection at once too (etcd
    unreachable) until resume().

    pass_hangups=False: a client's hang-up is not passed on to etcd, as when a
    path loses the FIN: etcd keeps the connection (until it closes it or the
    proxy closes), and what the client sent before hanging up (held by a stall,
    say) is handled to the end. Its HTTP/2 RST_STREAM and GOAWAY frames (a call
    or a connection given up) are dropped too.
    """

    def __init__(self, target: str, *, pass_hangups: bool = True) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        #: each side's other side (None: the client's side of a connection hung up, see pass_hangups)
        self._peers: dict[socket.socket, socket.socket | None] = {}
        self._pass_hangups = pass_hangups
        #: the accepted (client) side of each connection, and its hang-up filter (if any)
        self._clients: dict[socket.socket, _HangupFilter | None] = {}
        self._stalled = threading.Event()
        self._dropping = threading.Event()
        self._stop = threading.Event()
        #: when the forwarding loop last found nothing to forward (None: it has since)
        self._quiet_since: float | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stall(self) -> None:
        # Under the lock the forwarding loop holds per socket: once stall() returns, no recv()
        # that checked the flag before it can forward what a caller sends afterwards.
        with self._lock:
            self._stalled.set()

    def resume(self) -> None:
        self._stalled.clear()
        self._dropping.clear()

    def flush(self, quiet: float = 0.2, timeout: float = 30) -> None:
        """Once resumed: wait until what was held back is delivered and every connection whose side
        hung up meanwhile is closed or drained on the other side too (nothing to forward for `quiet` seconds)."""
        deadline = time.monotonic() + timeout
        self._quiet_since = None
        while True:
            quiet_since = self._quiet_since
            if quiet_since is not None and time.monotonic() - quiet_since >= quiet:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the proxy to {self._target} kept forwarding for {timeout:g} s")
            time.sleep(0.01)

    def drop(self) -> None:
        self._dropping.set()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            for sock in list(self._peers):
                self._drop(sock)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.reset()
        self._listener.close()

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peers.pop(s, None)
            self._clients.pop(s, None)
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready = self._selector.select(timeout=0.05)
            if ready or self._stalled.is_set():
                self._quiet_since = None
            elif self._quiet_since is None:
                self._quiet_since = time.monotonic()
            for key, _ in ready:
                sock = key.fileobj
                with self._lock:
                    if sock is self._listener:
                        client, _ = self._listener.accept()
                        if self._dropping.is_set():
                            client.close()
                            continue
                        try:
                            upstream = socket.create_connection(self._target, timeout=2)
                        except OSError:
                            client.close()
                            continue
                        self._peers[client], self._peers[upstream] = upstream, client
                        self._clients[client] = None if self._pass_hangups else _HangupFilter()
                        self._selector.register(client, selectors.EVENT_READ)
                        self._selector.register(upstream, selectors.EVENT_READ)
                    elif not self._stalled.is_set() and sock in self._peers:
                        peer = self._peers[sock]
                        try:
                            data = sock.recv(65536)
                            hangup_filter = self._clients.get(sock)
                            if data and peer is not None:
                                peer.sendall(hangup_filter(data) if hangup_filter else data)
                        except OSError:
                            data = b""
                        if not data and sock in self._clients and not self._pass_hangups:
                            # Close the client's side only. etcd's side stays open and what etcd sends is
                            # discarded: closing it on etcd's first answer (a PING ack, say) would cancel
                            # the calls etcd is still handling.
                            del self._clients[sock], self._peers[sock]
                            self._peers[peer] = None
                            self._selector.unregister(sock)
                            sock.close()
                        elif not data:
                            self._drop(sock)
            if self._stalled.is_set():
                self._stop.wait(0.01)  # held data stays in the kernel buffers
