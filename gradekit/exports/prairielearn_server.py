"""server.py of a gradekit question in PrairieLearn (written by `gradekit export prairielearn`).

Every gradekit question has this same file; what differs is gradekit-question.json beside it
(the problem, the sheet's points, the given values of each variant). The work is done by the
copy of gradekit's grader in the course's serverFilesCourse/gradekit-bundles/ that the question
file names: its generate() picks a variant by PrairieLearn's variant seed, and its grade()
grades the whole submission as `gradekit grade` does (follow-through, named mistakes, each
entry within its own margin). Re-export rather than edit.
"""

from __future__ import annotations

import json
import os
import sys
from types import ModuleType


def _runtime(data: dict) -> ModuleType:
    """The bundled gradekit runtime named by this question's file, imported from serverFilesCourse."""
    with open(os.path.join(data["options"]["question_path"], "gradekit-question.json"), encoding="utf-8") as f:
        bundle = json.load(f)["bundle"]
    root = os.path.join(data["options"]["server_files_course_path"], "gradekit-bundles", bundle)
    loaded = sys.modules.get("gradekit")
    here = os.path.abspath(os.path.join(root, "gradekit"))
    if loaded is not None and os.path.dirname(os.path.abspath(getattr(loaded, "__file__", "") or "")) != here:
        # Another gradekit (another bundle) was imported in this worker: drop it, use ours.
        for name in [m for m in sys.modules if m == "gradekit" or m.startswith("gradekit.")]:
            del sys.modules[name]
    if root not in sys.path:
        sys.path.insert(0, root)
    from gradekit.exports import prairielearn_runtime

    return prairielearn_runtime


def generate(data: dict) -> None:
    _runtime(data).generate(data)


def grade(data: dict) -> None:
    _runtime(data).grade(data)


def test(data: dict) -> None:
    _runtime(data).test(data)
