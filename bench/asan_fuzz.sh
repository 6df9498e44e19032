#!/usr/bin/env bash
# Build the compiled codec under AddressSanitizer and run the fuzzer and the codec tests against it.
#
#   bash bench/asan_fuzz.sh [COUNT [SEED]]     (default 200000 inputs, seed 1)
#
# The ASan build goes to $ASAN_DIR (default /tmp/etcdstream-asan), next to a copy
# of the pure-Python modules, and is put first on PYTHONPATH: the checkout's own
# build is left alone. Python itself is not instrumented, so libasan is preloaded,
# and PYTHONMALLOC=malloc makes every bytes object its own malloc block: a read
# past the end of the input is then caught instead of landing in pymalloc's pool.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-200000}
seed=${2:-1}
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
out=${ASAN_DIR:-/tmp/etcdstream-asan}
libasan=$(gcc -print-file-name=libasan.so)
[[ -f $libasan ]] || { echo "asan_fuzz.sh: no libasan (Debian: apt-get install libasan8 or gcc)" >&2; exit 1; }

# The build requirements (pyproject.toml) in a venv of their own, kept between runs.
buildenv=${ASAN_BUILD_VENV:-/tmp/etcdstream-asan-buildenv}
[[ -x $buildenv/bin/python ]] || "$PYTHON" -m venv "$buildenv"
# setuptools 77: the first to read pyproject.toml's `license = "Apache-2.0"`.
"$buildenv/bin/pip" install --quiet "setuptools>=77" "Cython>=3.1,<4"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tmp"
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -O1 -g" LDFLAGS="-fsanitize=address" \
    "$buildenv/bin/python" setup.py --quiet build_ext --force --build-lib "$out/lib" --build-temp "$out/tmp"
cp src/etcdstream/*.py src/etcdstream/py.typed "$out/lib/etcdstream/"

export PYTHONPATH=$out/lib LD_PRELOAD=$libasan PYTHONMALLOC=malloc
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
"$PYTHON" - "$out" <<'PY'
import sys
from etcdstream import _codec, codec
assert _codec.__file__.startswith(sys.argv[1]), f"not the ASan build: {_codec.__file__}"
assert codec.IMPLEMENTATION == "cython"
print(f"ASan build: {_codec.__file__}")
PY
# The setup must catch a read one byte past a bytes object, or a clean run proves nothing.
if ASAN_OPTIONS=detect_leaks=0 "$PYTHON" -c 'import ctypes, sys; b = bytes(100); ctypes.string_at(id(b) + sys.getsizeof(b) - 1, 2)' \
        2>"$out/canary.log" || ! grep -q heap-buffer-overflow "$out/canary.log"; then
    echo "asan_fuzz.sh: ASan did not catch a read past a bytes object (see $out/canary.log)" >&2
    exit 1
fi
echo "ASan canary: a read past a bytes object is caught"
"$PYTHON" bench/fuzz_codec.py "$count" "$seed"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_codec.py tests/test_codec_properties.py tests/test_fuzz.py
