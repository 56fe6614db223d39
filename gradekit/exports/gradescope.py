"""A Gradescope autograder: a zip with setup.sh, run_autograder, gradekit as a wheel, and the course secret.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once to build its image, then
run_autograder for every submission, which must leave /autograder/results/results.json. Ours
grades the student's one .json file with `gradekit grade --format gradescope`, deriving the
student's variant from the course secret, the only place besides the instructor's machine where
that secret lives: the zip is for Gradescope only and is written readable by its owner alone
(the secret inside it has mode 600).

The zip carries a wheel of the very gradekit that made the sheets (exports.wheel), so the keys
regenerated on Gradescope are the keys the students' numbers came from.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gradekit.util.errors import InputFileError
from gradekit.exports import wheel as wheels
from gradekit.spec.reader import builtin_problem_paths, resolve_builtin
from gradekit.model.problem import Sheet

ZIP_DATE = (2000, 1, 1, 0, 0, 0)  # fixed: the same inputs give a byte-identical zip
IDENTITY_FIELDS = ("sid", "email")  # fields of Gradescope's submission_metadata.json users
MATCH_CHOICES = (*IDENTITY_FIELDS, "none")  # --match-student; the default matches the SID when Gradescope has one

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (this zip is
# unpacked in /autograder/source). It installs the gradekit wheel bundled beside it into a
# virtual environment of its own, so the image's system Python is left as it is; pip fetches
# gradekit's dependencies (numpy, click, jinja2, sympy, nbformat) from PyPI.
set -euo pipefail
root="${GRADEKIT_AUTOGRADER_ROOT:-/autograder}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env="$root/gradekit-env"
export DEBIAN_FRONTEND=noninteractive

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
py=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && new_enough "$candidate"; then py="$candidate"; break; fi
done
if [ -z "$py" ]; then
  # gradekit needs Python 3.11+; Ubuntu 22.04's python3 is 3.10, its python3.11 is in universe.
  apt-get update -qq
  apt-get install -y -qq python3.11 python3.11-venv
  py=python3.11
fi
if ! "$py" -m venv "$env" >/dev/null 2>&1; then
  # Debian and Ubuntu ship venv (and ensurepip) in a package of its own.
  apt-get update -qq
  apt-get install -y -qq "$(basename "$py")-venv"
  rm -rf "$env"
  "$py" -m venv "$env"
fi
"$env/bin/python" -m pip install --quiet --disable-pip-version-check "$here"/@WHEEL@
chmod 600 "$here/course.key"
"$env/bin/python" -m gradekit --version
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades the one .json file the student uploaded
# with gradekit and the course secret bundled in this autograder, into results/results.json.
# GRADEKIT_AUTOGRADER_ROOT (default /autograder) moves the whole tree, so it can be tried on a
# copy; GRADEKIT_PYTHON names the Python that runs gradekit (default: the one setup.sh made).
set -uo pipefail
root="${GRADEKIT_AUTOGRADER_ROOT:-/autograder}"
source_dir="$root/source"
python="${GRADEKIT_PYTHON:-$root/gradekit-env/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
results="$root/results"
mkdir -p "$results"
rm -f "$results/results.json"

report() {  # a results.json with a score of 0 and the reason, for the student to read
  "$python" -c 'import json, sys; json.dump({"score": 0, "output": sys.argv[1], "visibility": "visible",
    "stdout_visibility": "hidden", "tests": []}, sys.stdout, indent=2)' "$1" > "$results/results.json"
  exit 0
}

shopt -s nullglob
files=("$root"/submission/*.json)
if [ "${#files[@]}" -eq 0 ]; then
  report "No .json file was submitted. Upload the submission.json that your worksheet (or answer template) made."
elif [ "${#files[@]}" -gt 1 ]; then
  if [ -f "$root/submission/submission.json" ]; then
    files=("$root/submission/submission.json")
  else
    report "Upload exactly one .json file (your submission.json); this submission has ${#files[@]}."
  fi
fi
if ! reason="$("$python" "$source_dir/check_submission.py" "${files[0]}" "$root/submission_metadata.json")"; then
  report "$reason"
fi
errors="$(mktemp)"
"$python" -m gradekit grade "${files[0]}" --format gradescope --secret-file "$source_dir/course.key" \
  @SHEET_OPTION@-o "$results/results.json" 2> "$errors"
status=$?
if [ ! -s "$results/results.json" ]; then
  report "The autograder could not grade this submission (gradekit exit code $status): $(head -c 2000 "$errors")"
fi
rm -f "$errors"
exit 0
"""

CHECK_SUBMISSION = '''"""Before gradekit grades a submission: is it for this assignment's sheet, and for a student who
made this Gradescope submission (matched by the submitter's SID, or as --match-student said)?

A student could otherwise hand in a file for another (easier) built-in sheet, or a classmate's
file with the classmate's id: with a course secret the variant comes from the id in the file.
Prints the reason and exits 1 when the file must not be graded; files that cannot be read are
left to gradekit, which reports why.
"""
import json
import sys

SHEET = @SHEET@
IDENTITY = @IDENTITY@  # "", or the field of Gradescope's users that holds the roster's student id
REQUIRED = @REQUIRED@  # False: match only when Gradescope has that field for a submitter (the default)
MAX_BYTES = 1_000_000


def shown(text):
    """A quoted id for a message, printable even when it holds a lone surrogate."""
    return json.dumps(text[:60], ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")


def claimed_student(doc):
    variant = doc.get("variant") if isinstance(doc.get("variant"), dict) else {}
    student = doc.get("student") if isinstance(doc.get("student"), dict) else {}
    return str(variant.get("student") or student.get("id") or "")


def submitters(metadata_path):
    with open(metadata_path, encoding="utf-8") as f:
        users = json.load(f)["users"]
    values = {str(user.get(IDENTITY) or "").strip() for user in users}
    return {v.lower() if IDENTITY == "email" else v for v in values} - {""}


def main(path, metadata_path):
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        doc = json.loads(raw.decode("utf-8-sig"))
    except (OSError, ValueError):
        return 0
    if len(raw) > MAX_BYTES or not isinstance(doc, dict):
        return 0
    sheet = doc.get("sheet")
    if sheet != SHEET:
        print(f"This assignment grades the sheet {json.dumps(SHEET)}, but your file is for {shown(str(sheet))}. "
              "Submit the submission.json of this assignment's worksheet or answer template.")
        return 1
    if IDENTITY:
        claimed = claimed_student(doc).strip()
        try:
            allowed = submitters(metadata_path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            if not REQUIRED:
                return 0
            print("Gradescope's submission metadata cannot be read, so this submission cannot be matched "
                  "to a student; ask your instructor.")
            return 1
        if not allowed and not REQUIRED:
            return 0  # Gradescope has no such id for these submitters: nothing to match against
        if (claimed.lower() if IDENTITY == "email" else claimed) not in allowed:
            print(f"Your file is for student {shown(claimed)}, who is not "
                  f"among this submission's submitters (matched by Gradescope's {IDENTITY}). "
                  "Submit your own worksheet's submission.json.")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
'''


@dataclass(frozen=True)
class Member:
    """One file of the zip with its Unix permissions."""

    name: str
    data: bytes
    mode: int


def _same_file(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _is_builtin(sheet: Sheet) -> bool:
    builtin = resolve_builtin(sheet.id)
    return builtin is not None and _same_file(builtin.source, sheet.source)


def _toml_string(text: str) -> str:
    # JSON's string escapes are TOML's too; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InputFileError(f"cannot read: {e.strerror}", source=path) from None


def sheet_files(sheet: Sheet) -> dict[str, bytes]:
    """The spec files the autograder needs to know a sheet that is not built in, under sheet/.

    The sheet is written anew with its problems referred to by built-in id or by a copy of
    their file beside it, so it does not depend on the folders it came from. The first file
    is the one to pass to `gradekit grade --sheet`.
    """
    if _is_builtin(sheet):
        return {}
    only = sheet.entries[0].problem
    if len(sheet.entries) == 1 and sheet.id == only.id and _same_file(sheet.source, only.source):
        return {f"sheet/{only.id}.toml": _read(only.source)}  # a single problem spec, given by path
    builtin = builtin_problem_paths()
    problems: dict[str, bytes] = {}
    lines = [f"id = {_toml_string(sheet.id)}", f"title = {_toml_string(sheet.title)}",
             f"description = {_toml_string(sheet.description)}",
             f"instructions = {_toml_string(sheet.instructions)}"]
    for entry in sheet.entries:
        p = entry.problem
        if p.id in builtin and _same_file(builtin[p.id], p.source):
            ref = p.id
        else:
            ref = f"problems/{p.id}.toml"
            problems[f"sheet/{ref}"] = _read(p.source)
        lines += ["", "[[problems]]", f"problem = {_toml_string(ref)}"]
        if entry.points is not None:
            lines.append(f"points = {entry.points!r}")
        if entry.instructions:
            lines.append(f"instructions = {_toml_string(entry.instructions)}")
    return {f"sheet/{sheet.id}.toml": ("\n".join(lines) + "\n").encode("utf-8"), **problems}


def members(sheet: Sheet, secret: bytes, wheel: wheels.Wheel, identity: str | None = None) -> list[Member]:
    """Every file of the autograder zip, in order.

    identity: None (the default) matches the file's student id with the submitter's SID when
    Gradescope has one; "sid" or "email" always match (refusing when Gradescope has none);
    "none" grades whatever id the file claims.
    """
    if identity is not None and identity not in MATCH_CHOICES:
        raise InputFileError(f"--match-student must be one of {', '.join(MATCH_CHOICES)}, got {identity!r}")
    specs = sheet_files(sheet)
    option = f'--sheet "$source_dir/{next(iter(specs))}" ' if specs else ""
    field = {None: "sid", "none": ""}.get(identity, identity)
    check = (CHECK_SUBMISSION.replace("@SHEET@", json.dumps(sheet.id))
             .replace("@IDENTITY@", json.dumps(field)).replace("@REQUIRED@", str(identity in IDENTITY_FIELDS)))
    return [
        Member("setup.sh", SETUP_SH.replace("@WHEEL@", wheel.filename).encode("utf-8"), 0o755),
        Member("run_autograder", RUN_AUTOGRADER.replace("@SHEET_OPTION@", option).encode("utf-8"), 0o755),
        Member("check_submission.py", check.encode("utf-8"), 0o644),
        Member(wheel.filename, wheel.data, 0o644),
        Member("course.key", (secret.hex() + "\n").encode("ascii"), 0o600),
        *(Member(name, data, 0o644) for name, data in specs.items()),
    ]


def autograder_zip(sheet: Sheet, secret: bytes, wheel: wheels.Wheel | None = None,
                   identity: str | None = None) -> bytes:
    """The autograder zip; Unix permissions are stored with each file (the secret's is 600)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for m in members(sheet, secret, wheel or wheels.build(), identity):
            info = zipfile.ZipInfo(m.name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that unzip applies the permissions below
            info.external_attr = (0o100000 | m.mode) << 16
            archive.writestr(info, m.data)
    return buffer.getvalue()


def read_wheel(path: Path) -> wheels.Wheel:
    """A wheel built elsewhere (`python -m build`), to bundle instead of one made from the running gradekit."""
    if not path.name.startswith("gradekit-") or path.suffix != ".whl":
        raise InputFileError("expected a gradekit wheel (gradekit-VERSION-py3-none-any.whl)", source=path)
    try:
        return wheels.Wheel(path.name, path.read_bytes())
    except OSError as e:
        raise InputFileError(f"cannot read: {e.strerror}", source=path) from None


def write(data: bytes, path: Path) -> None:
    """Write the zip readable by its owner only: it holds the course secret."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None
