"""Every output of every built-in problem and sheet, hashed: the guard of a refactoring.

    python benchmarks/snapshot.py OUT_DIR [--compare MANIFEST] [--jobs N]

runs the installed `gradekit` on every built-in problem and sheet (keys, sheets, worked
solutions, answer templates, `show`, every export, the reports of a fixed set of submissions in
every format, a roster with a fixed course secret) into OUT_DIR, and writes OUT_DIR/MANIFEST.txt:
one line per file, its SHA-256 and its path. With --compare, it lists the files whose bytes
differ from an earlier manifest (and exits 1 when any does), so a change that must keep outputs
byte-identical can prove it, and one that changes them on purpose can show exactly which.

OUT_DIR is cleared first, and every command runs inside it with relative paths, so the same
checkout gives the same bytes wherever OUT_DIR is. Members of zip files are hashed one by one.
gradekit's own source code, which two exports carry, is not an output: the wheel in the
Gradescope zip and the .py files of the PrairieLearn grader bundle are left out, and the bundle's
name (the version and a hash of that source) reads `<bundle>` wherever it appears.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEEDS = (0, 1, 7)
SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
ROSTER = "id,name\ns001,Ada Lovelace\ns002,Émile Borel\ns003,Zhang Wei\n"


def _run(cwd: Path, log: Path, *args: str) -> None:
    """Run `gradekit ARGS` in cwd; its exit code, stdout and stderr become the file `log`."""
    proc = subprocess.run(["gradekit", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100", "GRADEKIT_NO_PROGRESS": "1"})
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ gradekit {' '.join(args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}"
                   f"--- stderr\n{proc.stderr}", encoding="utf-8")


def builtin_ids() -> tuple[list[str], list[str]]:
    """The built-in problem ids and sheet ids, as `gradekit list` prints them."""
    out = subprocess.run(["gradekit", "list"], capture_output=True, text=True, check=True).stdout
    problems, sheets, section = [], [], None
    for line in out.splitlines():
        if line.strip() in ("Sheets:", "Problems:"):
            section = line.strip()
        elif line.startswith("  ") and line.strip():
            (sheets if section == "Sheets:" else problems).append(line.split()[0])
    return problems, sheets


def _perturbed(key: dict, how: str) -> dict:
    """Answers made from a key.json problem: the fixed submissions every reference is graded on."""
    answers = {}
    for k, (name, q) in enumerate(key["quantities"].items()):
        v = q["value"]
        if how == "right":
            answers[name] = v
        elif how == "rounded":
            answers[name] = json.loads(json.dumps(v), parse_float=lambda s: round(float(s), key["decimals"]))
        elif how == "slip":  # the first asked value off by 0.3 in its first entry, the rest right
            answers[name] = _bump(v, 0.3) if k == 0 else v
        elif how == "doubled":
            answers[name] = _scale(v, 2.0)
        elif how == "transposed":
            answers[name] = [list(r) for r in zip(*v)] if isinstance(v, list) and v and isinstance(v[0], list) else v
        elif how == "half":
            if k % 2 == 0:
                answers[name] = v
        elif how == "invalid":
            answers[name] = ["x"] if k % 3 == 0 else ([[1.0, 2.0, 3.0, 4.0, 5.0]] if k % 3 == 1 else v)
    return answers


def _bump(v, d):  # noqa: ANN001, ANN202
    if isinstance(v, list):
        return [_bump(v[0], d), *v[1:]]
    return v + d


def _scale(v, s):  # noqa: ANN001, ANN202
    return [_scale(x, s) for x in v] if isinstance(v, list) else v * s


KINDS = ("right", "rounded", "slip", "doubled", "transposed", "half", "invalid")


def _submissions(folder: Path, ref: str, seed: int) -> Path:
    """The fixed submissions of one reference and seed, from its generated key.json and template."""
    key = json.loads((folder / "instructor" / "key.json").read_text(encoding="utf-8"))
    template = json.loads((folder / "handout" / "submission-template.json").read_text(encoding="utf-8"))
    subs = folder / "submissions"
    subs.mkdir(exist_ok=True)
    for kind in KINDS:
        doc = dict(template)
        doc["student"] = {"id": f"{ref}-{kind}", "name": f"Student {kind}"}
        doc["answers"] = {p["id"]: _perturbed(p, kind) for p in key["problems"]}
        (subs / f"{kind}.json").write_text(json.dumps(doc), encoding="utf-8")
    (subs / "broken.json").write_text('{"format": "gradekit-submission", ', encoding="utf-8")
    return subs


def _reference(out: Path, ref: str) -> None:
    """Everything one built-in problem or sheet produces."""
    base = out / ref
    base.mkdir(parents=True)
    for seed in SEEDS:
        _run(base, base / f"log/generate-{seed}.txt", "generate", ref, "--seed", str(seed), "-o", f"seed-{seed}")
        _run(base, base / f"log/show-{seed}.txt", "show", ref, "--seed", str(seed), "--solutions")
        subs = _submissions(base / f"seed-{seed}", ref, seed).relative_to(base)
        for fmt in ("text", "json", "csv"):
            _run(base, base / f"log/grade-{seed}-{fmt}.txt", "grade", str(subs), "--format", fmt,
                 "-o", f"reports/{seed}.{fmt}", "--jobs", "1")
        for kind in KINDS:
            _run(base, base / f"log/grade-{seed}-{kind}-gradescope.txt", "grade", f"{subs}/{kind}.json",
                 "--format", "gradescope", "-o", f"reports/{seed}-{kind}-results.json")
    _run(base, base / "log/export-latex.txt", "export", "latex", ref, "-o", "export/latex")
    _run(base, base / "log/export-notebook.txt", "export", "notebook", ref, "-o", "export/notebook")
    _run(base, base / "log/export-moodle.txt", "export", "moodle", ref, "--count", "3", "-o", "export/moodle.xml")
    _run(base, base / "log/export-qti.txt", "export", "qti", ref, "-o", "export/qti.zip")
    _run(base, base / "log/export-html.txt", "export", "html", ref, "-o", "export/html")
    _run(base, base / "log/export-prairielearn.txt", "export", "prairielearn", ref, "--count", "3",
         "-o", "export/pl")


def _roster(out: Path, sheet: str) -> None:
    """A roster of three with a fixed course secret: secret variants, every per-student export, grading."""
    base = out / f"roster-{sheet}"
    base.mkdir(parents=True)
    (base / "course.key").write_text(SECRET, encoding="utf-8")
    (base / "roster.csv").write_text(ROSTER, encoding="utf-8")
    common = ("--roster", "roster.csv", "--secret-file", "course.key")
    _run(base, base / "log/generate.txt", "generate", sheet, *common, "-o", "out", "--jobs", "1")
    for what, target in (("latex", "export/latex"), ("notebook", "export/notebook"), ("moodle", "export/moodle.xml"),
                         ("qti", "export/qti.zip"), ("html", "export/html")):
        _run(base, base / f"log/export-{what}.txt", "export", what, sheet, *common, "-o", target)
    _run(base, base / "log/export-gradescope.txt", "export", "gradescope", sheet, "--secret-file", "course.key",
         "-o", "export/autograder.zip")
    # Each student hands in their own key's answers; one hands in a classmate's.
    subs = base / "submissions"
    subs.mkdir()
    keys = sorted((base / "out" / "instructor").rglob("key.json"))
    for i, key_path in enumerate(keys):
        key = json.loads(key_path.read_text(encoding="utf-8"))
        student = key["variant"]["student"]
        owner = student if i != 1 else json.loads(keys[0].read_text(encoding="utf-8"))["variant"]["student"]
        doc = {"format": "gradekit-submission", "version": 1, "sheet": key["sheet"],
               "variant": {"student": owner}, "student": {"id": owner, "name": ""},
               "answers": {p["id"]: _perturbed(p, "right") for p in key["problems"]}}
        (subs / f"{student}.json").write_text(json.dumps(doc), encoding="utf-8")
    for fmt in ("text", "json", "csv"):
        _run(base, base / f"log/grade-{fmt}.txt", "grade", "submissions", *common, "--format", fmt,
             "-o", f"reports/class.{fmt}", "--jobs", "1")


_BUNDLE = re.compile(rb"\d+\.\d+\.\d+-[0-9a-f]{12}")  # a PrairieLearn grader bundle's name


def _hash_file(path: Path, rel: str) -> list[str]:
    data = _BUNDLE.sub(b"<bundle>", path.read_bytes())
    rel = _BUNDLE.sub(b"<bundle>", rel.encode()).decode()
    if path.suffix != ".zip":
        return [f"{hashlib.sha256(data).hexdigest()}  {rel}"]
    lines = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            if not info.filename.endswith(".whl"):  # gradekit's own code, built with timestamps
                lines.append(f"{hashlib.sha256(z.read(info)).hexdigest()}  {rel}!{info.filename}")
    return lines


def manifest(out: Path) -> list[str]:
    lines = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if "/gradekit-bundles/" in rel and rel.endswith(".py"):
            continue  # gradekit's own source, copied
        if path.is_file() and rel != "MANIFEST.txt":
            lines += _hash_file(path, rel)
    return lines


def compare(old: Path, new: list[str]) -> list[str]:
    before = dict(reversed(line.split("  ", 1)) for line in old.read_text(encoding="utf-8").splitlines())
    after = dict(reversed(line.split("  ", 1)) for line in new)
    diffs = [f"changed  {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    diffs += [f"gone     {p}" for p in sorted(before.keys() - after.keys())]
    diffs += [f"new      {p}" for p in sorted(after.keys() - before.keys())]
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--compare", type=Path, help="an earlier MANIFEST.txt")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", nargs="*", help="these references only (problem or sheet ids)")
    args = parser.parse_args()
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    problems, sheets = builtin_ids()
    refs = [r for r in (*sheets, *problems) if not args.only or r in args.only]
    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(_reference, out, r) for r in refs]
        jobs += [pool.submit(_roster, out, s) for s in sheets if not args.only or s in args.only]
        for j in jobs:
            j.result()
    lines = manifest(out)
    (out / "MANIFEST.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    print(f"{len(lines)} files, combined hash {digest[:16]}; manifest: {out / 'MANIFEST.txt'}")
    if args.compare is not None:
        diffs = compare(args.compare, lines)
        print("\n".join(diffs) if diffs else "byte-identical to the earlier manifest")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
