"""A fault-injecting TCP proxy in front of a real etcd: forward, stall (silently), reset or drop connections."""

from __future__ import annotations

import selectors
import socket
import threading


class FaultProxy:
    """Listens on a free loopback port and forwards every connection to `target` ("host:port").

    stall(): stop forwarding in both directions but keep the sockets open, as a
    dead network path does (no RST, no FIN); resume() forwards again (what was
    held back is delivered). reset(): close every connection at once.
    drop(): reset, and close every new connection at once too (etcd
    unreachable) until resume().
    """

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._stalled = threading.Event()
        self._dropping = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stall(self) -> None:
        self._stalled.set()

    def resume(self) -> None:
        self._stalled.clear()
        self._dropping.clear()

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
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
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
                        self._selector.register(client, selectors.EVENT_READ)
                        self._selector.register(upstream, selectors.EVENT_READ)
                    elif not self._stalled.is_set() and sock in self._peers:
                        try:
                            data = sock.recv(65536)
                            if data:
                                self._peers[sock].sendall(data)
                        except OSError:
                            data = b""
                        if not data:
                            self._drop(sock)
            if self._stalled.is_set():
                self._stop.wait(0.01)  # held data stays in the kernel buffers
