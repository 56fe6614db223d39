"""Rendering and `gradekit generate`: content, determinism (golden files), rosters, escaping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.render import formatting as fmt
from gradekit.render.fonts import LATEX_CHARS
from gradekit.cli import main
from gradekit.keys.key import make_key
from gradekit.model.notation import tex, tex_constant
from gradekit.render.documents import render_variant, sheet_view
from gradekit.spec.roster import folder_name, read_roster
from gradekit.spec.reader import resolve
from gradekit.sampling.variants import Variant
from specs import WIDE_SPEC

FILES = ["sheet.tex", "solutions.tex", "sheet.md", "solutions.md", "key.json", "submission-template.json"]
HANDOUT = ["sheet.md", "sheet.tex", "submission-template.json"]  # what students receive; the rest is the instructor's
WHERE = {name: "handout" if name in HANDOUT else "instructor" for name in FILES}


@pytest.mark.parametrize("value, decimals, text", [
    (0.5, 4, "0.5000"), (-0.00004, 4, "0.0000"), (-0.00006, 4, "-0.0001"), (1234.56789, 2, "1234.57"),
])
def test_number(value, decimals, text):
    assert fmt.number(value, decimals) == text


@pytest.mark.parametrize("value, text", [
    (np.array(0.25), "0.2500"),
    (np.array([[1.0, -2.0]]), r"\begin{bmatrix} 1.0000 & -2.0000 \end{bmatrix}"),
    (np.array([[1.0], [2.0]]), r"\begin{bmatrix} 1.0000 \\ 2.0000 \end{bmatrix}"),
])
def test_tex_matrix(value, text):
    assert fmt.tex_matrix(value, 4) == text


def test_given_values_are_written_as_stated_and_labels_as_integers():
    assert fmt.tex_matrix(np.array([[0.7, -1.0, 0.25]]), 4, given=True) == r"\begin{bmatrix} 0.7 & -1 & 0.25 \end{bmatrix}"
    assert fmt.tex_matrix(np.array([0.0, 2.0, 1.0]), 4, integers=True) == r"\begin{bmatrix} 0 & 2 & 1 \end{bmatrix}"


@pytest.mark.parametrize("text, escaped", [
    (r"\input{/etc/passwd}", r"\textbackslash{}input\{/etc/passwd\}"),
    ("50% & $5 #1 a_b ~ ^", r"50\% \& \$5 \#1 a\_b \textasciitilde{} \textasciicircum{}"),
    ("Zoë Ångström", "Zoë Ångström"),
    ("李雷", r"\fbox{?}\fbox{?}"),
    ("line\nbreak", "line break"),
    # Characters past Latin-1 that pdflatex cannot set with T1 (it would stop with "Unicode
    # character not set up"): boxed, or without the accent the fonts lack.
    ("Əliyev", r"\fbox{?}liyev"), ("Nguyễn Thị", "Nguyen Thi"), ("Ħ", r"\fbox{?}"),
    # ... and the ones it can set stay as typed: curly quotes, dashes, Latin Extended-A.
    ("O’Brien – Łukasz Dvořák", "O’Brien – Łukasz Dvořák"),
    ("e\u0301", "é"),  # decomposed input is composed first
    ("ＡＢ＄ ﬁ", r"AB\$ fi"),  # compatibility forms: fullwidth letters, ligatures
    ("del\x7fx\u202eRLO\u200bzw\x85!", "del xRLOzw !"),  # controls as spaces, invisible format characters dropped
    ("a--b ''q'' ,,x !`", r"a-{}-b '{}'q'{}' ,{},x !{}\textasciigrave{}"),  # no T1 ligatures: shown as typed
    ("| < > \" `", r"\textbar{} \textless{} \textgreater{} \textquotedbl{} \textasciigrave{}"),
])
def test_tex_escape(text, escaped):
    assert fmt.tex_escape(text) == escaped


def test_tex_escape_output_is_ascii_or_settable():
    text = "".join(chr(c) for c in range(0x20, 0x3000, 7))
    assert all(" " <= ch <= "~" or ch in LATEX_CHARS for ch in fmt.tex_escape(text))


def test_tex_text_keeps_instructor_math_and_escapes_prose():
    assert fmt.tex_text(r"Loss $\frac{1}{2}(a-y)^2$ for 100% & more") == r"Loss $\frac{1}{2}(a-y)^2$ for 100\% \& more"


def test_tex_text_keeps_paragraphs_and_escaped_dollars():
    text = "Costs \\$5, the loss is $L_1$.\n\n  Second paragraph, $$a^2$$ \n still second."
    assert fmt.tex_text(text) == "Costs \\$5, the loss is $L_1$.\n\nSecond paragraph, $$a^2$$   still second."


@pytest.mark.parametrize("text, escaped", [
    ("Bob (TA) [x](y) *a* _b_", r"Bob (TA) \[x\](y) \*a\* \_b\_"),  # parentheses stay: \( is math to MathJax
    ("<img src=x> & $x$ `c` # ~~s~~ ^2^ !", r"\<img src=x\> \& \$x\$ \`c\` \# \~\~s\~\~ \^2\^ \!"),
    ("Zoë\nÅngström\u202e", "Zoë Ångström"),
])
def test_md_escape(text, escaped):
    assert fmt.md_escape(text) == escaped


@pytest.mark.parametrize("x, text", [(0.5, "0.5"), (0.01, "0.01"), (1e-5, "10^{-5}"), (2.5e-7, r"2.5 \cdot 10^{-7}")])
def test_tex_constant(x, text):
    assert tex_constant(x) == text


@pytest.mark.parametrize("shape, wrapper", [
    ((3, 4), None), ((4, 8), None), ((4, 9), r"\text{\small\setlength{\arraycolsep}{4pt}$"),
    ((4, 10), r"\text{\scriptsize\setlength{\arraycolsep}{3pt}$"),
    ((4, 12), r"\text{\tiny\setlength{\arraycolsep}{2pt}$"), ((3, 32), r"\resizebox{0.8\linewidth}{!}{$"),
])
def test_wide_matrices_get_a_smaller_font_in_latex(shape, wrapper):
    value = np.full(shape, -0.1234)
    fitted = fmt.tex_matrix_fit(value, 4)
    plain = fmt.tex_matrix(value, 4)
    assert fitted == plain if wrapper is None else fitted == wrapper + plain + "$}"


def test_matrix_width_model_is_close_to_what_pdflatex_measures():
    # pdflatex's \wd of these boxes (11-pt article, lmodern), measured once: the model must
    # not underestimate wide matrices by more than a few percent.
    rows = [["-0.1234"] * 12] * 2
    assert abs(fmt.matrix_width_pt(rows) - 588.87) / 588.87 < 0.02
    assert abs(fmt.matrix_width_pt([["0.25"] * 6] * 2) - 178.47) / 178.47 < 0.02


def test_points_label():
    assert [fmt.points_label(x) for x in (1, 1.0, 1.111, 20)] == ["1 pt", "1 pt", "1.11 pts", "20 pts"]


def test_sheet_shows_givens_parts_and_points_but_no_answers():
    key = make_key(resolve("sigmoid-mse-single"), Variant(seed=4))
    docs = render_variant(key)
    trace = key.problems[0].instance.trace
    sheet = docs["sheet.tex"]
    assert fmt.tex_matrix(trace["W1"], 4, given=True) in sheet
    assert r"\item $dW^{[1]}$ \quad ($2\times 2$) \gkpartpoints{1 pt}" in sheet
    assert fmt.tex_matrix(trace["dW1"], 4) not in sheet and fmt.tex_matrix(trace["dW1"], 4) not in docs["sheet.md"]
    assert "learning rate $\\eta = 0.5$" in sheet
    assert "Samples are the rows of $X$" in sheet


def test_solutions_show_every_step_formula_inputs_and_result():
    key = make_key(resolve("relu-batchnorm-softmax-rows"), Variant(seed=1))
    trace = key.problems[0].instance.trace
    view = sheet_view(key).problems[0]
    names = [s.name for s in view.steps]
    # Asked quantities and the intermediate steps they need, in computing order.
    assert names[:3] == ["Z1", "A1", "mu2"] and "dXhat2" in names and names.index("dZ3") < names.index("dW1")
    assert {s.name for s in view.steps if s.label} == set(key.problems[0].problem.asked)
    docs = render_variant(key)
    for name in ("dgamma2", "dA1", "loss"):
        step = trace.step(name)
        assert step.formula in docs["solutions.tex"] and step.formula in docs["solutions.md"]
        assert fmt.tex_matrix(trace[name], 4) in docs["solutions.tex"]


def test_solutions_end_with_the_answers_of_every_asked_part():
    key = make_key(resolve("tanh-softmax-columns"), Variant(seed=2))
    pk = key.problems[0]
    trace = pk.instance.trace
    docs = render_variant(key)
    tex_answers = docs["solutions.tex"].split(r"\subsection*{Answers}")[1]
    md_answers = docs["solutions.md"].split("### Answers")[1]
    for label, q in zip("abcdefghijklm", pk.problem.asked):
        assert rf"\item[({label})] \mbox{{${tex(q)} = {fmt.tex_matrix_fit(trace[q], 4, q == 'pred')}$}}" in tex_answers
        assert f"- ({label}) ${tex(q)} = {fmt.tex_matrix(trace[q], 4, q == 'pred')}$" in md_answers


def test_markdown_keeps_blocks_apart():
    """Paragraphs, lists and $$ blocks need blank lines between them to render on GitHub/Jupyter."""
    key = make_key(resolve("backprop-basics"), Variant(seed=1))
    for name in ("sheet.md", "solutions.md"):
        lines = render_variant(key)[name].split("\n")
        opening = [i for i, line in enumerate(lines) if line == "$$" and lines[:i].count("$$") % 2 == 0]
        assert opening and all(lines[i - 1] == "" for i in opening), name
        assert lines[1] == "" and lines[3] == ""  # title, variant line and what follows are separate paragraphs
        assert "$$" not in "".join(line for line in lines if line != "$$" and not line.startswith("- ("))
        assert lines[-1] == "" and lines[-2] != ""  # one final newline


def test_batch_norm_constants_are_written_as_powers_of_ten():
    docs = render_variant(make_key(resolve("relu-batchnorm-softmax-rows"), Variant(seed=0)))
    assert r"$\epsilon = 10^{-5}$" in docs["sheet.tex"] and "1e-05$" not in docs["sheet.md"]


def test_columns_problem_uses_columns_notation():
    docs = render_variant(make_key(resolve("tanh-softmax-columns"), Variant(seed=0)))
    assert "Samples are the columns of $X$" in docs["sheet.md"]
    assert r"Z^{[1]} = W^{[1]} X + b^{[1]}" in docs["solutions.md"]
    assert r"dW^{[2]} = dZ^{[2]} \left(A^{[1]}\right)^{\top}" in docs["solutions.tex"]


def test_generate_without_arguments_writes_the_default_sheet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["generate"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "gradekit-out"
    assert sorted(p.name for p in out.iterdir()) == ["handout", "instructor"]
    assert sorted(p.name for p in (out / "handout").iterdir()) == HANDOUT
    assert sorted(p.name for p in (out / "instructor").iterdir()) == ["key.json", "solutions.md", "solutions.tex"]
    assert result.output == ("backprop-basics (seed 0) -> gradekit-out/: handout/ for students (sheet.tex, sheet.md, "
                             "submission-template.json); instructor/ to keep (solutions.tex, solutions.md, key.json)\n")
    key = json.loads((out / "instructor" / "key.json").read_text())
    assert key["sheet"] == "backprop-basics" and key["variant"] == {"seed": 0} and len(key["problems"]) == 5


def write_roster(path: Path, rows: list[tuple[str, str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows(rows)
    return path


HOSTILE = [("s001", r"\input{/etc/passwd}"), ("s002", "Dollar $ Percent % Amp & Hash # _ ~ ^"),
           ("s 003/../x", "Zoë Ångström"), ("s004", "李雷 {}")]


def test_roster_makes_one_secret_variant_per_student(tmp_path):
    runner = CliRunner()
    secret = tmp_path / "course.key"
    assert runner.invoke(main, ["keygen", str(secret)]).exit_code == 0
    roster = write_roster(tmp_path / "roster.csv", HOSTILE)
    out = tmp_path / "out"
    result = runner.invoke(main, ["generate", "sigmoid-mse-single", "--roster", str(roster), "--secret-file",
                                  str(secret), "-o", str(out)])
    assert result.exit_code == 0, result.output
    folders = [folder_name(sid) for sid, _ in HOSTILE]
    assert len(set(folders)) == 4 and all("/" not in f and ".." not in f for f in folders)
    keys = [json.loads((out / "instructor" / f / "key.json").read_text()) for f in folders]
    assert [k["variant"] for k in keys] == [{"student": sid} for sid, _ in HOSTILE]
    xs = {json.dumps(k["problems"][0]["given"]) for k in keys}
    assert len(xs) == 4  # every student has their own numbers
    tex = (out / "handout" / folders[0] / "sheet.tex").read_text()
    assert r"\textbackslash{}input\{/etc/passwd\}" in tex and r"\input{/etc/passwd}" not in tex
    assert "Zoë Ångström" in (out / "handout" / folders[2] / "sheet.md").read_text()
    assert (out / "instructor" / "students.csv").read_text().splitlines()[0] == "id,name,folder"
    # Nothing the students receive holds a key or a solution, whatever glob picks it.
    handed_out = sorted({p.name for p in (out / "handout").rglob("*") if p.is_file()})
    assert handed_out == HANDOUT
    assert sorted(p.name for p in (out / "handout" / folders[0]).iterdir()) == HANDOUT
    assert sorted(p.name for p in (out / "instructor" / folders[0]).iterdir()) == ["key.json", "solutions.md",
                                                                                   "solutions.tex"]


@pytest.mark.parametrize("content, message", [
    ("name\nAda\n", "the header has no `id` column (expected the columns id,name)"),
    ("id,name\ns1,Ada\ns1,Bob\n", "row 3: student id 's1' already on row 2"),
    ("id,name\n,Ada\n", "row 2: empty student id"),
    ("id,name\n", "roster lists no student"),
    ("id,name\ns\x1b1,Ada\n", "row 2: student id holds a control character \\x1b at character 2"),
    ("id,name\ns1,Eve\u202egnp.exe\n", "row 2: name holds a bidirectional-text control \\u202e at character 4"),
])
def test_broken_rosters_fail_in_one_line(tmp_path, content, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(content)
    secret = tmp_path / "k"
    CliRunner().invoke(main, ["keygen", str(secret)])
    result = CliRunner().invoke(main, ["generate", "--roster", str(roster), "--secret-file", str(secret),
                                       "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip() == f"gradekit: error: {roster}: {message}"


@pytest.mark.parametrize("command", [["generate"], ["export", "latex"], ["export", "notebook"], ["export", "qti"]])
def test_roster_and_secret_go_together_in_every_command(tmp_path, command):
    roster = write_roster(tmp_path / "r.csv", [("s1", "A")])
    secret = tmp_path / "course.key"
    secret.write_text("00" * 32 + "\n")
    out = ["-o", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*command, "--roster", str(roster), *out])
    assert result.exit_code == 2
    assert result.output == ("gradekit: error: --roster needs --secret-file (each student's variant comes from "
                             "the course secret)\n")
    result = CliRunner().invoke(main, [*command, "--secret-file", str(secret), *out])
    assert result.exit_code == 2
    assert result.output == "gradekit: error: --secret-file makes per-student variants: give a --roster too\n"
    assert not (tmp_path / "out").exists()


def test_roster_reader_accepts_a_bom_and_any_column_order(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffName,ID\nAda,s1\n".encode("utf-8"))
    assert [(s.id, s.name) for s in read_roster(path)] == [("s1", "Ada")]


def test_pdf_without_pdflatex_exits_3(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["generate", "--pdf", "-o", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert "--pdf needs pdflatex, which is not installed" in result.output
    assert not (tmp_path / "o").exists()  # failed before writing anything


def test_unknown_sheet_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["generate", "nope", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("gradekit: error: nope: no such file, and not a built-in sheet or problem")


def test_show_prints_the_problem_and_solution():
    result = CliRunner().invoke(main, ["show", "sigmoid-mse-single", "--seed", "2", "--solutions"])
    assert result.exit_code == 0
    key = make_key(resolve("sigmoid-mse-single"), Variant(seed=2))
    assert fmt.text_matrix(key.problems[0].instance.trace["dW1"], 4) in result.output
    assert fmt.text_matrix(key.problems[0].instance.trace["W1"], 4, given=True) in result.output


def test_show_lists_parts_with_shapes_and_points():
    result = CliRunner().invoke(main, ["show", "tanh-softmax-columns", "--seed", "2"])
    assert result.exit_code == 0
    assert "  (a) Z1  (2x3)  [1 pt]\n" in result.output and "  (f) pred  (vector of 3)  [1 pt]\n" in result.output
    assert "  (e) loss  (scalar)  [1 pt]\n" in result.output
    assert "dW1 =" not in result.output  # no answers without --solutions


def test_export_latex_writes_body_only_fragments(tmp_path):
    out = tmp_path / "lx"
    result = CliRunner().invoke(main, ["export", "latex", "backprop-basics", "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    key = make_key(resolve("backprop-basics"), Variant(seed=3))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{pk.problem.id}-{k}.tex" for pk in key.problems for k in ("exercise", "solution"))
    text = (out / "relu-softmax-rows-solution.tex").read_text()
    assert r"\documentclass" not in text and r"\begin{document}" not in text
    assert r"%%   \usepackage{amsmath,amssymb}" in text and "MaxMatrixCols" not in text  # 3 columns at most
    trace = key.problem("relu-softmax-rows").instance.trace
    assert fmt.tex_matrix(trace["dW1"], 4) in text
    assert fmt.tex_matrix(trace["dW1"], 4) not in (out / "relu-softmax-rows-exercise.tex").read_text()


def test_parallel_roster_writes_the_same_files_as_serial(tmp_path, monkeypatch):
    from gradekit.render import output as generate_module

    monkeypatch.setattr(generate_module, "PARALLEL_MIN_STUDENTS", 2)
    runner = CliRunner()
    secret = tmp_path / "course.key"
    runner.invoke(main, ["keygen", str(secret)])
    roster = write_roster(tmp_path / "r.csv", [(f"s{i}", f"Student {i}") for i in range(6)])
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        result = runner.invoke(main, ["generate", "relu-softmax-rows", "--roster", str(roster), "--secret-file",
                                      str(secret), "-o", str(out), "--jobs", jobs])
        assert result.exit_code == 0, result.output
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) == 6 * 6 + 1
    assert sum(f.parts[0] == "handout" for f in files) == 6 * 3
    assert all((outs[0] / f).read_bytes() == (outs[1] / f).read_bytes() for f in files)


def test_fragments_of_wide_problems_raise_amsmath_column_limit(write_toml, tmp_path):
    spec = write_toml(WIDE_SPEC.format(samples=14))
    out = tmp_path / "lx"
    result = CliRunner().invoke(main, ["export", "latex", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "wide-exercise.tex").read_text()
    assert r"\ifnum\value{MaxMatrixCols}<14\relax\setcounter{MaxMatrixCols}{14}\fi" in text


def test_constants_are_powers_of_ten_in_formulas_too():
    docs = render_variant(make_key(resolve("relu-batchnorm-softmax-rows"), Variant(seed=0)))
    assert r"\sqrt{\sigma^{2\,[2]} + 10^{-5}}" in docs["solutions.tex"]
    assert all("1e-05" not in text and "e-0" not in text for text in docs.values())


def test_the_loss_has_one_name_and_the_prediction_is_defined_on_the_sheet():
    sheet = render_variant(make_key(resolve("sigmoid-mse-single"), Variant(seed=0)))["sheet.tex"]
    assert r"The loss is $L = \frac{1}{2}(A^{[2]} - Y)^2$" in sheet and "$E" not in sheet
    bce = render_variant(make_key(resolve("bce-classifier-columns"), Variant(seed=0)))
    for name in ("sheet.tex", "sheet.md"):
        assert r"Prediction: $\hat{y}_n = \mathbf{1}[A^{[2]}_{n} \ge 0.5]$" in bce[name]
        assert "not the probability itself" in bce[name]


def test_work_space_under_each_part_on_request(tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["generate", "relu-softmax-rows", "--work-space", "3.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet = (out / "handout" / "sheet.tex").read_text()
    assert sheet.count(r"\vspace{3.5cm}") == len(resolve("relu-softmax-rows").entries[0].problem.asked)
    assert r"\vspace" not in (out / "instructor" / "solutions.tex").read_text()
    assert r"\vspace{" not in render_variant(make_key(resolve("relu-softmax-rows"), Variant(seed=0)))["sheet.tex"]


def test_markdown_sheet_has_name_and_id_fields():
    md = render_variant(make_key(resolve("relu-softmax-rows"), Variant(seed=0)))["sheet.md"]
    assert "**Name:** \\_\\_\\_" in md and "**Student ID:** \\_\\_\\_" in md
    student = render_variant(make_key(resolve("relu-softmax-rows"), Variant(student="s1"), b"k" * 32), "Ada L")
    assert "**Name:** Ada L · **Student ID:** s1" in student["sheet.md"]
    assert "**Name:**" not in student["solutions.md"]


def test_fragments_carry_no_numbering_and_no_points_heading():
    from gradekit.render.documents import latex_fragments

    frags = latex_fragments(make_key(resolve("backprop-basics"), Variant(seed=3)))
    for name, text in frags.items():
        body = "\n".join(line for line in text.splitlines() if not line.startswith("%%"))
        assert "Problem" not in body and "Solution 1" not in body and "points]" not in body, name
        assert r"\providecommand{\gkpartpoints}" in body and r"\section" not in body


def test_sheet_shows_a_diagram_in_both_formats():
    docs = render_variant(make_key(resolve("relu-softmax-rows"), Variant(seed=0)))
    assert docs["sheet.tex"].count(r"\begin{tikzpicture}") == 1 and r"\usepackage{tikz}" in docs["sheet.tex"]
    md = docs["sheet.md"]
    assert md.count("<svg xmlns=") == 1 and "\n\n<svg xmlns=" in md and "</svg>\n\n" in md
