"""Build submissions from keys, the way students fill the answer template."""

from __future__ import annotations

import json
from typing import Callable

import numpy as np
from click.testing import CliRunner

from gradekit.engine.trace import evaluate_in_layout
from gradekit.cli import main

from gradekit.keys.key import AnswerKey, key_document, make_key, template_document
from gradekit.spec.reader import resolve
from gradekit.grading.submission import Submission, from_document
from gradekit.sampling.variants import Variant


def key_for(ref: str, seed: int = 0) -> AnswerKey:
    return make_key(resolve(ref), Variant(seed=seed))


def filled(key: AnswerKey) -> dict:
    """The answer template filled with the key's own values (a perfect submission)."""
    doc = template_document(key)
    for p in key_document(key)["problems"]:
        for q, entry in p["quantities"].items():
            doc["answers"][p["id"]][q] = entry["value"]
    return doc


def submission(doc: dict) -> Submission:
    return from_document(json.loads(json.dumps(doc)), "test.json")


def student_values(key: AnswerKey, pid: str, changes: dict[str, Callable[[dict], np.ndarray]]) -> dict[str, np.ndarray]:
    """Every step redone in order from the student's own values, with some steps done wrong.

    changes maps a quantity to a function of the values so far that returns the student's
    (wrong) value, so that later steps follow from it as they would on paper.
    """
    trace = key.problem(pid).instance.trace
    values: dict[str, np.ndarray] = {}
    for step in trace.steps:
        if step.name in changes:
            values[step.name] = np.asarray(changes[step.name](values), dtype=float)
        elif step.compute is None:
            values[step.name] = trace[step.name]
        else:
            try:
                values[step.name] = evaluate_in_layout(step, values, trace.layout)
            except ValueError:  # an earlier answer of the wrong shape: the student stops there
                values[step.name] = trace[step.name]
    return values


def with_answers(key: AnswerKey, pid: str, values: dict[str, np.ndarray]) -> dict:
    doc = filled(key)
    for q in doc["answers"][pid]:
        doc["answers"][pid][q] = np.asarray(values[q]).tolist()
    return doc


def run_grade(paths, fmt="json", extra=()):
    result = CliRunner().invoke(main, ["grade", *map(str, paths), "--format", fmt, *extra])
    if fmt == "json":
        return result, json.loads(result.stdout)
    return result, result.stdout
