"""gradekit.render.engines: the one choice of TeX engine, and what the commands check with it."""

from __future__ import annotations

import pytest

from gradekit.model.problem import Sheet
from gradekit.render import output
from gradekit.render.engines import engines_needed, glyph_gaps, sheet_texts, tex_engine
from gradekit.spec.reader import resolve
from gradekit.spec.roster import Student
from gradekit.util.errors import ToolMissingError


@pytest.mark.parametrize("option, texts, engine", [
    ("auto", ["Backpropagation", "Émile Borel", "Dvořák"], "pdflatex"),
    ("auto", ["Backpropagation", "Nguyễn Văn Đức"], "lualatex"),
    ("auto", ["张伟"], "lualatex"),
    ("pdflatex", ["张伟"], "pdflatex"),
    ("lualatex", ["plain"], "lualatex"),
])
def test_the_option_decides_unless_it_is_auto(option, texts, engine):
    assert tex_engine(option, texts) == engine


def _renamed(sheet: Sheet, title: str) -> Sheet:
    from dataclasses import replace

    return replace(sheet, title=title)


def test_every_sheet_and_student_gets_the_engine_of_its_own_texts():
    sheet = resolve("sigmoid-mse-single")
    assert sheet.title in sheet_texts(sheet) and "Zhang Wei" in sheet_texts(sheet, "Zhang Wei", "s3")
    greek = _renamed(sheet, "Οπισθοδιάδοση")
    assert engines_needed([sheet], [], "auto") == ["pdflatex"]
    assert engines_needed([sheet, greek], [], "auto") == ["lualatex", "pdflatex"]  # each sheet its own
    assert engines_needed([sheet], [Student("s1", "Ada"), Student("s2", "张伟")], "auto") == ["lualatex", "pdflatex"]
    assert engines_needed([sheet, greek], [Student("s2", "张伟")], "pdflatex") == ["pdflatex"]


def test_characters_a_students_sheet_cannot_print_are_named():
    sheet = resolve("sigmoid-mse-single")
    students = [Student("s1", "Ada"), Student("s2", "Ada 😀"), Student("s3", "张伟")]
    gaps = glyph_gaps(sheet, students, "auto")
    assert [(g.student.id, g.engine, g.chars) for g in gaps] == [("s2", "lualatex", ("😀",))]
    assert "GRINNING FACE" in gaps[0].describe()
    forced = glyph_gaps(sheet, students, "pdflatex")
    assert [g.student.id for g in forced] == ["s2", "s3"] and forced[1].chars == ("张", "伟")


def test_pdf_output_checks_every_engine_the_documents_need(monkeypatch):
    sheet = resolve("sigmoid-mse-single")
    checked: list[str] = []
    monkeypatch.setattr(output, "tex_program", checked.append)
    output.require_engines([sheet, _renamed(sheet, "Οπισθοδιάδοση")], [], "auto")
    assert checked == ["lualatex", "pdflatex"]

    def missing(engine: str) -> str:
        raise ToolMissingError(f"--pdf needs {engine}")

    monkeypatch.setattr(output, "tex_program", missing)
    with pytest.raises(ToolMissingError):
        output.require_engines([sheet], [], "auto")
