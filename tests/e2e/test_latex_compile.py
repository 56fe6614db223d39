"""LaTeX output compiles with pdflatex and shows user text literally.

Under CI (CI=true) a missing pdflatex or pdftotext fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.render.fonts import LATEX_CHARS
from gradekit.spec.reader import builtin_problem_paths
from latex_helpers import course, pdf_text, require
from specs import WIDE_SPEC

pytestmark = pytest.mark.latex


def compile_once(tex: Path) -> tuple[Path, str]:
    """pdflatex once on a .tex in its own folder: (the PDF, the log). Fails the test on an error."""
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                          capture_output=True, text=True, errors="replace")
    log = tex.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0, done.stdout[-2000:]
    return tex.with_suffix(".pdf"), log


def overfull_lines(log: str) -> list[str]:
    """Lines that ran into the margin (more than TeX's 0.1 pt noise)."""
    return [line for line in log.splitlines()
            if line.startswith("Overfull \\hbox") and float(line.split("(")[1].split("pt")[0]) > 1.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_builtin_problem_compiles(tmp_path, seed):
    """One sheet with every built-in problem, so each seed costs two pdflatex runs, not 22."""
    require("pdflatex")
    require("pdftotext")
    sheet = tmp_path / "all.toml"
    entries = "".join(f'[[problems]]\nproblem = "{pid}"\n' for pid in builtin_problem_paths())
    sheet.write_text(f'id = "all"\ntitle = "Every built-in problem"\n{entries}', encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(sheet), "--seed", str(seed), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet_pdf, sheet_log = compile_once(out / "handout" / "sheet.tex")
    solutions_pdf, solutions_log = compile_once(out / "instructor" / "solutions.tex")
    assert overfull_lines(sheet_log) == [] and overfull_lines(solutions_log) == []
    text = pdf_text(sheet_pdf)
    assert "Every built-in problem" in text and f"Problem {len(builtin_problem_paths())}:" in text
    solutions = pdf_text(solutions_pdf)
    assert "worked solutions" in solutions and "Solution 1:" in solutions
    assert solutions.count("Answers") == len(builtin_problem_paths())
    # The indicator of ReLU and BCE steps is a bold 1 (amssymb has no blackboard 1: it showed "⊮").
    assert "⊮" not in solutions and "𝟙" not in solutions
    assert "One entry worked out" in solutions
    # Every problem is drawn: its inputs, layers and loss, as the TikZ picture's captions.
    assert text.count("inputs") >= len(builtin_problem_paths()) and "layer 1" in text
    # A step never starts a page without its heading: no page opens with its inputs, its worked
    # entry or its result.
    for page in [p for p in solutions.split("\f")[1:] if p.strip()]:
        body = [line.strip() for line in page.splitlines() if line.strip()][1:]  # after the running header
        assert body and not body[0].startswith(("using", "One entry", "With the numbers", "=")), body[:2]


@pytest.mark.parametrize("samples", [12, 32])
def test_wide_matrices_stay_inside_the_margins(tmp_path, write_toml, samples):
    """32 samples in columns (the spec's limit) still compile: amsmath's 10-column limit is raised,
    and matrices too wide for the line get a smaller font or are scaled down."""
    require("pdflatex")

    spec = write_toml(WIDE_SPEC.format(samples=samples))
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["generate", str(spec), "-o", str(out)]).exit_code == 0
    for name in ("handout/sheet.tex", "instructor/solutions.tex"):
        _, log = compile_once(out / name)
        assert overfull_lines(log) == [], name


def test_every_character_the_escaper_keeps_compiles(tmp_path):
    """fonts.LATEX_CHARS was measured on one TeX installation; this checks it on this one."""
    require("pdflatex")
    require("pdftotext")
    from gradekit.render import formatting as fmt
    from gradekit.render.documents import environment

    preamble = environment("latex").get_template("preamble.tex.j2").render()
    everything = "".join(sorted(LATEX_CHARS)) + "".join(chr(c) for c in range(0x20, 0x7F))
    fallbacks = "李雷 Ħ Ə Nguyễn ＡＢ ﬁ \u202e\x7f"
    body = "\n\n".join(fmt.tex_escape(everything[i:i + 40]) for i in range(0, len(everything), 40))
    tex = tmp_path / "chars.tex"
    tex.write_text(f"{preamble}\\begin{{document}}\n{body}\n\n{fmt.tex_escape(fallbacks)}\n\\end{{document}}\n",
                   encoding="utf-8")
    pdf, log = compile_once(tex)
    assert "Missing character" not in log
    text = pdf_text(pdf)
    assert "ÀÁÂÃÄÅÆÇ" in text and "ĀāĂăĄą" in text and "Łł" in text and "€" in text and "‘’‚" in text
    assert "{|}~" in text and "? ? ? ? Nguyen AB fi" in text  # CJK, Ħ and Ə boxed; the rest approximated


def test_hostile_roster_names_compile_and_show_literally_with_pdflatex(tmp_path):
    """pdflatex stays supported: asked for, it sets Latin names as typed and boxes what it cannot."""
    runner, secret, roster = course(
        tmp_path, 'id,name\nx_1,"\\input{/etc/passwd} $ % & # _ ~ ^ \\ {} | < > a--b \'\'q\'\'"\nzoe,Zoë Ångström\n'
                  'cjk,李雷\naz,Əliyev O’Brien – Łukasz\nvi,Nguyễn Thị\n')
    out = tmp_path / "out"
    result = runner.invoke(main, ["generate", "sigmoid-mse-single", "--roster", str(roster), "--secret-file",
                                  str(secret), "-o", str(out), "--pdf", "--tex-engine", "pdflatex"])
    assert result.exit_code == 0, result.output
    folders = {line.split(",")[0]: line.split(",")[-1] for line in (out / "instructor" / "students.csv").read_text().splitlines()[1:]}
    hostile = pdf_text(out / "handout" / folders["x_1"] / "sheet.pdf")
    assert sorted(p.name for p in (out / "instructor" / folders["x_1"]).glob("*.pdf")) == ["solutions.pdf"]
    assert sorted(p.name for p in (out / "handout").rglob("*.pdf")) == ["sheet.pdf"] * 5  # no solutions handed out
    # Every character as typed (an apostrophe is set as one, ’); no -- en dash, no '' quote.
    assert "Name: \\input{/etc/passwd} $ % & # _ ~ ^ \\ {} | < > a--b ’’q’’ " in hostile
    assert "root:" not in hostile  # /etc/passwd was not read in
    assert "Zoë Ångström" in pdf_text(out / "handout" / folders["zoe"] / "sheet.pdf")
    # pdflatex has no glyphs for CJK or for Ə: each shows as a boxed "?" and the sheet compiles,
    # with the student id beside it; letters with accents the fonts lack lose the accent.
    assert "Name: ? ? Student ID: cjk" in " ".join(pdf_text(out / "handout" / folders["cjk"] / "sheet.pdf").split())
    assert "? liyev O’Brien – Łukasz" in pdf_text(out / "handout" / folders["az"] / "sheet.pdf")
    assert "Nguyen Thi" in pdf_text(out / "handout" / folders["vi"] / "sheet.pdf")
    # Each boxed name is a warning naming the student and the characters.
    assert 'student "cjk": the pdflatex sheets have no glyph for U+674E (CJK UNIFIED IDEOGRAPH-674E)' in result.output


def test_exported_fragments_compile_inside_a_course_document_and_roster_starts_students_on_recto(tmp_path):
    runner, secret, roster = course(tmp_path, "id,name\ns1,Ada Lovelace\ns2,Alan & Co\ns3,Grace Hopper\n")
    out = tmp_path / "lx"
    result = runner.invoke(main, ["export", "latex", "relu-batchnorm-softmax-rows", "--roster", str(roster),
                                  "--secret-file", str(secret), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (out / "course.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\usepackage{enumitem}\n\\usepackage{tikz}\n"
        "\\begin{document}\nWeek 5 homework.\n\\input{relu-batchnorm-softmax-rows-exercise}\n"
        "\\input{relu-batchnorm-softmax-rows-solution}\n\\end{document}\n", encoding="utf-8")
    for name in ("course.tex", "roster-sheets.tex"):
        for _ in range(2):
            done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name], cwd=out,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stdout[-2000:]
    course_text = pdf_text(out / "course.pdf")
    assert "Week 5 homework." in course_text and "Problem 1" not in course_text and "points]" not in course_text
    pages = pdf_text(out / "roster-sheets.pdf").split("\f")
    for sid, name in (("s1", "Ada Lovelace"), ("s2", "Alan & Co"), ("s3", "Grace Hopper")):
        first = next(i for i, p in enumerate(pages) if f"ID {sid}" in p)
        assert name in pages[first]
        assert first % 2 == 0  # page 1, 3, 5, ...: a right-hand page when printed two-sided
    blank = [p for p in pages[:-1] if not p.strip()]
    assert all("ID" not in p for p in blank)  # the pages left blank carry no header


def readme_block(marker: str) -> str:
    """The fenced block after `<!-- marker -->` in README.md."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    after = readme.split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


def test_readme_exam_class_example_compiles(tmp_path):
    """README's exam-class example: the host numbers the questions and states their points."""
    require("pdflatex")
    require("pdftotext")
    out = tmp_path / "fragments"
    result = CliRunner().invoke(main, ["export", "latex", "backprop-basics", "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (out / "exam.tex").write_text(readme_block("test:exam-example"), encoding="utf-8")
    _, log = compile_once(out / "exam.tex")
    text = pdf_text(out / "exam.pdf")
    flat = " ".join(text.split())
    assert "1. (20 points) ReLU hidden layer, softmax cross-entropy" in flat
    assert "2. (20 points) Tanh hidden layer" in flat and "Problem" not in flat
