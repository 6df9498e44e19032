"""etcd's gRPC proxy (`etcd grpc-proxy start`) in front of a real EtcdServer or EtcdCluster.

The proxy ships in the etcd binary itself (3.4 and 3.5 alike). It coalesces
watchers of one key range from all its clients into one watcher on etcd, and
answers MemberList with itself as the only member.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .binaries import Binaries
from .children import kill_child, log_tail, make_dir, remove_dir, spawn, stop_child
from .server import EtcdCluster, EtcdServer, EtcdStartError, free_port, metric_value

__all__ = ["EtcdGrpcProxy"]


class EtcdGrpcProxy:
    """etcd's gRPC proxy on a free loopback port, in front of `backend` (an EtcdServer or EtcdCluster).

    Use it as a context manager, or call start() and close()::

        with EtcdServer() as etcd, EtcdGrpcProxy(etcd) as proxy:
            proxy.etcdctl("put", "k", "v")
            etcd.etcdctl("get", "k")

    stop()/kill() and start() bring it back on the same port. The backend must
    serve plain http without auth (the proxy would need its certificates, and
    its readiness check reads without a user). binaries: the etcd to run the
    proxy from (default: the backend's). extra_args: more `grpc-proxy start` flags.
    """

    def __init__(
        self,
        backend: EtcdServer | EtcdCluster,
        *,
        binaries: Binaries | None = None,
        name: str = "grpc-proxy",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        port: int | None = None,
    ) -> None:
        members = backend.members if isinstance(backend, EtcdCluster) else [backend]
        if any(m.tls or m.auth for m in members):
            raise ValueError(f"EtcdGrpcProxy needs a plain http backend without auth, not {backend!r}")
        self.backend = backend
        self.binaries = binaries or members[0].binaries
        self.name = name
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.port = port or free_port()
        self.dir = make_dir(name)
        self._member = members[0]  # whose etcdctl to run: all members have the same binaries
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    # -- addresses and files --

    @property
    def version(self) -> str:
        """The proxy's etcd version, e.g. "3.5.1"."""
        return self.binaries.version

    @property
    def endpoint(self) -> str:
        """host:port the proxy serves etcd's gRPC API on (what etcdstream.Client takes)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The proxy's URL, e.g. "http://127.0.0.1:23456" (gRPC, /health and /metrics on one port)."""
        return f"http://{self.endpoint}"

    @property
    def backend_endpoints(self) -> list[str]:
        """host:port of every etcd member the proxy forwards to."""
        if isinstance(self.backend, EtcdCluster):
            return self.backend.endpoints
        return [self.backend.endpoint]

    @property
    def log_file(self) -> Path:
        """Where the proxy's stdout and stderr go (appended to on every start)."""
        return self.dir / "grpc-proxy.log"

    @property
    def pid(self) -> int | None:
        """The proxy's process id while it runs, else None."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """True while the proxy process is alive (ready or not)."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle --

    def command(self) -> list[str]:
        """The command line this proxy runs."""
        return [
            str(self.binaries.etcd),
            "grpc-proxy",
            "start",
            f"--endpoints={','.join(self.backend_endpoints)}",
            f"--listen-addr={self.endpoint}",
            # What MemberList through the proxy answers: the proxy as the only member.
            f"--advertise-client-url={self.url}",
            *self.extra_args,
        ]

    def start(self, *, wait: bool = True) -> EtcdGrpcProxy:
        """Start the proxy (again, on the same port) and, if wait, until it serves."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if not self.running:
            self._proc = spawn(self.command(), self.log_file)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll the proxy's GET /health until it is true; raise EtcdStartError with its log if not.

        Its /health answers once the proxy listens (gRPC shares the port) and
        reads key "a" from etcd through its own client: the path to etcd works.
        """
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        last_error = "no answer yet"
        while True:
            if not self.running:
                raise self._start_error("the proxy exited")
            try:
                body = json.loads(self._http_get("/health", timeout=2.0))
                if body.get("health") == "true":
                    return
                last_error = f"/health said {body}"
            except (OSError, ValueError) as e:
                last_error = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise self._start_error(f"not ready after {limit:g} s (last: {last_error})")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the proxy (SIGTERM), then SIGKILL if it takes longer than timeout."""
        if self._proc is not None:
            stop_child(self._proc, timeout)

    def kill(self) -> None:
        """Kill the proxy at once (SIGKILL); start() brings it back on the same port."""
        if self._proc is not None:
            kill_child(self._proc)

    def restore(self) -> None:
        """Start the proxy again if it was stopped or killed (for fixtures shared between tests)."""
        if not self._closed and not self.running:
            self.start()

    def close(self) -> None:
        """Kill the proxy and delete its directory; the backend is left alone."""
        try:
            self.kill()
        finally:
            self._closed = True
            remove_dir(self.dir)

    def __enter__(self) -> EtcdGrpcProxy:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<EtcdGrpcProxy etcd {self.version} {self.url} -> {','.join(self.backend_endpoints)} {state}>"

    # -- talking to it --

    def etcdctl(self, *args: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run etcdctl (API v3) through the proxy; see EtcdServer.etcdctl."""
        return self._member.etcdctl(*args, check=check, timeout=timeout, endpoints=[self.url])

    def metrics(self) -> str:
        """The proxy's own Prometheus text (etcd_grpc_proxy_*, its gRPC server's) from GET /proxy/metrics.

        etcd 3.5 and later only. The proxy's /metrics is not its own: it relays
        one backend member's (picked at random when the proxy starts), and
        etcd 3.4's proxy serves nothing else.
        """
        if not self.binaries.proxy_serves_own_metrics:
            raise RuntimeError(f"etcd {self.version}'s gRPC proxy does not serve its own metrics")
        return self._http_get("/proxy/metrics", timeout=10.0)

    def metric(self, name: str) -> float:
        """One unlabelled metric's value from metrics(), e.g. "etcd_grpc_proxy_watchers_coalescing_total"."""
        return metric_value(self.metrics(), name, f"{self.url}/proxy/metrics")

    def _http_get(self, path: str, timeout: float) -> str:
        # No proxy: urllib would send even 127.0.0.1 to $http_proxy unless $no_proxy says otherwise.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=timeout) as resp:
            return bytes(resp.read()).decode()

    def _start_error(self, what: str) -> EtcdStartError:
        code = self._proc.poll() if self._proc else None
        if self.running:
            self.kill()  # a half-started proxy must not linger
        exit_info = f" (exit code {code})" if code is not None else ""
        tail = log_tail(self.log_file)
        return EtcdStartError(f"{self!r}: {what}{exit_info}.\nlog {self.log_file} ends with:\n{tail}")
