"""gradekit's class-scale benchmark: prints medians over repeated runs on this machine.

    python benchmarks/bench.py              # full sizes (1,000 students, 10,000 submissions)
    python benchmarks/bench.py --tiny       # seconds-long smoke run (used by the test suite)

Figures, not assertions: machines here are shared and noisy, so targets are compared as
ratios within one run (CLI start against `import numpy`) or printed beside their target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradekit.key import make_key  # noqa: E402
from gradekit.sampler import sample  # noqa: E402
from gradekit.spec import builtin_problem_paths, load_problem, resolve  # noqa: E402
from gradekit.variants import Variant, problem_seed  # noqa: E402

GRADEKIT = [sys.executable, "-m", "gradekit"]


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Wall time and peak resident memory of one child process (os.wait4 reports its rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{err}")
    if proc.stderr:
        proc.stderr.close()
    return Run(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def median_run(cmd: list[str], repeats: int, cwd: Path | None = None) -> Run:
    runs = [run(cmd, cwd) for _ in range(repeats)]
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mb for r in runs))


def report(name: str, value: str, target: str = "") -> None:
    print(f"{name:48s} {value:>24s}   {target}")


def bench_cli_start(repeats: int) -> None:
    numpy = median_run([sys.executable, "-c", "import numpy"], repeats)
    helped = median_run([*GRADEKIT, "--help"], repeats)
    report("CLI start: gradekit --help", f"{helped.seconds * 1000:.0f} ms")
    report("  python -c 'import numpy'", f"{numpy.seconds * 1000:.0f} ms")
    report("  ratio", f"{helped.seconds / numpy.seconds:.2f}x", "target <= 1.5x")


def bench_variants(count: int, repeats: int) -> None:
    default_ids = {e.problem.id for e in resolve("backprop-basics").entries}
    rates = []
    for pid, path in builtin_problem_paths().items():
        problem = load_problem(path)
        times = []
        for r in range(repeats):
            start = time.perf_counter()
            for i in range(count):
                sample(problem, problem_seed("bench", Variant(seed=r * count + i), pid))
            times.append(time.perf_counter() - start)
        rate = count / statistics.median(times)
        if pid in default_ids:
            rates.append(rate)
        report(f"variants/s: {pid}", f"{rate:,.0f}", "target >= 2,000 (default sheet)" if pid in default_ids else "")
    report("variants/s: default sheet, slowest problem", f"{min(rates):,.0f}", "target >= 2,000")


def write_roster(folder: Path, students: int) -> Path:
    roster = folder / "roster.csv"
    lines = ["id,name"] + [f"s{i:05d},Student {i}" for i in range(students)]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return roster


def bench_generate(folder: Path, students: int, repeats: int) -> Path:
    roster = write_roster(folder, students)
    secret = folder / "course.key"
    subprocess.run([*GRADEKIT, "keygen", str(secret)], check=True, stdout=subprocess.DEVNULL)
    result = None
    times, peaks = [], []
    for r in range(repeats):
        out = folder / f"generated-{r}"
        result = run([*GRADEKIT, "generate", "backprop-basics", "--roster", str(roster),
                      "--secret-file", str(secret), "-o", str(out)])
        times.append(result.seconds)
        peaks.append(result.peak_mb)
        if r:
            shutil.rmtree(out)
    report(f"generate: {students} students (tex+md+key+template)", f"{statistics.median(times):.2f} s",
           "target <= 10 s")
    report("  peak memory", f"{max(peaks):.0f} MB", "target <= 300 MB")
    return folder / "generated-0"


def write_submissions(generated: Path, folder: Path, count: int) -> Path:
    """count submissions from the generated keys: 60% right, 30% with a wrong answer, 10% broken.

    Files are named by student and attempt (s00042-3.json), as a class folder usually is, so
    one student's attempts sit together.
    """
    subs = folder / "submissions"
    subs.mkdir()
    keys = sorted(generated.glob("*/key.json"))
    per_student = max(1, count // len(keys))
    for i in range(count):
        student = keys[min(i // per_student, len(keys) - 1)]
        key = json.loads(student.read_text(encoding="utf-8"))
        template = json.loads((student.parent / "submission-template.json").read_text(encoding="utf-8"))
        answers = {p["id"]: {q: e["value"] for q, e in p["quantities"].items()} for p in key["problems"]}
        kind = i % 10
        if kind in (6, 7, 8):
            first = next(iter(answers))
            answers[first]["Z1"] = 0.0  # a wrong (and wrongly shaped) answer
        template["answers"] = answers
        text = json.dumps(template)
        if kind == 9:
            text = text[: len(text) // 2]  # a truncated, broken file
        (subs / f"{student.parent.name}-{i % per_student}.json").write_text(text, encoding="utf-8")
    return subs


def bench_grade(generated: Path, folder: Path, count: int, repeats: int) -> None:
    subs = write_submissions(generated, folder, count)
    secret = folder / "course.key"
    times, peaks = [], []
    for r in range(repeats):
        result = run([*GRADEKIT, "grade", str(subs), "--secret-file", str(secret), "--format", "csv",
                      "-o", str(folder / f"gradebook-{r}.csv")])
        times.append(result.seconds)
        peaks.append(result.peak_mb)
    students = len(list(generated.glob("*/key.json")))
    report(f"grade: {count} submissions to CSV ({students} students)", f"{statistics.median(times):.2f} s",
           "target <= 10 s")
    report("  peak memory", f"{max(peaks):.0f} MB", "target <= 300 MB")


def bench_verify(count: int) -> None:
    result = run([*GRADEKIT, "verify", "--count", str(count)])
    report(f"verify --count {count}", f"{result.seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run of every benchmark")
    parser.add_argument("--only", choices=["cli", "variants", "generate", "grade", "verify"], action="append")
    args = parser.parse_args()
    tiny = args.tiny
    students, submissions = (5, 20) if tiny else (1000, 10_000)
    repeats = 1 if tiny else 3
    only = set(args.only or ["cli", "variants", "generate", "grade", "verify"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    if "cli" in only:
        bench_cli_start(3 if tiny else 15)
    if "variants" in only:
        bench_variants(20 if tiny else 1000, repeats)
    with tempfile.TemporaryDirectory(prefix="gradekit-bench-") as tmp:
        folder = Path(tmp)
        if only & {"generate", "grade"}:
            generated = bench_generate(folder, students, repeats)
            if "grade" in only:
                bench_grade(generated, folder, submissions, repeats)
    if "verify" in only:
        bench_verify(1 if tiny else 20)


if __name__ == "__main__":
    main()
