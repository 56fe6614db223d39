"""Reports packed for the trip between processes come back equal, and all-right problems shared."""

from __future__ import annotations

import pickle

import numpy as np

from gradekit.grading import transport
from gradekit.grading.grade import grade_submission
from gradekit.grading.results import ProblemResult, QuantityResult, Report
from grading_helpers import filled, key_for, student_values, submission, with_answers


def _reports() -> list[Report]:
    key = key_for("backprop-basics", 2)
    right = filled(key)
    # dZ2 without the 1/N of the mean: a named mistake, and follow-through after it
    values = student_values(key, "relu-softmax-rows", {"dZ2": lambda v: v["A2"] - np.eye(3)[v["Y"].astype(int)]})
    wrong = with_answers(key, "relu-softmax-rows", values)
    other = wrong["answers"]["sigmoid-mse-single"]
    other["Z1"] = "0.5"  # unreadable
    other["loss"] = None
    return [grade_submission(submission(right), key), grade_submission(submission(wrong), key),
            Report("broken.json", "s1", "Ann", error="invalid JSON")]


def test_packed_reports_pickle_and_unpack_equal():
    reports = _reports()
    packed = pickle.loads(pickle.dumps(transport.pack(reports)))
    assert transport.unpack(packed) == reports
    statuses = {q.status for p in reports[1].problems for q in p.quantities}
    assert statuses == {"correct", "follow-through", "incorrect", "missing", "invalid"}  # every kind travelled


def test_a_problem_right_throughout_unpacks_to_shared_results():
    first, second = (transport.unpack(transport.pack([r]))[0] for r in _reports()[:1] * 2)
    assert first.problems[0].quantities is second.problems[0].quantities


def test_a_hand_made_result_round_trips_every_field():
    q = QuantityResult("dW1", "incorrect", 0.5, 2.0, "not_credible", 0.0, 3, 6, ("transposed", "x"), "words",
                       "your Z1 is wrong")
    p = ProblemResult("p", "P", (q,), ("a note",))
    report = Report("f.json", "id", "name", "sheet", "seed 1", (p,), ("n",), None, 12.5, "file")
    assert transport.unpack(pickle.loads(pickle.dumps(transport.pack([report])))) == [report]


def test_a_chunk_of_right_answers_sends_their_columns_once():
    right = _reports()[0]
    one, ten = (len(pickle.dumps(transport.pack([right] * n))) for n in (1, 10))
    assert ten < 2 * one  # nine more reports cost less than the first: references to the same columns
    unpacked = transport.unpack(pickle.loads(pickle.dumps(transport.pack([right] * 10))))
    assert unpacked == [right] * 10
    assert len({id(r.problems[0].quantities) for r in unpacked}) == 1
