"""gradekit's class-scale benchmark: prints medians over repeated runs on this machine.

    python benchmarks/bench.py              # full sizes (1,000 students, 10,000 submissions)
    python benchmarks/bench.py --tiny       # seconds-long smoke run (used by the test suite)
    python benchmarks/bench.py --profile key   # where the time goes: cProfile of one stage
                                               # (key, sample, render, grade), top functions
                                               # (BENCH_SORT=tottime: by their own time)

Figures, not assertions: machines here are shared and noisy, so targets are compared as
ratios within one run (CLI start against `import numpy`) or printed beside their target.
Commands also report their CPU time (all their processes): on a machine busy with other jobs,
wall time grows with the load and CPU time much less, so CPU time compares two runs better.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradekit.keys.key import make_key  # noqa: E402
from gradekit.sampling.sampler import sample, sample_many  # noqa: E402
from gradekit.spec.reader import builtin_problem_paths, load_problem, resolve  # noqa: E402
from gradekit.sampling.variants import Variant, problem_seed  # noqa: E402

GRADEKIT = [sys.executable, "-m", "gradekit"]


def use_bytecode() -> None:
    """Run gradekit as an installed wheel runs: from compiled bytecode (pip compiles it at install).
    Where PYTHONDONTWRITEBYTECODE is set, every command would compile gradekit's sources anew
    (about 100 ms of each command's start), which no installation pays."""
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(ROOT / "gradekit"), quiet=1)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float  # the largest single process (a worker or the main one)
    total_mb: float  # all of the command's processes together, at their joint peak
    cpu_seconds: float = 0.0  # user + system time of the command and the workers it waited for


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants now, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    pages = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                pages += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Wall time and peak memory of one command; worker processes count in total_mb."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    total = 0.0
    stop = threading.Event()

    def watch() -> None:  # /proc every 20 ms; a peak shorter than that may be missed
        nonlocal total
        while not stop.wait(0.02):
            total = max(total, _tree_rss_mb(proc.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{err}")
    if proc.stderr:
        proc.stderr.close()
    largest = usage.ru_maxrss / 1024  # KiB on Linux: the largest process of the tree
    return Run(seconds, largest, max(total, largest), usage.ru_utime + usage.ru_stime)


def median_run(cmd: list[str], repeats: int, cwd: Path | None = None) -> Run:
    runs = [run(cmd, cwd) for _ in range(repeats)]
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mb for r in runs), max(r.total_mb for r in runs),
               statistics.median(r.cpu_seconds for r in runs))


def timing(runs: list[Run]) -> str:
    """Median wall time, and median CPU time of all the command's processes."""
    return (f"{statistics.median(r.seconds for r in runs):.2f} s "
            f"({statistics.median(r.cpu_seconds for r in runs):.2f} s CPU)")


def report(name: str, value: str, target: str = "") -> None:
    print(f"{name:54s} {value:>18s}   {target}")


def bench_cli_start(repeats: int) -> None:
    numpy = median_run([sys.executable, "-c", "import numpy"], repeats)
    helped = median_run([*GRADEKIT, "--help"], repeats)
    report("CLI start: gradekit --help", f"{helped.seconds * 1000:.0f} ms")
    report("  python -c 'import numpy'", f"{numpy.seconds * 1000:.0f} ms")
    report("  ratio", f"{helped.seconds / numpy.seconds:.2f}x", "target <= 1.5x")


BATCH = 25  # instances sampled together, as a grading chunk or a roster chunk does


def _rate(build, count: int, repeats: int) -> float:
    """Instances per second of this process's CPU time (a busy machine slows wall time, not this)."""
    times = []
    for r in range(repeats):
        start = time.process_time()
        build(r)
        times.append(time.process_time() - start)
    return count / statistics.median(times)


def bench_variants(count: int, repeats: int) -> None:
    """Instances per second of every built-in problem: one at a time (sample(), as `gradekit show`
    or one public variant builds them) and BATCH at a time (sample_many(), as rosters and grading
    batches build them; the same instances, bit for bit)."""
    print("variants/s: instances per second of this process's CPU time")
    single, batched = [], []
    for pid, path in builtin_problem_paths().items():
        problem = load_problem(path)

        def seeds(r: int) -> list[int]:
            return [problem_seed("bench", Variant(seed=r * count + i), pid) for i in range(count)]

        seed_lists = [seeds(r) for r in range(repeats)]  # hashed beforehand: not part of sampling
        one = _rate(lambda r: [sample(problem, s) for s in seed_lists[r]], count, repeats)
        many = _rate(lambda r: [sample_many(problem, seed_lists[r][i:i + BATCH]) for i in range(0, count, BATCH)],
                     count, repeats)
        single.append(one)
        batched.append(many)
        report(f"variants/s: {pid}", f"{one:,.0f} one by one, {many:,.0f} in {BATCH}s", _met(many >= 3000, ">= 3,000"))
    report("variants/s: slowest built-in problem", f"{min(single):,.0f} one by one, {min(batched):,.0f} in {BATCH}s",
           _met(min(batched) >= 3000, ">= 3,000 in batches"))


def _met(ok: bool, target: str) -> str:
    return f"target {target}" + ("" if ok else ": NOT MET")


def bench_key_alone(count: int) -> None:
    """CPU per answer key made alone (one public variant of one problem: what `gradekit show` and
    a single export pay), for every built-in problem."""
    worst = 0.0
    for pid in builtin_problem_paths():
        sheet = resolve(pid)
        make_key(sheet, Variant(seed=count))  # caches warm, as in a running command
        start = time.process_time()
        for s in range(count):
            make_key(sheet, Variant(seed=s))
        ms = (time.process_time() - start) / count * 1000
        worst = max(worst, ms)
        report(f"key alone: {pid}", f"{ms:.2f} ms CPU", _met(ms <= 1.0, "<= 1 ms"))
    report("key alone: slowest built-in problem", f"{worst:.2f} ms CPU", _met(worst <= 1.0, "<= 1 ms"))


def bench_show(repeats: int) -> None:
    """`gradekit show` of the default sheet against `gradekit --help` (the CLI's own start)."""
    helped = median_run([*GRADEKIT, "--help"], repeats)
    shown = median_run([*GRADEKIT, "show", "backprop-basics"], repeats)
    ratio = shown.seconds / helped.seconds
    report("show: gradekit show backprop-basics", f"{shown.seconds * 1000:.0f} ms, {ratio:.2f}x --help",
           _met(ratio <= 2.0, "<= 2x"))


def bench_stress(count: int) -> None:
    """`gradekit stress PROBLEM --count N` of every built-in problem."""
    worst = 0.0
    for pid in builtin_problem_paths():
        result = run([*GRADEKIT, "stress", pid, "--count", str(count)])
        worst = max(worst, result.seconds)
        report(f"stress: {pid}, {count} seeds", timing([result]), _met(result.seconds <= 3.0, "<= 3 s"))
    report(f"stress: slowest built-in problem, {count} seeds", f"{worst:.2f} s", _met(worst <= 3.0, "<= 3 s"))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def write_floor(folder: Path) -> float:
    """CPU seconds of writing the bytes of every file under `folder` again, file by file, to a
    fresh folder on tmpfs (/dev/shm where there is one): the least any generator of them pays."""
    contents = [(p.relative_to(folder), p.read_bytes()) for p in _files(folder)]
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="gradekit-floor-", dir=base) as tmp:
        start = time.process_time()
        for rel, data in contents:
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return time.process_time() - start


def load_floor(folder: Path) -> float:
    """CPU seconds of `json.load`-ing every submission file under `folder` (broken ones fail fast)."""
    start = time.process_time()
    for p in _files(folder):
        with open(p, encoding="utf-8") as f:
            try:
                json.load(f)
            except ValueError:
                pass
    return time.process_time() - start


def write_roster(folder: Path, students: int) -> Path:
    roster = folder / "roster.csv"
    lines = ["id,name"] + [f"s{i:05d},Student {i}" for i in range(students)]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return roster


def bench_generate(folder: Path, students: int, repeats: int) -> Path:
    roster = write_roster(folder, students)
    secret = folder / "course.key"
    subprocess.run([*GRADEKIT, "keygen", str(secret)], check=True, stdout=subprocess.DEVNULL)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    runs = []
    with tempfile.TemporaryDirectory(prefix="gradekit-generate-", dir=shm) as tmp:
        for r in range(repeats):  # written to tmpfs, as the floor is: the disk is not what is measured
            out = Path(tmp) / f"generated-{r}"
            runs.append(run([*GRADEKIT, "generate", "backprop-basics", "--roster", str(roster),
                             "--secret-file", str(secret), "-o", str(out)]))
            if r:
                shutil.rmtree(out)
        floor = statistics.median(write_floor(Path(tmp) / "generated-0") for _ in range(3))
        shutil.copytree(Path(tmp) / "generated-0", folder / "generated-0")
    report(f"generate: {students} students (tex+md+key+template)", timing(runs), "target <= 10 s")
    cpu = statistics.median(r.cpu_seconds for r in runs)
    report("  floor: writing the same bytes (tmpfs)", f"{floor:.2f} s CPU")
    report("  ratio to the floor (CPU)", f"{cpu / floor:.0f}x", _met(cpu / floor <= 30, "<= 30x"))
    report_memory(runs)
    return folder / "generated-0"


def bench_html(folder: Path, students: int, repeats: int) -> None:
    """gradekit export html: a hand-in page per student of the default sheet, and one practice page."""
    roster, secret = write_roster(folder, students), folder / "course.key"
    if not secret.exists():
        subprocess.run([*GRADEKIT, "keygen", str(secret)], check=True, stdout=subprocess.DEVNULL)
    runs = []
    for r in range(repeats):
        out = folder / f"html-{r}"
        runs.append(run([*GRADEKIT, "export", "html", "backprop-basics", "--roster", str(roster),
                         "--secret-file", str(secret), "-o", str(out)]))
    pages = sorted((folder / "html-0").glob("*.html"))
    report(f"export html: {students} students (hand-in pages)", f"{statistics.median(r.seconds for r in runs):.2f} s")
    report_memory(runs)
    report("  hand-in page size", f"{statistics.median(p.stat().st_size for p in pages) / 1024:.0f} KB")
    run([*GRADEKIT, "export", "html", "backprop-basics", "--seed", "0", "-o", str(folder / "html-practice")])
    practice = folder / "html-practice" / "backprop-basics-seed-0.html"
    report("  practice page size (with worked solutions)", f"{practice.stat().st_size / 1024:.0f} KB")


def report_memory(runs: list[Run]) -> None:
    report("  peak memory, all processes", f"{max(r.total_mb for r in runs):.0f} MB", "target <= 300 MB")
    report("  peak memory, largest process", f"{max(r.peak_mb for r in runs):.0f} MB")


def write_submissions(generated: Path, folder: Path, count: int, name: str = "submissions") -> Path:
    """count submissions from the generated keys: 60% right, 30% with a wrong answer, 10% broken.

    Files are named by student and attempt (s00042-3.json), as a class folder usually is, so
    one student's attempts sit together.
    """
    subs = folder / name
    subs.mkdir()
    keys = sorted(generated.glob("instructor/*/key.json"))
    per_student = max(1, -(-count // len(keys)))
    loaded: tuple[Path, dict, str] | None = None
    for i in range(count):
        student = keys[min(i // per_student, len(keys) - 1)]
        if loaded is None or loaded[0] != student:  # each student's key and template read once
            handout = generated / "handout" / student.parent.name
            loaded = (student, json.loads(student.read_text(encoding="utf-8")),
                      (handout / "submission-template.json").read_text(encoding="utf-8"))
        _, key, template_text = loaded
        template = json.loads(template_text)
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


def bench_grade(generated: Path, folder: Path, count: int, repeats: int, name: str = "submissions",
                target: str = "target <= 10 s", roster: Path | None = None) -> None:
    subs = write_submissions(generated, folder, count, name)
    secret = folder / "course.key"
    check = ["--roster", str(roster)] if roster is not None else []
    runs = [run([*GRADEKIT, "grade", str(subs), "--secret-file", str(secret), *check, "--format", "csv",
                 "-o", str(folder / f"gradebook-{name}-{r}.csv")]) for r in range(repeats)]
    students = len(list(generated.glob("instructor/*/key.json")))
    with_roster = ", --roster" if roster is not None else ""
    report(f"grade: {count} submissions to CSV ({students} students{with_roster})", timing(runs), target)
    floor = statistics.median(load_floor(subs) for _ in range(3))
    cpu = statistics.median(r.cpu_seconds for r in runs)
    report("  floor: json.load of the same files", f"{floor:.2f} s CPU")
    report("  ratio to the floor (CPU)", f"{cpu / floor:.0f}x", _met(cpu / floor <= 8, "<= 8x"))
    report_memory(runs)
    shutil.rmtree(subs)


def _open_seconds(page: Path) -> float | None:
    """Seconds from navigation to the class page's script being done (its table drawn), in
    headless Chromium (the median of 3 loads); None without Chromium or Playwright."""
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(exe):
        return None
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        for _ in range(3):
            context = browser.new_context()
            tab = context.new_page()
            start = time.perf_counter()
            tab.goto(page.as_uri())
            tab.wait_for_selector("body[data-ready='1']", state="attached")
            times.append(time.perf_counter() - start)
            context.close()
        browser.close()
    return statistics.median(times)


def bench_class_page(generated: Path, folder: Path, count: int) -> None:
    """gradekit grade --format html for `count` submissions: the page's size and how long it takes to open."""
    subs = write_submissions(generated, folder, count, "class-page")
    page = folder / "class.html"
    result = run([*GRADEKIT, "grade", str(subs), "--secret-file", str(folder / "course.key"), "--format", "html",
                  "-o", str(page)])
    report(f"class page: {count} submissions", timing([result]))
    report("  class page size", f"{page.stat().st_size / 1e6:.2f} MB", "target < 5 MB")
    seconds = _open_seconds(page)
    report("  class page opens in Chromium", "skipped (no Chromium)" if seconds is None else f"{seconds:.2f} s",
           "target < 2 s")
    shutil.rmtree(subs)


def bench_feedback(generated: Path, folder: Path, students: int) -> None:
    """gradekit grade --feedback: one file per student, graded with and without feedback pages."""
    subs = write_submissions(generated, folder, students, "feedback")
    common = [*GRADEKIT, "grade", str(subs), "--secret-file", str(folder / "course.key"), "--format", "csv"]
    alone = run([*common, "-o", str(folder / "feedback-book.csv")])
    pages = run([*common, "-o", str(folder / "feedback-book.csv"), "--feedback", str(folder / "feedback")])
    written = len(list((folder / "feedback").glob("*/feedback.html")))
    report(f"feedback pages: {written} students", timing([pages]), f"grading alone {alone.seconds:.2f} s")
    report_memory([pages])
    shutil.rmtree(subs)


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def bench_pools(folder: Path, count: int, repeats: int) -> None:
    """A pool of `count` public variants of the default sheet, for Moodle and for PrairieLearn."""
    for target, out in (("moodle", folder / "pool.xml"), ("prairielearn", folder / "pool-pl")):
        runs = [run([*GRADEKIT, "export", target, "--count", str(count), "-o", str(out)]) for _ in range(repeats)]
        report(f"export {target}: {count}-variant pool of the default sheet",
               f"{statistics.median(r.seconds for r in runs):.2f} s", f"{_size_mb(out):.0f} MB written")
        report("  peak memory, all processes", f"{max(r.total_mb for r in runs):.0f} MB")


def bench_verify(count: int) -> None:
    result = run([*GRADEKIT, "verify", "--count", str(count)])
    report(f"verify --count {count}", timing([result]))


STAGES = ("cli", "variants", "keys", "show", "stress", "generate", "grade", "grade-large", "class-page", "feedback",
          "pools", "html", "verify")


def profile(stage: str, count: int) -> None:
    """cProfile of one stage in this process, on the default sheet: where its time goes."""
    sheet = resolve("backprop-basics")
    variants = [Variant(seed=s) for s in range(count)]
    work = {
        "key": lambda: [make_key(sheet, v) for v in variants],
        "sample": lambda: [sample_many(e.problem, list(range(count))) for e in sheet.entries],
        "render": None,
        "grade": None,
    }
    if stage == "render":
        from gradekit.render.output import variant_documents
        keys = [make_key(sheet, v) for v in variants]
        variant_documents(keys[0])  # templates compiled once, as in a running command
        work["render"] = lambda: [variant_documents(k) for k in keys]
    if stage == "grade":
        from gradekit.grading.grade import KeyCache, grade_batch, sheet_lookup
        from gradekit.keys.key import key_document, template_document
        folder = Path(tempfile.mkdtemp(prefix="gradekit-profile-"))
        files = []
        for v in variants:  # every answer right but one entry of the first problem's first quantity
            key = make_key(sheet, v)
            doc, answers = template_document(key), key_document(key)
            doc["answers"] = {p["id"]: {q: e["value"] for q, e in p["quantities"].items()} for p in answers["problems"]}
            first = next(iter(doc["answers"].values()))
            name = next(iter(first))
            first[name] = (json.loads(json.dumps(first[name])) if isinstance(first[name], list) else first[name])
            files.append(folder / f"{v.seed}.json")
            files[-1].write_text(json.dumps(doc), encoding="utf-8")
        work["grade"] = lambda: grade_batch(files, KeyCache(sheet_lookup(), None))
    profiler = cProfile.Profile()
    start = time.process_time()
    profiler.runcall(work[stage])
    print(f"profile of {stage}, {count} variants of the default sheet: {time.process_time() - start:.2f} s CPU "
          "(under the profiler)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(30)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run of every benchmark")
    parser.add_argument("--only", choices=STAGES, action="append")
    parser.add_argument("--profile", choices=["key", "sample", "render", "grade"],
                        help="profile one stage in-process (cProfile, top 30 by cumulative time) instead")
    args = parser.parse_args()
    tiny = args.tiny
    if args.profile:
        profile(args.profile, 5 if tiny else 200)
        return
    students, submissions, large = (5, 20, 60) if tiny else (1000, 10_000, 100_000)
    repeats = 1 if tiny else 3
    only = set(args.only or STAGES)
    use_bytecode()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    if "cli" in only:
        bench_cli_start(3 if tiny else 15)
    if "variants" in only:
        bench_variants(20 if tiny else 1000, repeats)
    if "keys" in only:
        bench_key_alone(5 if tiny else 200)
    if "show" in only:
        bench_show(3 if tiny else 15)
    if "stress" in only:
        bench_stress(50 if tiny else 10_000)
    with tempfile.TemporaryDirectory(prefix="gradekit-bench-") as tmp:
        folder = Path(tmp)
        if only & {"generate", "grade", "grade-large", "class-page", "feedback"}:
            generated = bench_generate(folder, students, repeats)
            if "grade" in only:
                bench_grade(generated, folder, submissions, repeats)
            if "grade-large" in only:  # memory must stay flat: reports stream out as chunks finish
                bench_grade(generated, folder, large, 1, "large", "memory target <= 300 MB",
                            folder / "roster.csv")
            if "class-page" in only:
                bench_class_page(generated, folder, submissions)
            if "feedback" in only:
                bench_feedback(generated, folder, students)
        if "pools" in only:
            bench_pools(folder, 5 if tiny else 1000, repeats)
        if "html" in only:
            bench_html(folder, 5 if tiny else 200, repeats)
    if "verify" in only:
        bench_verify(1 if tiny else 20)


if __name__ == "__main__":
    main()
