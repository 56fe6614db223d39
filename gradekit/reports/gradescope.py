"""Gradescope's autograder results.json for one submission: its score, and one test per asked
quantity in the student's words, rendered from the result's fields (gradekit.grading.results)."""

from __future__ import annotations

import json

from gradekit.grading.results import QuantityResult, Report
from gradekit.render.formatting import points as fmt_points
from gradekit.reports.writers import rounded

PARTLY = "right given your earlier answers in part ({share:.0%} of the entries follow from your earlier answers)"



def student_words(q: QuantityResult) -> str:
    """A quantity's result as a student reads it on Gradescope, from its fields: right, right given
    your earlier answers, wrong with the mistake named, or else the report's own words (no answer,
    why it could not be read, why a right answer earns nothing)."""
    if q.status == "correct":
        return "right"
    if q.status == "follow-through":
        if q.rule == "partial_follow_through":
            return PARTLY.format(share=q.follow)
        return "right given your earlier answers"
    if q.status == "invalid":
        return f"could not be read: {q.feedback}"
    if q.status == "incorrect" and q.mistake:
        return f"wrong: {q.mistake}" + (f" ({q.wrong} of {q.entries} entries wrong)" if q.entries > 1 else "")
    return q.feedback  # "no answer (expected 2x3)", "wrong", "3 of 4 entries wrong", ...


def gradescope_json(report: Report) -> str:
    """Gradescope's autograder results.json for one submission: its score and one test per asked quantity.

    One file only: results.json describes a single Gradescope submission, so a batch's scores
    must never be added up into it (the CLI refuses more than one file for this format).
    """
    tests = []
    if report.graded:
        output = f"{fmt_points(report.points)} / {fmt_points(report.possible)} points"
        for p in report.problems:
            for q in p.quantities:
                tests.append({"name": f"{p.id}: {q.name}", "score": rounded(q.points),
                              "max_score": rounded(q.possible),
                              "status": "passed" if q.passed else "failed",
                              "output": student_words(q), "visibility": "visible"})
    else:
        output = f"could not be graded: {report.error}"
    doc = {"score": rounded(report.points if report.graded else 0.0), "output": output, "visibility": "visible",
           "stdout_visibility": "hidden", "tests": tests}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
