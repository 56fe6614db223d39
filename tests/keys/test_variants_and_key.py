"""Variant seeds, course secrets, the answer key and the answer template."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from gradekit.util.errors import InputFileError
from gradekit.keys.key import key_document, make_key, template_document, dumps
from gradekit.spec.reader import resolve
from gradekit.sampling.variants import Variant, problem_seed, read_secret, write_secret

SECRET = bytes(range(32))


def test_public_seeds_are_stable_and_distinct():
    s0 = problem_seed("sheet", Variant(seed=0), "p")
    assert s0 == problem_seed("sheet", Variant(seed=0), "p")
    others = {problem_seed("sheet", Variant(seed=1), "p"), problem_seed("sheet", Variant(seed=0), "q"),
              problem_seed("other", Variant(seed=0), "p")}
    assert s0 not in others and len(others) == 3


def test_student_seeds_need_the_secret_and_depend_on_it():
    v = Variant(student="s001")
    with pytest.raises(InputFileError, match="needs the course secret"):
        problem_seed("sheet", v, "p")
    a = problem_seed("sheet", v, "p", SECRET)
    assert a != problem_seed("sheet", v, "p", SECRET[::-1])
    assert a != problem_seed("sheet", Variant(student="s002"), "p", SECRET)
    # Ids cannot collide by moving a separator between fields.
    assert problem_seed("a", Variant(student="b c"), "d", SECRET) != problem_seed("a b", Variant(student="c"), "d", SECRET)


def test_keygen_writes_an_owner_only_secret_and_never_overwrites(tmp_path):
    path = tmp_path / "course.key"
    write_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_secret(path)) == 32
    before = path.read_bytes()
    with pytest.raises(InputFileError, match="refusing to overwrite"):
        write_secret(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content, message", [
    ("not hex at all", "not a course secret"),
    ("abcd", "too short"),
])
def test_bad_secrets_are_refused(tmp_path, content, message):
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message):
        read_secret(path)


def test_key_document_holds_the_trace_values_and_points():
    sheet = resolve("backprop-basics")
    key = make_key(sheet, Variant(seed=7))
    doc = json.loads(dumps(key_document(key)))
    assert doc["format"] == "gradekit-key" and doc["version"] == 1
    assert doc["sheet"] == "backprop-basics" and doc["variant"] == {"seed": 7}
    assert doc["points"] == 100.0
    for pk, pdoc in zip(key.problems, doc["problems"]):
        assert pdoc["id"] == pk.problem.id and pdoc["points"] == 20.0
        assert list(pdoc["quantities"]) == list(pk.problem.asked)
        for q, entry in pdoc["quantities"].items():
            np.testing.assert_allclose(np.array(entry["value"]), pk.instance.trace[q], rtol=1e-11, atol=1e-12)
            assert entry["shape"] == list(np.shape(pk.instance.trace[q]))
        assert sum(e["points"] for e in pdoc["quantities"].values()) == pytest.approx(20.0, abs=1e-4)


def test_template_has_every_asked_quantity_as_null_and_no_answers():
    key = make_key(resolve("relu-softmax-rows"), Variant(seed=3))
    doc = template_document(key)
    assert doc["format"] == "gradekit-submission" and doc["sheet"] == "relu-softmax-rows"
    answers = doc["answers"]["relu-softmax-rows"]
    assert list(answers) == list(key.problems[0].problem.asked)
    assert set(answers.values()) == {None}
    assert doc["shapes"]["relu-softmax-rows"]["dW1"] == [2, 3]
    assert doc["shapes"]["relu-softmax-rows"]["loss"] == []
    assert "value" not in dumps(doc)


def test_student_variant_template_carries_the_student_id():
    key = make_key(resolve("sigmoid-mse-single"), Variant(student="s42"), SECRET)
    doc = template_document(key)
    assert doc["variant"] == {"student": "s42"} and doc["student"]["id"] == "s42"


def test_dumps_is_valid_json_with_one_line_matrices():
    text = dumps({"a": {"m": [[1.0, 2.0], [3.0, 4.0]], "s": None}, "list": [{"x": 1}]})
    assert '"m": [[1.0, 2.0], [3.0, 4.0]]' in text
    assert json.loads(text) == {"a": {"m": [[1.0, 2.0], [3.0, 4.0]], "s": None}, "list": [{"x": 1}]}


@pytest.mark.parametrize("count, total", [(18, 20), (13, 20), (12, 20), (7, 20), (19, 20), (3, 10), (50, 20)])
def test_points_are_whole_or_half_and_add_up_exactly(count, total):
    from gradekit.keys.key import split_points

    points = split_points({f"q{i}": 1.0 for i in range(count)}, total)
    assert sum(points.values()) == total  # exactly, not 19.98
    step = 0.5 if 2 * total >= count else 0.25
    assert all(p > 0 and (p / step).is_integer() for p in points.values())
    assert max(points.values()) - min(points.values()) <= step  # equal weights: shares differ by one step at most


def test_weighted_points_keep_their_proportions():
    from gradekit.keys.key import split_points

    assert split_points({"a": 1, "b": 2, "c": 1}, 20) == {"a": 5.0, "b": 10.0, "c": 5.0}


def test_default_sheet_points_add_up_to_100_in_the_key_and_for_gradescope(tmp_path):
    from click.testing import CliRunner

    from gradekit.cli import main

    key = make_key(resolve("backprop-basics"), Variant(seed=0))
    assert key.total == 100 and all(pk.total == 20 for pk in key.problems)
    assert all((2 * p).is_integer() for pk in key.problems for p in pk.points.values())
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["generate", "-o", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["grade", str(out / "handout" / "submission-template.json"), "--format",
                                       "gradescope"])
    tests = json.loads(result.output)["tests"]
    assert sum(t["max_score"] for t in tests) == 100  # exactly: Gradescope adds them up
