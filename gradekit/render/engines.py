"""Which TeX engine a LaTeX document is written for: chosen in one place (`tex_engine`), from the
texts people wrote (`sheet_texts`), and what follows from that choice before anything is written:
the engines `--pdf` will run, and the characters of a student's name that their sheet cannot print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from gradekit.model.problem import Sheet
from gradekit.render import formatting as fmt
from gradekit.render.fonts import engine_for
from gradekit.spec.roster import Student

AUTO = "auto"  # the option that lets the texts decide


def tex_engine(option: str, texts: Iterable[str]) -> str:
    """The engine of a document of these texts: the option's, or for "auto" pdflatex when it can set
    every character as typed (Western and Central European Latin), else LuaLaTeX."""
    return option if option != AUTO else engine_for(texts)


def sheet_texts(sheet: Sheet, student_name: str | None = None, student_id: str | None = None) -> list[str]:
    """Every text of a sheet that comes from people (specs, rosters): what decides its engine and fonts."""
    texts = [sheet.title, sheet.instructions.strip(), student_name or "", student_id or ""]
    for e in sheet.entries:
        texts += [e.problem.title, e.problem.statement.strip(), e.instructions.strip()]
    return texts


def engines_needed(sheets: Sequence[Sheet], students: Sequence[Student], option: str) -> list[str]:
    """The engines the documents of these sheets (one per student, or one public variant) are written for."""
    who = [(s.name, s.id) for s in students] or [(None, None)]
    return sorted({tex_engine(option, sheet_texts(sheet, name, sid)) for sheet in sheets for name, sid in who})


@dataclass(frozen=True)
class GlyphGap:
    """Characters of a student's name or id that no font of their sheet's engine has (they print as a boxed ?)."""

    student: Student
    engine: str
    chars: tuple[str, ...]

    def describe(self) -> str:
        return fmt.describe_chars(list(self.chars))


def glyph_gaps(sheet: Sheet, students: Sequence[Student], option: str) -> list[GlyphGap]:
    """The students whose sheet cannot print every character of their name or id, in roster order."""
    gaps = []
    for s in students:
        engine = tex_engine(option, sheet_texts(sheet, s.name, s.id))
        in_name = fmt.missing_glyphs(s.name, engine)
        chars = in_name + [c for c in fmt.missing_glyphs(s.id, engine) if c not in in_name]
        if chars:
            gaps.append(GlyphGap(s, engine, tuple(chars)))
    return gaps
