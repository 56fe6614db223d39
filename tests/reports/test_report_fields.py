"""Report writers render a result's fields, never its feedback words: rewording the feedback changes
the text and JSON reports (which show it) and nothing in the CSV gradebook, its item analysis, or
the verdicts and named mistakes of Gradescope's results.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradekit.grading import results
from gradekit.grading.grade import grade_submission
from gradekit.grading.results import ProblemResult, QuantityResult, Report
from gradekit.reports import writers
from gradekit.reports.gradescope import gradescope_json
from grading_helpers import filled, key_for, student_values, submission, with_answers


@pytest.fixture(scope="module")
def reports() -> list[Report]:
    """Three files of one sheet: right; a named mistake carried forward (follow-through) with a
    missing and an unreadable answer elsewhere; answers that earn nothing by rules 2b and 6."""
    key = key_for("backprop-basics", 4)
    right = filled(key)
    right["student"]["id"] = "ann"
    values = student_values(key, "relu-softmax-rows", {"dZ2": lambda v: v["A2"] - np.eye(3)[v["Y"].astype(int)]})
    mistaken = with_answers(key, "relu-softmax-rows", values)
    mistaken["student"]["id"] = "bob"
    mistaken["answers"]["sigmoid-mse-single"]["loss"] = None
    mistaken["answers"]["sigmoid-mse-single"]["Z1"] = "0.5"
    trace = key.problem("relu-softmax-rows").instance.trace
    values = student_values(key, "relu-softmax-rows", {"Z1": lambda v: 100 * (v["X"] @ v["W1"] + v["b1"]),
                                                       "A1": lambda v: trace["A1"] + 0.5})
    guessed = with_answers(key, "relu-softmax-rows", values)
    guessed["student"]["id"] = "cy"
    return [grade_submission(submission(doc), key) for doc in (right, mistaken, guessed)]


def _outputs(reports: list[Report]) -> dict[str, str]:
    return {"csv": writers.gradebook_csv(reports), "items": writers.item_analysis_csv(reports),
            "json": writers.json_text(reports), **{f"gradescope-{r.student_id}": gradescope_json(r)
                                                   for r in reports}}


def _verdicts(gradescope: str) -> list[tuple]:
    """Each Gradescope test's score and status, and its words unless they are the report's feedback."""
    return [(t["name"], t["score"], t["status"], t["output"] if t["output"].startswith(("right", "wrong:")) else "")
            for t in json.loads(gradescope)["tests"]]


def test_rewording_the_feedback_changes_no_gradebook_and_no_gradescope_verdict(reports, monkeypatch):
    before = _outputs(reports)
    rules = {q.rule for r in reports for p in r.problems for q in p.quantities}
    assert {"right", "follow_through", "named_mistake", "missing", "invalid", "not_credible"} <= rules
    monkeypatch.setattr(results, "feedback_text", lambda q: f"REWORDED {q.rule}: {q.wrong} of {q.entries}")
    after = _outputs(reports)
    assert after["json"] != before["json"] and "REWORDED follow_through" in after["json"]  # the words did change
    assert after["csv"] == before["csv"] and after["items"] == before["items"]
    for r in reports:
        name = f"gradescope-{r.student_id}"
        assert _verdicts(after[name]) == _verdicts(before[name])
        assert json.loads(after[name])["score"] == json.loads(before[name])["score"]
    bob = {t["name"]: t for t in json.loads(after["gradescope-bob"])["tests"]}
    assert bob["relu-softmax-rows: dW2"]["output"] == "right given your earlier answers"
    assert bob["relu-softmax-rows: dZ2"]["output"].startswith("wrong: off by a factor of N = 4")
    assert bob["relu-softmax-rows: dZ2"]["output"].endswith("(12 of 12 entries wrong)")


def _one(q: QuantityResult) -> dict:
    report = Report("f.json", "s1", problems=(ProblemResult("p", "P", (q,)),))
    return json.loads(gradescope_json(report))["tests"][0]


@pytest.mark.parametrize("q, status, words", [
    (QuantityResult("A1", "follow-through", 0.75, 1.0, "partial_follow_through", follow=0.75, wrong=4, entries=4),
     "passed", "right given your earlier answers in part (75% of the entries follow from your earlier answers)"),
    (QuantityResult("A1", "follow-through", 1.0, 1.0, "follow_through", follow=1.0, wrong=4, entries=4),
     "passed", "right given your earlier answers"),
    (QuantityResult("dW1", "incorrect", 0.0, 2.0, "named_mistake", wrong=3, entries=4, mistake_ids=("transposed",),
                    mistake="the matrix is transposed"),
     "failed", "wrong: the matrix is transposed (3 of 4 entries wrong)"),
    (QuantityResult("loss", "incorrect", 0.0, 1.0, "named_mistake", wrong=1, entries=1, mistake_ids=("x",),
                    mistake="off by 2"), "failed", "wrong: off by 2"),
    (QuantityResult("loss", "incorrect", 0.0, 1.0, "slip", wrong=1, entries=1), "failed", "wrong"),
    (QuantityResult("Z1", "missing", 0.0, 1.0, "missing", wrong=6, entries=6, detail="2x3"), "failed",
     "no answer (expected 2x3)"),
    (QuantityResult("Z1", "invalid", 0.0, 1.0, "invalid", wrong=6, entries=6, detail="an empty list"), "failed",
     "could not be read: an empty list"),
    (QuantityResult("db2", "incorrect", 0.0, 1.0, "guessable_without_work", entries=1, detail="your dZ2 is missing"),
     "failed", "right, but it can be guessed without work: your dZ2 is missing"),
])
def test_gradescope_words_come_from_the_fields(q, status, words):
    test = _one(q)
    assert (test["status"], test["output"], test["score"], test["max_score"]) == (status, words, q.points, q.possible)


def test_the_item_analysis_counts_statuses_and_named_mistakes_from_the_fields():
    named = QuantityResult("dW1", "incorrect", 0.0, 1.0, "named_mistake", wrong=2, entries=2, mistake_ids=("t",),
                           mistake="transposed")
    follow = QuantityResult("dW1", "follow-through", 1.0, 1.0, "follow_through", follow=1.0, wrong=2, entries=2)
    reports = [Report(f"{i}.json", f"s{i}", problems=(ProblemResult("p", "P", (q,)),))
               for i, q in enumerate([named, named, follow])]
    rows = writers.item_analysis_csv(reports).splitlines()
    assert rows[1] == "p,dW1,3,0,1,2,0,0,0.0,transposed"
