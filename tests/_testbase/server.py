"""Real etcd servers for tests: a single node, a 3-member cluster, TLS, mTLS and auth.

Every server runs on free loopback ports with its own temporary directory
(``data/`` for etcd, ``etcd.log`` for its output). Processes are killed by
``stop``/``kill``/``close``, by the context managers, and when the tests end
however they end (see `children`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from .binaries import Binaries, find_binaries
from .children import child_env, kill_child, log_tail, make_dir, remove_dir, spawn, stop_child
from .tls import TLSFiles

__all__ = [
    "READONLY_PREFIX",
    "EtcdCluster",
    "EtcdServer",
    "EtcdStartError",
    "EtcdctlError",
    "free_port",
    "metric_value",
]

#: The only prefix the auth server's "reader" user may read (and it may not write).
READONLY_PREFIX = "/readonly/"

# --- ports ---

_rng = random.SystemRandom()  # immune to tests seeding `random`
_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1, never the same one twice in a process.

    Ports come from below the kernel's ephemeral range: there, no client's
    outgoing connection can grab the port between this check and etcd's bind,
    or while a killed member is down before its restart.
    """
    low, _ = _ephemeral_range()
    with _ports_lock:
        for _ in range(1000):
            port = _rng.randrange(max(1024, low // 2), low) if low > 2048 else 0
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = int(s.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


# --- metrics ---


def metric_value(text: str, name: str, source: str) -> float:
    """One unlabelled metric's value in Prometheus text; KeyError naming source if absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(f"{name} not in {source}")


# --- errors ---


class EtcdStartError(RuntimeError):
    """etcd exited or did not become healthy in time; the message has its log's tail."""


class EtcdctlError(subprocess.CalledProcessError):
    """etcdctl exited non-zero; unlike CalledProcessError, str() shows its output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout: {self.stdout.strip()}\nstderr: {self.stderr.strip()}"


# --- servers ---


class EtcdServer:
    """One etcd process: a single-node server or a member of an EtcdCluster.

    Use it as a context manager, or call start() and close()::

        with EtcdServer() as etcd:
            etcd.etcdctl("put", "k", "v")

    tls: serve https with these certificates (clients verify ``ca_file``).
    client_cert_auth: also require client certificates signed by ``ca_file`` (mTLS).
    auth: enable auth with users "root" and "reader" (read-only on READONLY_PREFIX).
    auth_token_ttl: seconds a simple auth token lives without use (etcd's default: 300).
    extra_args: more etcd flags, e.g. "--auto-compaction-retention=1".
    initial_cluster / cluster_token: etcd's --initial-cluster (default: this server alone) and
    --initial-cluster-token. initial_cluster_state: "new" bootstraps a cluster; "existing" joins a
    running cluster that already lists this member (see `joining`). etcd reads all three only on a
    first start: once data_dir holds a member, it rejoins with what it knows.
    """

    def __init__(
        self,
        *,
        binaries: Binaries | None = None,
        name: str = "etcd",
        tls: TLSFiles | None = None,
        client_cert_auth: bool = False,
        auth: bool = False,
        auth_token_ttl: int | None = None,
        root_password: str = "root-secret",
        reader_password: str = "reader-secret",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
        cluster_token: str | None = None,
        initial_cluster_state: str = "new",
    ) -> None:
        if client_cert_auth and tls is None:
            raise ValueError("client_cert_auth needs tls")
        if initial_cluster_state not in ("new", "existing"):
            raise ValueError(f'initial_cluster_state must be "new" or "existing", got {initial_cluster_state!r}')
        if initial_cluster_state == "existing" and initial_cluster is None:
            raise ValueError("joining an existing cluster needs initial_cluster (every member's name=peer URL)")
        self.binaries = binaries or find_binaries()
        self.name = name
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.auth = auth
        self.root_password: str | None = root_password if auth else None
        self.reader_password: str | None = reader_password if auth else None
        self.users: dict[str, str] = {"root": root_password, "reader": reader_password} if auth else {}
        self.auth_token_ttl = auth_token_ttl
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self.cluster_token = cluster_token or f"etcdstream-test-{uuid.uuid4().hex[:12]}"
        self.initial_cluster_state = initial_cluster_state
        self.dir = make_dir(name)
        self._proc: subprocess.Popen[bytes] | None = None
        self._auth_ready = False
        self._closed = False

    @classmethod
    def joining(cls, cluster: EtcdServer, initial_cluster: str, *, name: str, peer_port: int,
                **kwargs: object) -> EtcdServer:
        """A (not yet started) server that joins the running cluster of member `cluster`, as the member
        added there with peer URL http://127.0.0.1:<peer_port> (member_add, `etcdctl member add`).

        initial_cluster: "name=peer URL" of every member, this one included (what `etcdctl member add`
        prints, MemberAdded.initial_cluster(name)). It takes cluster's binaries, cluster token and TLS
        unless kwargs say otherwise. A learner joins the same way: etcd learns its role from the cluster.
        """
        kwargs.setdefault("binaries", cluster.binaries)
        kwargs.setdefault("cluster_token", cluster.cluster_token)
        kwargs.setdefault("tls", cluster.tls)
        return cls(name=name, peer_port=peer_port, initial_cluster=initial_cluster,
                   initial_cluster_state="existing", **kwargs)  # type: ignore[arg-type]

    # -- addresses and files --

    @property
    def version(self) -> str:
        """The etcd server's version, e.g. "3.5.1"."""
        return self.binaries.version

    @property
    def endpoint(self) -> str:
        """host:port of the client API, e.g. "127.0.0.1:23456" (what gRPC channels take)."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        """The client URL, e.g. "http://127.0.0.1:23456" or "https://..." with TLS."""
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        """The URL members of a cluster talk to each other on (always plain http)."""
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def data_dir(self) -> Path:
        """etcd's --data-dir; kept across stop/kill and start."""
        return self.dir / "data"

    @property
    def log_file(self) -> Path:
        """Where etcd's stdout and stderr go (appended to on every start)."""
        return self.dir / "etcd.log"

    @property
    def ca_file(self) -> Path | None:
        """The CA that signed the server certificate (None without TLS)."""
        return self.tls.ca_file if self.tls else None

    @property
    def client_cert_file(self) -> Path | None:
        """A client certificate the server accepts (None without TLS)."""
        return self.tls.client_cert_file if self.tls else None

    @property
    def client_key_file(self) -> Path | None:
        """The key of client_cert_file (None without TLS)."""
        return self.tls.client_key_file if self.tls else None

    @property
    def other_ca_file(self) -> Path | None:
        """An unrelated CA, for "wrong CA" tests (None without TLS)."""
        return self.tls.other_ca_file if self.tls else None

    @property
    def pid(self) -> int | None:
        """The etcd process id while it runs, else None."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """True while the etcd process is alive (healthy or not)."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle --

    def command(self) -> list[str]:
        """The etcd command line this server runs."""
        args = [
            str(self.binaries.etcd),
            # Two tokens, as pifpaf writes it: python-etcd3's tests find members with `pgrep -f -- '--name pifpaf1'`.
            "--name", self.name,
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            f"--initial-cluster-state={self.initial_cluster_state}",  # ignored once data_dir holds a member
            f"--initial-cluster-token={self.cluster_token}",
            # 3.4 defaults to the deprecated capnslog logger; both accept these.
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        if self.binaries.has_unsafe_no_fsync:
            # fsync dominates write latency on shared CI disks; test data is disposable.
            args.append("--unsafe-no-fsync")
        if self.tls:
            args += [f"--cert-file={self.tls.server_cert_file}", f"--key-file={self.tls.server_key_file}"]
        if self.client_cert_auth and self.tls:
            args += ["--client-cert-auth", f"--trusted-ca-file={self.tls.ca_file}"]
        if self.auth_token_ttl is not None:
            args.append(f"--auth-token-ttl={self.auth_token_ttl}")
        return args + list(self.extra_args)

    def start(self, *, wait: bool = True) -> EtcdServer:
        """Start etcd (again, with the same ports and data) and, if wait, until it is healthy.

        The first start of an auth server also creates its users and enables auth.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn(self.command(), self.log_file)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll GET /health until etcd says it is healthy; raise EtcdStartError with its log if not."""
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        last_error = "no answer yet"
        while True:
            if not self.running:
                raise self._start_error("etcd exited")
            try:
                body = json.loads(self._http_get("/health", timeout=1.0))
                if body.get("health") == "true":
                    break
                last_error = f"/health said {body}"
            except (OSError, ValueError) as e:
                last_error = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise self._start_error(f"not healthy after {limit:g} s (last: {last_error})")
            time.sleep(0.05)
        if self.auth and not self._auth_ready:
            self._enable_auth()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop etcd gracefully (SIGTERM), then SIGKILL if it takes longer than timeout."""
        if self._proc is not None:
            stop_child(self._proc, timeout)

    def kill(self) -> None:
        """Kill etcd at once (SIGKILL), as a crash would; start() brings it back.

        etcd 3.5.0-3.5.2 can lose a write it applied, for good, when killed (etcd-io/etcd#13766, fixed
        in 3.5.3: a backend commit in the middle of an apply persists the write's index without its
        data). There the backend is committed first (Maintenance/Hash does it), so that what etcd
        applied before the kill survives it, as on a fixed etcd.
        """
        if self._proc is None:
            return
        if self.binaries.loses_applied_writes_on_kill and self.running:
            try:
                self.etcdctl("endpoint", "hash", check=False, timeout=2)
            except subprocess.TimeoutExpired:  # a frozen (SIGSTOPped) etcd: nothing applies there anyway
                pass
        kill_child(self._proc)

    def freeze(self, timeout: float = 10.0) -> None:
        """Stop etcd's process (SIGSTOP), as a hung machine would, and wait until it is stopped: the
        signal is delivered asynchronously. thaw() resumes it."""
        assert self._proc is not None and self.running, f"{self!r} is not running"
        os.kill(self._proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        # /proc/<pid>/stat: "pid (comm) state ...", state T once every thread stopped.
        while Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self!r} not stopped {timeout:g} s after SIGSTOP")
            time.sleep(0.001)

    def thaw(self) -> None:
        """Resume a process freeze() stopped (SIGCONT)."""
        if self._proc is not None and self.running:
            os.kill(self._proc.pid, signal.SIGCONT)

    def close(self) -> None:
        """Kill etcd and delete its directory. The server cannot be started again."""
        try:
            if self._proc is not None:
                kill_child(self._proc)  # no need to be graceful with data about to be deleted
        finally:
            self._closed = True
            remove_dir(self.dir)

    def restore(self) -> None:
        """Start etcd again if it was stopped or killed (for fixtures shared between tests)."""
        if not self._closed and not self.running:
            self.start()

    def restore_snapshot(self, snapshot: Path | str) -> None:
        """Replace the stopped server's data with a snapshot from `etcdctl snapshot save`, as restoring a backup does.

        The member keeps its name, peer URL and cluster token, hence its member and cluster ids.
        """
        if self.running:
            raise RuntimeError(f"{self!r}: stop etcd before restoring a snapshot")
        tool = self.binaries.snapshot_tool  # etcdutl from 3.5 (3.6 removed etcdctl's restore), etcdctl on 3.4
        shutil.rmtree(self.data_dir, ignore_errors=True)  # restore refuses an existing data dir
        args = [str(tool), "snapshot", "restore", str(snapshot), f"--data-dir={self.data_dir}", f"--name={self.name}",
                f"--initial-cluster={self.initial_cluster}", f"--initial-cluster-token={self.cluster_token}",
                f"--initial-advertise-peer-urls={self.peer_url}"]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=child_env(ETCDCTL_API="3"),
                              check=False)
        if proc.returncode != 0:
            raise EtcdctlError(proc.returncode, proc.args, proc.stdout, proc.stderr)

    def __enter__(self) -> EtcdServer:
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
        return f"<EtcdServer {self.name} etcd {self.version} {self.url} {state}>"

    # -- talking to it --

    def etcdctl_args(self, endpoints: Iterable[str] | None = None, user: str | None = None) -> list[str]:
        """etcdctl's command line up to the subcommand: binary, endpoints, TLS and user flags.

        user: None for the default (root on auth servers, else nobody), "" for nobody,
        or a user name from ``users``.
        """
        args = [str(self.binaries.etcdctl), f"--endpoints={','.join(endpoints or [self.url])}"]
        if self.tls:
            args.append(f"--cacert={self.tls.ca_file}")
            if self.client_cert_auth:
                args += [f"--cert={self.tls.client_cert_file}", f"--key={self.tls.client_key_file}"]
        if user is None:
            user = "root" if self.auth else ""
        if user:
            args.append(f"--user={user}:{self.users[user]}")
        return args

    def etcdctl(
        self,
        *args: str,
        check: bool = True,
        user: str | None = None,
        input: str | None = None,
        timeout: float = 30.0,
        endpoints: Iterable[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run etcdctl (API v3) against this server and return its result (text output).

        user: see etcdctl_args. check: raise EtcdctlError on a non-zero exit.
        """
        proc = subprocess.run(
            self.etcdctl_args(endpoints, user) + list(args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(ETCDCTL_API="3"),
        )
        if check and proc.returncode != 0:
            raise EtcdctlError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting the server's CA, with the client certificate under mTLS."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.tls.ca_file))
        if self.client_cert_auth:
            ctx.load_cert_chain(self.tls.client_cert_file, self.tls.client_key_file)
        return ctx

    def metrics(self) -> str:
        """The Prometheus text from GET /metrics on the client URL."""
        return self._http_get("/metrics", timeout=10.0)

    def metric(self, name: str) -> float:
        """One unlabelled metric's value from /metrics, e.g. "etcd_debugging_mvcc_watcher_total"."""
        return metric_value(self.metrics(), name, f"{self.url}/metrics")

    def _http_get(self, path: str, timeout: float) -> str:
        # No proxy: urllib would send even 127.0.0.1 to $http_proxy unless $no_proxy says otherwise.
        handlers = (urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.ssl_context()))
        with urllib.request.build_opener(*handlers).open(self.url + path, timeout=timeout) as resp:
            return bytes(resp.read()).decode()

    # -- internals --

    def _start_error(self, what: str) -> EtcdStartError:
        code = self._proc.poll() if self._proc else None
        if self.running:
            self.kill()  # a half-started etcd must not linger
        exit_info = f" (exit code {code})" if code is not None else ""
        tail = log_tail(self.log_file)
        return EtcdStartError(f"{self!r}: {what}{exit_info}.\nlog {self.log_file} ends with:\n{tail}")

    def _enable_auth(self) -> None:
        role = "readonly"
        steps = [
            ("user", "add", f"root:{self.users['root']}"),
            ("role", "add", "root"),  # the role auth enable requires root to hold
            ("user", "grant-role", "root", "root"),
            ("role", "add", role),
            ("role", "grant-permission", role, "read", READONLY_PREFIX, "--prefix=true"),
            ("user", "add", f"reader:{self.users['reader']}"),
            ("user", "grant-role", "reader", role),
            ("auth", "enable"),
        ]
        for step in steps:
            self.etcdctl(*step, user="")
        self._auth_ready = True


class EtcdCluster:
    """Three (or n) etcd members on loopback; each member is an EtcdServer.

    Members can be stopped or killed and started again: they rejoin with their data.
    names: the members' names (default "m0", "m1", ...). client_ports: their client ports, None for
    a free one (default: all free).
    """

    def __init__(self, size: int = 3, *, binaries: Binaries | None = None, extra_args: Sequence[str] = (),
                 startup_timeout: float = 30.0, names: Sequence[str] | None = None,
                 client_ports: Sequence[int | None] | None = None) -> None:
        binaries = binaries or find_binaries()
        names = list(names) if names is not None else [f"m{i}" for i in range(size)]
        client_ports = list(client_ports) if client_ports is not None else [None] * size
        if len(names) != size or len(client_ports) != size:
            raise ValueError(f"a cluster of {size} needs {size} names and client ports, got {names} and {client_ports}")
        peer_ports = [free_port() for _ in names]
        initial_cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports))
        token = f"etcdstream-test-{uuid.uuid4().hex[:12]}"
        self.members: list[EtcdServer] = [
            EtcdServer(binaries=binaries, name=n, client_port=c, peer_port=p, initial_cluster=initial_cluster,
                       cluster_token=token, extra_args=extra_args, startup_timeout=startup_timeout)
            for n, c, p in zip(names, client_ports, peer_ports)
        ]

    @property
    def version(self) -> str:
        """The members' etcd version."""
        return self.members[0].version

    @property
    def endpoints(self) -> list[str]:
        """host:port of every member's client API."""
        return [m.endpoint for m in self.members]

    @property
    def urls(self) -> list[str]:
        """Every member's client URL."""
        return [m.url for m in self.members]

    def start(self) -> EtcdCluster:
        """Start all members not running and wait until each is healthy."""
        # All first, then wait: a member is healthy only once a quorum is up.
        stopped = [m for m in self.members if not m.running]
        for m in stopped:
            m.start(wait=False)
        for m in stopped:
            m.wait_ready()
        return self

    restore = start  #: the fixtures' name for "bring back whatever a test stopped"

    def stop(self) -> None:
        """Stop all members gracefully, one after the other.

        (All at once takes seconds longer: a leader stopping tries to hand over
        leadership to followers that are going away.)
        """
        for m in self.members:
            m.stop()

    def close(self) -> None:
        """Kill all members and delete their directories."""
        for m in self.members:
            m.close()

    def etcdctl(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run etcdctl against all running members."""
        endpoints = [m.url for m in self.members if m.running]
        return self.members[0].etcdctl(*args, check=check, timeout=timeout, endpoints=endpoints)

    def leader(self, timeout: float = 15.0) -> EtcdServer:
        """The member all running members agree is leader (waits out an election)."""
        deadline = time.monotonic() + timeout
        while True:
            by_url = {m.url: m for m in self.members if m.running}
            proc = self.etcdctl("endpoint", "status", "-w", "json", check=False, timeout=10)
            try:
                statuses = json.loads(proc.stdout or "[]")
            except ValueError:
                statuses = []
            ids = {s["Status"]["header"].get("member_id"): s["Endpoint"] for s in statuses}
            leaders = {s["Status"].get("leader", 0) for s in statuses}  # JSON omits zeros
            # Until an election ends, followers may still name a dead leader or none (0).
            if len(statuses) == len(by_url) and len(leaders) == 1:
                url = ids.get(leaders.pop())
                if url in by_url:
                    return by_url[url]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no agreed leader after {timeout} s: {proc.stdout} {proc.stderr}")
            time.sleep(0.1)

    def __enter__(self) -> EtcdCluster:
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
        return f"<EtcdCluster etcd {self.version} {self.members}>"
