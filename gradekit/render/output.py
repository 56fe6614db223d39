"""Write a variant's files: sheet and solutions (LaTeX, Markdown), key.json, submission-template.json.

What students receive and what the instructor keeps go to two folders, `handout/` and
`instructor/`, side by side under the output folder (with a roster, each holds one folder per
student), so that handing out `handout/` (or any glob inside it) can never hand out a key. A
document goes to the handout only when it is named in HANDOUT_FILES: anything new is private
until someone decides otherwise.

Same spec and seed give byte-identical files: nothing here writes a date, a path or a random
number of its own.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from gradekit.util import parallel
from gradekit.util.errors import GradekitError, InputFileError, ToolMissingError
from gradekit.keys.key import AnswerKey, dumps, key_document, student_keys, template_document
from gradekit.render.documents import RenderOptions, render_variant
from gradekit.render.engines import engines_needed
from gradekit.spec.roster import Student, folder_name
from gradekit.model.problem import Sheet

PDFLATEX_TIMEOUT = 120
HANDOUT, INSTRUCTOR = "handout", "instructor"  # the two folders under an output folder
HANDOUT_FILES = frozenset({"sheet.tex", "sheet.md", "submission-template.json"})  # and sheet.pdf


@dataclass(frozen=True)
class Written:
    handout: tuple[str, ...]  # file names in the handout folder
    instructor: tuple[str, ...]  # file names in the instructor's folder


def split_documents(docs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(what students receive, what the instructor keeps): only HANDOUT_FILES are handed out."""
    handout = {name: text for name, text in docs.items() if name in HANDOUT_FILES}
    return handout, {name: text for name, text in docs.items() if name not in HANDOUT_FILES}


def variant_documents(key: AnswerKey, student_name: str | None = None,
                      options: RenderOptions = RenderOptions()) -> dict[str, str]:
    """Every file of one variant, by name."""
    docs = render_variant(key, student_name, options)
    docs["key.json"] = dumps(key_document(key))
    docs["submission-template.json"] = dumps(template_document(key))
    return docs


def write_documents(folder: Path, docs: dict[str, str]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in docs.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=e.filename or folder) from None


def write_variant(key: AnswerKey, base: Path, student_name: str | None = None, pdf: bool = False,
                  folder: str = "", options: RenderOptions = RenderOptions()) -> Written:
    """The variant's handout into base/handout/FOLDER, its key and solutions into base/instructor/FOLDER."""
    handout, private = split_documents(variant_documents(key, student_name, options))
    out = {HANDOUT: base / HANDOUT / folder, INSTRUCTOR: base / INSTRUCTOR / folder}
    write_documents(out[HANDOUT], handout)
    write_documents(out[INSTRUCTOR], private)
    names = {HANDOUT: list(handout), INSTRUCTOR: list(private)}
    if pdf:
        for where, tex in ((HANDOUT, "sheet.tex"), (INSTRUCTOR, "solutions.tex")):
            names[where].append(compile_pdf(out[where] / tex).name)
    return Written(tuple(names[HANDOUT]), tuple(names[INSTRUCTOR]))


PARALLEL_MIN_STUDENTS = 40  # below this, starting worker processes costs more than it saves
_worker: tuple[Sheet, bytes, Path, bool, RenderOptions] | None = None


def _init_worker(sheet: Sheet, secret: bytes, base: Path, pdf: bool, options: RenderOptions) -> None:
    global _worker
    _worker = (sheet, secret, base, pdf, options)


def _write_students(students: list[Student]) -> int:
    assert _worker is not None
    sheet, secret, base, pdf, options = _worker
    for student, key in zip(students, student_keys(sheet, students, secret)):  # sampled together
        write_variant(key, base, student.name or None, pdf, folder_name(student.id), options)
    return len(students)


def write_roster(sheet: Sheet, students: Sequence[Student], secret: bytes, base: Path, pdf: bool = False,
                 jobs: int = 1, progress: Callable[[int], None] = lambda done: None,
                 options: RenderOptions = RenderOptions()) -> int:
    """One folder per student (each their own secret variant) in base/handout and in base/instructor,
    and an index for the instructor, base/instructor/students.csv; returns how many students.

    Students are independent, so large rosters are spread over `jobs` processes.
    """
    jobs = jobs if len(students) >= PARALLEL_MIN_STUDENTS else 1
    # Chunks of at most 50 students: their keys are sampled together, which costs about half as
    # much per student as chunks of 20 (the sampler's checks run once per round of a chunk), and
    # the progress bar still moves 20 times over a class of 1,000.
    for done in parallel.run(_write_students, parallel.chunks(students, jobs, largest=50), jobs, _init_worker,
                             (sheet, secret, base, pdf, options)):
        progress(done)
    rows = [["id", "name", "folder"], *([s.id, s.name, folder_name(s.id)] for s in students)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_documents(base / INSTRUCTOR, {"students.csv": buffer.getvalue()})
    return len(students)


def sheet_folder(output: Path, sheet: Sheet, sheets: int) -> Path:
    """Where a sheet's files go: the output folder itself, or a folder of its own among several sheets."""
    return output / sheet.id if sheets > 1 else output


# What each engine needs from Debian, for the message when it is missing.
_ENGINE_PACKAGES = {
    "pdflatex": "texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-pictures",
    "lualatex": "texlive-luatex texlive-latex-extra texlive-pictures fonts-noto-core fonts-noto-cjk",
}


def tex_program(engine: str = "pdflatex") -> str:
    """The path of a TeX engine, or a ToolMissingError (exit 3) naming the Debian packages."""
    path = shutil.which(engine)
    if path is None:
        raise ToolMissingError(f"--pdf needs {engine}, which is not installed (Debian: apt-get install "
                               f"{_ENGINE_PACKAGES[engine]})")
    return path


def pdflatex() -> str:
    return tex_program("pdflatex")


def require_engines(sheets: Sequence[Sheet], students: Sequence[Student], option: str) -> None:
    """ToolMissingError (exit 3) when --pdf would need an engine that is not installed: checked before
    anything is written, for every engine the sheets' documents are written for."""
    for engine in engines_needed(sheets, students, option):
        tex_program(engine)


def document_engine(tex: str) -> str:
    """The engine a .tex file of gradekit's names in its `% !TEX program = ...` line (pdflatex without one)."""
    for line in tex.splitlines()[:10]:
        if line.startswith("% !TEX program = "):
            return line.split("=", 1)[1].strip()
    return "pdflatex"


def compile_pdf(tex_path: Path) -> Path:
    """Compile a standalone .tex beside itself (twice, for 'page N of M') with the engine it names;
    returns the PDF. Characters its fonts lack are reported by the caller (formatting.missing_glyphs)."""
    engine = document_engine(tex_path.read_text(encoding="utf-8"))
    exe = tex_program(engine)
    with tempfile.TemporaryDirectory(prefix="gradekit-tex-") as tmp:
        # Compiled by relative name inside a scratch folder, with TeX's paranoid file access:
        # no shell escape, and no reading files outside that folder (an \input that slipped
        # through escaping still could not read /etc/passwd).
        shutil.copyfile(tex_path, Path(tmp) / tex_path.name)
        for _ in range(2):
            try:
                result = subprocess.run(
                    [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex_path.name],
                    cwd=tmp, capture_output=True, text=True, errors="replace", timeout=PDFLATEX_TIMEOUT,
                    env={**os.environ, "openin_any": "p", "openout_any": "p"})
            except subprocess.TimeoutExpired:
                raise GradekitError(f"{engine} took longer than {PDFLATEX_TIMEOUT} s", source=tex_path) from None
            if result.returncode != 0:
                first = next((l for l in result.stdout.splitlines() if l.startswith("!")), "see the log")
                raise GradekitError(f"{engine} failed: {first}", source=tex_path)
        pdf = tex_path.with_suffix(".pdf")
        shutil.copyfile(Path(tmp) / pdf.name, pdf)
    return pdf
