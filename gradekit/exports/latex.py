"""LaTeX fragments to \\input into a course's own documents (`gradekit export latex`): each problem's
exercise and solution of one public variant and, with a roster, every student's sheet in one
two-sided document."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from gradekit.keys.key import make_key, student_keys
from gradekit.model.problem import Sheet
from gradekit.render.documents import RenderOptions, latex_fragments, latex_roster
from gradekit.render.output import write_documents
from gradekit.sampling.variants import Variant
from gradekit.spec.roster import Student


def write(sheet: Sheet, seed: int, folder: Path, options: RenderOptions = RenderOptions(),
          students: Sequence[Student] | None = None, secret: bytes | None = None,
          progress: Callable[[int], None] = lambda done: None) -> list[str]:
    """PROBLEM-exercise.tex and PROBLEM-solution.tex of the seed's variant, and roster-sheets.tex when
    there are students (each their own secret variant); returns the names of the files written."""
    docs = latex_fragments(make_key(sheet, Variant(seed=seed)), options)
    if students is not None:
        assert secret is not None, "a roster's variants come from the course secret"
        keys = [(key, s.name) for key, s in zip(student_keys(sheet, students, secret), students)]
        progress(len(students) // 2)  # the keys are about half the work, the document the rest
        docs["roster-sheets.tex"] = latex_roster(keys, sheet.title, options)
        progress(len(students) - len(students) // 2)
    write_documents(folder, docs)
    return list(docs)
