"""The benchmark script runs end to end at tiny sizes (figures only; no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_benchmark_runs_at_tiny_sizes():
    done = subprocess.run([sys.executable, str(BENCH), "--tiny"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for label in ("CLI start: gradekit --help", "  ratio", "variants/s: slowest built-in problem",
                  "key alone: slowest built-in problem", "show: gradekit show backprop-basics",
                  "stress: slowest built-in problem, 50 seeds", "  ratio to the floor (CPU)",
                  "generate: 5 students", "grade: 20 submissions to CSV (5 students)",
                  "grade: 60 submissions to CSV (5 students, --roster)", "verify --count 1",
                  "export moodle: 5-variant pool of the default sheet",
                  "export prairielearn: 5-variant pool of the default sheet",
                  "export html: 5 students (hand-in pages)", "class page: 20 submissions", "  class page size",
                  "  class page opens in Chromium", "feedback pages: 5 students"):
        assert label in out, label
    assert re.search(r"ratio\s+\d+\.\d+x", out)
    assert re.search(r"variants/s: relu-batchnorm-softmax-rows\s+[\d,]+ one by one, [\d,]+ in 25s", out)
    assert re.search(r"peak memory, all processes\s+\d+ MB", out)


def test_profile_mode_prints_where_the_time_goes():
    done = subprocess.run([sys.executable, str(BENCH), "--tiny", "--profile", "key"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "profile of key, 5 variants of the default sheet" in done.stdout
    assert "make_key" in done.stdout and "cumulative" in done.stdout
