"""TLS, mTLS and username/password auth, with both clients, against real etcd.

Also what must never happen: a password or auth token shown in a repr, an
exception (with its chain and the locals of its traceback), a log record or the
command line's output; credentials sent in clear text to an https:// endpoint
that answers without TLS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator

import pytest
from _clients import *
from _testbase import READONLY_PREFIX, free_port
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream._calls import Call

# Distinctive, so finding them anywhere is a leak and not a coincidence.
SECRET_USER = "sec-user-q8wz"
SECRET = "Pw-7fK3q-never-shown"
WRONG_SECRET = "Wrong-Pw-9x2m-never-shown"


def test_tls_with_ca_file(run, etcd_tls, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "over tls")
        assert (await etcd.get(fresh_prefix + "k")).value == b"over tls"
        assert (await etcd.version()).server == etcd_tls.version  # /version over https too

    run(body, etcd_tls.endpoint, ca_file=etcd_tls.ca_file)
    run(body, etcd_tls.url, ca_file=etcd_tls.ca_file)  # https:// URL


def test_tls_with_wrong_ca_is_refused(run, etcd_tls, etcd_tls_files):
    async def body(etcd):
        with pytest.raises(etcdstream.ConnectionFailed) as e:
            await etcd.get("k")
        assert "TLS failed" in str(e.value)
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.version()  # the /version request verifies the certificate too

    run(body, etcd_tls.url, ca_file=etcd_tls_files.other_ca_file, timeout=3)
    run(body, etcd_tls.url, timeout=3)  # the system's CAs do not know the test CA either


def test_plain_client_against_tls_server_fails(run, etcd_tls):
    async def body(etcd):
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.get("k")

    run(body, etcd_tls.endpoint, timeout=3)


def test_mtls(run, etcd_mtls, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "mtls")
        assert (await etcd.get(fresh_prefix + "k")).value == b"mtls"

    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, cert_file=etcd_mtls.client_cert_file,
        key_file=etcd_mtls.client_key_file)


def test_mtls_without_or_with_a_foreign_client_certificate_is_refused(run, etcd_mtls, etcd_tls_files, fresh_prefix):
    etcd_mtls.etcdctl("put", fresh_prefix + "k", "v")

    async def body(etcd):
        # Every kind of call is refused, reads and writes, unary and watch: not just the first one.
        with pytest.raises(etcdstream.ConnectionFailed) as e:
            await etcd.get(fresh_prefix + "k")
        assert "TLS failed" in str(e.value)  # (etcd 3.4 refuses after the handshake: "TSI_DATA_CORRUPTED")
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.put(fresh_prefix + "k", "w")
        with pytest.raises(etcdstream.EtcdError):
            await etcd.watchdir(fresh_prefix)

    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, timeout=2)
    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, cert_file=etcd_tls_files.other_client_cert_file,
        key_file=etcd_tls_files.other_client_key_file, timeout=2)
    assert etcd_mtls.etcdctl("get", fresh_prefix + "k", "--print-value-only").stdout.strip() == "v"


def test_auth_root_reads_and_writes(run, etcd_auth, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        assert (await etcd.get(fresh_prefix + "k")).value == b"v"
        assert (await etcd.readdir(fresh_prefix)).kvs[0].value == b"v"
        lease = await etcd.grant(10)
        await etcd.revoke(lease)
        assert await etcd.health()

    run(body, etcd_auth.endpoint, username="root", password=etcd_auth.root_password)


def test_calls_made_at_once_log_in_once(run, etcd_auth, fresh_prefix):
    """250 puts at once on a new client: one Authenticate for all of them. Each logging in for itself took over
    10 s (etcd checks every password with bcrypt, through raft) and the puts timed out."""
    async def body(etcd):
        puts = [call(etcd.put, f"{fresh_prefix}{i}", "v") for i in range(250)]
        assert len(await asyncio.gather(*puts)) == 250
        calls = client_of(etcd).stats().calls
        assert (calls[("Authenticate", "ok")], calls[("Put", "ok")]) == (1, 250), calls

    run(body, etcd_auth.endpoint, username="root", password=etcd_auth.root_password, timeout=30)


def test_auth_reader_is_denied_outside_its_prefix(run, etcd_auth):
    etcd_auth.etcdctl("put", READONLY_PREFIX + "k", "readable")

    async def body(etcd):
        assert (await etcd.get(READONLY_PREFIX + "k")).value == b"readable"
        with pytest.raises(etcdstream.PermissionDenied) as e:
            await etcd.get("/elsewhere")
        assert "role" in str(e.value)
        with pytest.raises(etcdstream.PermissionDenied):
            await etcd.put(READONLY_PREFIX + "k", "write")  # reader may only read
        assert await etcd.health()  # a denied read still proves the cluster works

    run(body, etcd_auth.endpoint, username="reader", password=etcd_auth.reader_password)


def test_auth_wrong_password_and_missing_credentials(run, etcd_auth):
    async def wrong_password(etcd):
        with pytest.raises(etcdstream.AuthFailed) as e:
            await etcd.get("k")
        assert "password" in str(e.value)

    run(wrong_password, etcd_auth.endpoint, username="root", password="wrong")

    async def no_credentials(etcd):
        with pytest.raises((etcdstream.AuthFailed, etcdstream.PermissionDenied)):
            await etcd.get("k")

    run(no_credentials, etcd_auth.endpoint)


def test_auth_token_is_refreshed_transparently(run, make_etcd_server, fresh_prefix):
    server = make_etcd_server(auth=True, auth_token_ttl=2)

    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v1")
        await asyncio.sleep(3.5)  # the token expires after 2 s without use
        await etcd.put(fresh_prefix + "k", "v2")  # "invalid auth token": authenticate again, retry once
        assert (await etcd.get(fresh_prefix + "k")).value == b"v2"

    run(body, server.endpoint, username="root", password=server.root_password)


# --- secrets are never shown ---


@pytest.fixture(scope="module")
def secret_user(etcd_auth):
    """etcd_auth with SECRET_USER (password SECRET, role root) added."""
    if SECRET_USER not in etcd_auth.etcdctl("user", "list").stdout.split():
        etcd_auth.etcdctl("user", "add", f"{SECRET_USER}:{SECRET}")
        etcd_auth.etcdctl("user", "grant-role", SECRET_USER, "root")
    return etcd_auth


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        where = text.find(secret)
        assert where < 0, f"{secret!r} shown: ...{text[max(where - 300, 0):where + 100]}..."


def chain(error: BaseException) -> Iterator[BaseException]:
    """error and every exception linked from it by __cause__ or __context__."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def error_texts(error: BaseException, *, with_locals: bool = True) -> str:
    """All an error report could show: each linked exception's str, repr and attributes, the
    formatted traceback, and the traceback with every frame's locals (as pytest -l and Sentry show)."""
    parts = []
    for e in chain(error):
        parts += [str(e), repr(e), repr(e.args), repr(getattr(e, "__dict__", {}))]
        if hasattr(e, "debug_error_string"):
            parts.append(e.debug_error_string())
    parts += traceback.format_exception(error)
    if with_locals:
        parts += traceback.TracebackException.from_exception(error, capture_locals=True).format()
    return "".join(parts)


async def raised(call) -> BaseException:
    try:
        await call
    except Exception as e:  # noqa: BLE001 - any error; the test looks at what it shows
        return e
    raise AssertionError("expected the call to fail")


@pytest.fixture
def debug_logs(caplog):
    """Every log record at DEBUG (etcdstream, grpc, asyncio, ...) as one text, exceptions included."""
    caplog.set_level(logging.DEBUG)
    for name in ("etcdstream", "grpc", "grpc._cython.cygrpc", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def text() -> str:
        return "\n".join(formatter.format(record) for record in caplog.records)

    return text


def test_reprs_never_show_the_password_or_the_token(run, secret_user, fresh_prefix, debug_logs):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        client = getattr(etcd, "client", etcd)  # the Client inside the blocking wrapper
        core = client._transport.core
        token = core.token
        assert token and len(token) >= 8
        shown = [client, core, core.authenticate_call(), core.metadata(Call("/m", b""))]
        watcher = await etcd.watchdir(fresh_prefix)
        if etcd.kind == "sync":
            mirror = etcdstream.Mirror(client, fresh_prefix)
            assert mirror.wait_synced(10)
        else:
            mirror = etcdstream.AsyncMirror(client, fresh_prefix)
            assert await mirror.wait_synced(10)
        shown += [watcher, mirror, mirror.snapshot()]
        text = "\n".join(f"{obj!r} {obj!s}" for obj in shown)
        assert SECRET_USER in repr(core)  # the user name may show, only the secrets not
        assert_hidden(text, SECRET, token)
        for closed in (watcher.close(), mirror.close()):
            if asyncio.iscoroutine(closed):
                await closed
        return token

    token = run(body, secret_user.endpoint, username=SECRET_USER, password=SECRET)
    assert_hidden(debug_logs(), SECRET, token)


def test_failed_logins_never_show_the_password(run, secret_user, etcd_server, etcd_tls, etcd_tls_files,
                                                fresh_prefix, debug_logs):
    async def failures(etcd) -> list[BaseException]:
        errors = [await raised(etcd.get(fresh_prefix + "k")), await raised(etcd.put(fresh_prefix + "k", "v"))]
        errors.append(await raised(etcd.watchdir(fresh_prefix)))
        return errors

    cases = [
        # (endpoint, client options, the error expected, the password given); connection
        # failures are retried until the timeout, so theirs is short
        (secret_user.endpoint, {"timeout": 5}, etcdstream.AuthFailed, WRONG_SECRET),
        (etcd_server.endpoint, {"timeout": 5}, etcdstream.AuthFailed, SECRET),  # auth not enabled
        (f"127.0.0.1:{free_port()}", {"timeout": 1}, etcdstream.ConnectionFailed, SECRET),  # nothing listens
        (etcd_tls.url, {"ca_file": etcd_tls_files.other_ca_file, "timeout": 1.5}, etcdstream.ConnectionFailed,
         SECRET),
        (f"https://{etcd_server.endpoint}", {"timeout": 1.5}, etcdstream.ConnectionFailed, SECRET),  # plain etcd
    ]
    for endpoint, options, expected, password in cases:
        errors = run(failures, endpoint, username=SECRET_USER, password=password, **options)
        assert isinstance(errors[0], expected), (endpoint, errors[0])
        for error in errors:
            assert isinstance(error, etcdstream.EtcdError), (endpoint, error)
            assert_hidden(error_texts(error), password)
    assert_hidden(debug_logs(), SECRET, WRONG_SECRET)


def test_mirror_with_a_wrong_password_never_shows_it(run, secret_user, fresh_prefix, debug_logs):
    async def body(etcd):
        client = getattr(etcd, "client", etcd)
        if etcd.kind == "sync":
            mirror = etcdstream.Mirror(client, fresh_prefix)
            error = await raised(asyncio.to_thread(mirror.wait_synced, 10))
            mirror.close()
        else:
            mirror = etcdstream.AsyncMirror(client, fresh_prefix)
            error = await raised(mirror.wait_synced(10))
            await mirror.close()
        assert isinstance(error, etcdstream.AuthFailed), error
        assert_hidden(error_texts(error) + repr(mirror), WRONG_SECRET)

    run(body, secret_user.endpoint, username=SECRET_USER, password=WRONG_SECRET, timeout=5)
    assert_hidden(debug_logs(), WRONG_SECRET)


def test_errors_after_login_never_show_the_token(run, secret_user, fresh_prefix, debug_logs):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        token = getattr(etcd, "client", etcd)._transport.core.token
        errors = [await raised(etcd.get(fresh_prefix + "k", revision=1 << 40))]
        proxy.stall()
        errors.append(await raised(etcd.get(fresh_prefix + "k", timeout=1)))
        proxy.resume()
        assert isinstance(errors[0], etcdstream.FutureRevisionError), errors[0]
        assert isinstance(errors[1], etcdstream.Timeout) and "TLS" not in str(errors[1]), errors[1]
        for error in errors:
            assert_hidden(error_texts(error), token, SECRET)
        return token

    with FaultProxy(secret_user.endpoint) as proxy:
        token = run(body, proxy.endpoint, username=SECRET_USER, password=SECRET)
    assert_hidden(debug_logs(), SECRET, token)


def test_endpoint_urls_with_credentials_are_refused_without_showing_them():
    for endpoints in (f"https://{SECRET_USER}:{SECRET}@127.0.0.1:2379", f"{SECRET_USER}:{SECRET}@127.0.0.1:2379",
                      ["127.0.0.1:2379", f"http://u:{SECRET}@10.0.0.1:2379/"]):
        for client_class in (etcdstream.Client, etcdstream.AsyncClient):
            with pytest.raises(ValueError, match="credentials in the URL") as e:
                client_class(endpoints)
            # Not the locals: the frames that parse the argument hold it.
            assert_hidden(error_texts(e.value, with_locals=False), SECRET)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ETCDSTREAM_", "GRPC_")) and k.lower() not in ("http_proxy", "https_proxy")}
    return subprocess.run([sys.executable, "-m", "etcdstream", *args], capture_output=True, text=True,
                          timeout=60, env={**clean, **(env or {})}, input="")


def test_cli_never_prints_the_password(secret_user, etcd_server, etcd_tls, etcd_tls_files):
    unreachable = f"127.0.0.1:{free_port()}"
    failing = [
        (["--endpoints", secret_user.endpoint, "--user", f"{SECRET_USER}:{WRONG_SECRET}"], 1),
        (["--endpoints", etcd_server.endpoint, "--user", f"{SECRET_USER}:{SECRET}"], 1),  # auth not enabled
        (["--endpoints", unreachable, "--user", f"{SECRET_USER}:{SECRET}"], 2),
        (["--endpoints", unreachable, "--user", SECRET_USER, "--password", SECRET], 2),
        (["--endpoints", etcd_tls.url, "--cacert", str(etcd_tls_files.other_ca_file),
          "--user", f"{SECRET_USER}:{SECRET}"], 2),
        (["--endpoints", f"https://{etcd_server.endpoint}", "--user", f"{SECRET_USER}:{SECRET}"], 2),
        (["--endpoints", f"https://{SECRET_USER}:{SECRET}@{secret_user.endpoint}"], 64),
    ]
    for number, (args, code) in enumerate(failing):
        # Each way in: a read; a watch and check too where etcd answers (the others fail alike, slowly).
        commands = [["get", "/k"]] + ([["watch", "/k"], ["check"]] if number < 2 else [])
        for command in commands:
            proc = _cli(*args, "--timeout", "3" if number < 2 else "1", *command)
            assert proc.returncode == code, (args, command, proc)
            assert proc.stderr.startswith("etcdstream: error: "), (args, command, proc.stderr)
            assert_hidden(proc.stdout + proc.stderr, SECRET, WRONG_SECRET)
    # The password typed after a space instead of a colon: argparse would print it as an unknown command.
    for user in (["--user", SECRET_USER], [f"--user={SECRET_USER}"]):
        proc = _cli("--endpoints", unreachable, *user, SECRET, "get", "/k")
        assert proc.returncode == 64 and "--user NAME:PASSWORD" in proc.stderr, proc
        assert_hidden(proc.stdout + proc.stderr, SECRET)
    env = {"ETCDSTREAM_ENDPOINTS": unreachable, "ETCDSTREAM_USER": SECRET_USER, "ETCDSTREAM_PASSWORD": SECRET}
    proc = _cli("--timeout", "1", "get", "/k", env=env)
    assert proc.returncode == 2
    assert_hidden(proc.stdout + proc.stderr, SECRET)


# --- no credentials in clear text to an https:// endpoint that does not speak TLS ---


class RecordingListener:
    """A plain TCP listener that records every byte clients send it.

    target: forward to this "host:port" (a plain-http etcd) and relay its answers;
    reply: else send these bytes after the client's first data (what a plaintext
    server would answer); neither: stay silent.
    """

    def __init__(self, target: str | None = None, reply: bytes | None = None) -> None:
        self._target = target
        self._reply = reply
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._received = bytearray()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def close(self) -> None:
        self._listener.close()
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> RecordingListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = None
            if self._target is not None:
                host, port = self._target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self._sockets.append(upstream)
                threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            self._sockets.append(client)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None, record: bool) -> None:
        replied = False
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if record:
                with self._lock:
                    self._received += data
            try:
                if sink is not None:
                    sink.sendall(data)
                elif self._reply is not None and not replied:
                    source.sendall(self._reply)
                    replied = True
            except OSError:
                break
        for sock in (source, sink):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def assert_no_credentials(received: bytes) -> None:
    assert received, "the client never connected: the test proves nothing"
    assert received[:2] == b"\x16\x03", f"not a TLS handshake: {received[:40]!r}"  # a TLS ClientHello
    for cleartext in (SECRET.encode(), SECRET_USER.encode(), b"Authenticate", b"etcdserverpb"):
        assert cleartext not in received, f"{cleartext!r} sent in clear text"


# What plaintext servers answer a TLS ClientHello with: an HTTP/2 SETTINGS frame, an HTTP/1 error.
PLAINTEXT_REPLIES = [b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", b"HTTP/1.1 400 Bad Request\r\n\r\n"]


def test_https_endpoint_without_tls_gets_no_credentials(run, secret_user, fresh_prefix):
    async def body(etcd):
        errors = [await raised(etcd.get(fresh_prefix + "k")), await raised(etcd.watchdir(fresh_prefix))]
        for error in errors:
            assert isinstance(error, etcdstream.EtcdError), error
        return errors

    # A plain-http etcd (with auth) behind an https:// URL, and plaintext servers: a TLS error, no credentials.
    with RecordingListener(target=secret_user.endpoint) as plain_etcd:
        errors = run(body, f"https://{plain_etcd.endpoint}", username=SECRET_USER, password=SECRET, timeout=1.5)
        assert isinstance(errors[0], etcdstream.ConnectionFailed) and "TLS failed" in str(errors[0]), errors[0]
        assert_no_credentials(plain_etcd.received)
    for reply in PLAINTEXT_REPLIES:
        with RecordingListener(reply=reply) as plaintext:
            errors = run(body, f"https://{plaintext.endpoint}", username=SECRET_USER, password=SECRET,
                         timeout=1.5)
            assert isinstance(errors[0], etcdstream.ConnectionFailed) and "TLS failed" in str(errors[0]), errors[0]
            assert_no_credentials(plaintext.received)
    # A listener that never answers: the handshake never ends, the call times out.
    with RecordingListener() as silent:
        errors = run(body, f"https://{silent.endpoint}", username=SECRET_USER, password=SECRET, timeout=1.5)
        assert isinstance(errors[0], etcdstream.Timeout) and "TLS handshake" in str(errors[0]), errors[0]
        assert_no_credentials(silent.received)
    # The recorder does see credentials sent over http:// (so the checks above can fail).
    with RecordingListener(target=secret_user.endpoint) as plain_etcd:
        async def reads(etcd):
            return await etcd.get(fresh_prefix + "k")

        assert run(reads, f"http://{plain_etcd.endpoint}", username=SECRET_USER, password=SECRET) is None
        assert SECRET.encode() in plain_etcd.received


def test_mixed_http_and_https_endpoints(run, secret_user, etcd_tls, fresh_prefix):
    # One client, one kind of connection: a mix of http:// and https:// is refused before any I/O...
    for endpoints in ([etcd_tls.url, f"http://{secret_user.endpoint}"], f"http://{secret_user.endpoint},{etcd_tls.url}"):
        for client_class in (etcdstream.Client, etcdstream.AsyncClient):
            with pytest.raises(ValueError, match="mix http:// and https://"):
                client_class(endpoints, username=SECRET_USER, password=SECRET)
    with pytest.raises(ValueError, match="https://"):
        etcdstream.Client(f"http://{secret_user.endpoint}", ca_file=etcd_tls.ca_file)

    # ...and a bare host:port next to an https:// one is https too: failing over to it sends no credentials.
    async def body(etcd):
        return await raised(etcd.get(fresh_prefix + "k"))

    with RecordingListener(target=secret_user.endpoint) as plain_etcd:
        error = run(body, [f"https://127.0.0.1:{free_port()}", plain_etcd.endpoint], username=SECRET_USER,
                    password=SECRET, timeout=3)
        assert isinstance(error, etcdstream.ConnectionFailed), error
        assert_no_credentials(plain_etcd.received)


def test_cli_sends_no_credentials_to_an_https_endpoint_without_tls(secret_user):
    with RecordingListener(target=secret_user.endpoint) as plain_etcd:
        proc = _cli("--endpoints", f"https://{plain_etcd.endpoint}", "--user", f"{SECRET_USER}:{SECRET}",
                    "--timeout", "3", "get", "/k")
        assert proc.returncode == 2, proc
        assert "TLS failed" in proc.stderr, proc.stderr
        assert_hidden(proc.stderr, SECRET)
        assert_no_credentials(plain_etcd.received)
