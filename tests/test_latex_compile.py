"""LaTeX output compiles with pdflatex and shows user text literally.

Under CI (CI=true) a missing pdflatex or pdftotext fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.spec import builtin_problem_paths

pytestmark = pytest.mark.latex


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required under CI (install Debian's TeX packages and poppler-utils)")
        pytest.skip(f"{tool} is not installed")


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("seed", [0, 1])
def test_every_builtin_problem_compiles(tmp_path, seed):
    require("pdflatex")
    require("pdftotext")
    sheet = tmp_path / "all.toml"
    entries = "".join(f'[[problems]]\nproblem = "{pid}"\n' for pid in builtin_problem_paths())
    sheet.write_text(f'id = "all"\ntitle = "Every built-in problem"\n{entries}', encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(sheet), "--seed", str(seed), "-o", str(out), "--pdf"])
    assert result.exit_code == 0, result.output
    text = pdf_text(out / "sheet.pdf")
    assert "Every built-in problem" in text and f"Problem {len(builtin_problem_paths())}:" in text
    solutions = pdf_text(out / "solutions.pdf")
    assert "worked solutions" in solutions and "Solution 1:" in solutions


def course(tmp_path: Path, roster_csv: str) -> tuple[CliRunner, Path, Path]:
    """pdflatex and pdftotext present, a course secret and a roster: (runner, secret, roster)."""
    require("pdflatex")
    require("pdftotext")
    runner = CliRunner()
    secret = tmp_path / "course.key"
    runner.invoke(main, ["keygen", str(secret)])
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_csv, encoding="utf-8")
    return runner, secret, roster


def test_hostile_roster_names_compile_and_show_literally(tmp_path):
    runner, secret, roster = course(
        tmp_path, 'id,name\nx_1,"\\input{/etc/passwd} $ % & # ~ ^ {}"\nzoe,Zoë Ångström\ncjk,李雷\n')
    out = tmp_path / "out"
    result = runner.invoke(main, ["generate", "sigmoid-mse-single", "--roster", str(roster), "--secret-file",
                                  str(secret), "-o", str(out), "--pdf"])
    assert result.exit_code == 0, result.output
    folders = {line.split(",")[0]: line.split(",")[-1] for line in (out / "students.csv").read_text().splitlines()[1:]}
    hostile = pdf_text(out / folders["x_1"] / "sheet.pdf")
    assert "\\input{/etc/passwd} $ % & # ~ ^ {}" in hostile
    assert "root:" not in hostile  # /etc/passwd was not read in
    assert "Zoë Ångström" in pdf_text(out / folders["zoe"] / "sheet.pdf")
    assert "ID cjk" in pdf_text(out / folders["cjk"] / "sheet.pdf")  # CJK shown as boxed ?, and it compiles


def test_exported_fragments_compile_inside_a_course_document_and_roster_has_a_page_per_student(tmp_path):
    runner, secret, roster = course(tmp_path, "id,name\ns1,Ada Lovelace\ns2,Alan & Co\n")
    out = tmp_path / "lx"
    result = runner.invoke(main, ["export", "latex", "relu-batchnorm-softmax-rows", "--roster", str(roster),
                                  "--secret-file", str(secret), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (out / "course.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\usepackage{enumitem}\n\\begin{document}\n"
        "Week 5 homework.\n\\input{relu-batchnorm-softmax-rows-exercise}\n"
        "\\input{relu-batchnorm-softmax-rows-solution}\n\\end{document}\n", encoding="utf-8")
    for name in ("course.tex", "roster-sheets.tex"):
        for _ in range(2):
            done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name], cwd=out,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stdout[-2000:]
    assert "Week 5 homework." in pdf_text(out / "course.pdf")
    pages = pdf_text(out / "roster-sheets.pdf").split("\f")
    assert any("Ada Lovelace" in p and "ID s1" in p for p in pages)
    assert any("Alan & Co" in p and "ID s2" in p for p in pages)
    first_s2 = next(i for i, p in enumerate(pages) if "ID s2" in p)
    assert "ID s1" not in pages[first_s2]  # each student starts on a page of their own
