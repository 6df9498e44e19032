"""A short run of the codec fuzzer (bench/fuzz_codec.py) on each implementation: only DecodeError may come out."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from etcdstream.codec import NO_EXTENSIONS

FUZZER = Path(__file__).resolve().parents[1] / "bench" / "fuzz_codec.py"
INPUTS = 20_000


@pytest.mark.parametrize("impl", [
    # The compiled codec, with the pure-Python twin decoding every input too: both must agree.
    pytest.param(["--impl", "c", "--twin-every", "1"], id="c-codec",
                 marks=pytest.mark.skipif(NO_EXTENSIONS, reason="ETCDSTREAM_NO_EXTENSIONS is set")),
    pytest.param(["--impl", "py"], id="py-codec"),
])
def test_fuzz_codec_short_run(impl):
    proc = subprocess.run([sys.executable, str(FUZZER), str(INPUTS), "20261127", *impl],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert re.search(rf"^{INPUTS} inputs .*: 0 findings$", proc.stdout, re.M), proc.stdout
    counts = {what: int(n) for what, n in re.findall(r"^  (.+): (\d+)$", proc.stdout, re.M)}
    # Not vacuous: inputs were rejected and accepted by both decoders, and batching saw both outcomes.
    for decoder in ("decode_watch_response", "decode_range_response"):
        assert counts[f"{decoder}: DecodeError"] > 0 and counts[f"{decoder}: decoded"] > INPUTS // 50, counts
    assert counts["batch_events: batch"] > 0 and counts["batch_events: ValueError"] > 0, counts
