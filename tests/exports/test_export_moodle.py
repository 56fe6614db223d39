"""gradekit export moodle: Moodle XML whose Cloze fields hold the key values with the grader's margins.

The Cloze fields are read back with a port of Moodle's own parser (question/type/multianswer:
ANSWER_REGEX and NUMBER_REGEX), so a field Moodle would misread fails here.
"""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.exports import moodle
from gradekit.exports.common import entries, plain_number, public_keys, roster_keys
from gradekit.spec.roster import Student
from gradekit.spec.reader import resolve

SECRET = bytes(range(32))

# Moodle's regexes (PHP PCRE); its one lookbehind with alternatives of different widths is
# written as three lookbehinds, which Python requires and which match the same texts.
_FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
_ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
_FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
_ALTERNATIVE = rf"({_FRACTION})?({_ANSWER})(#({_FEEDBACK}))?"
_TYPES = (r"(NUMERICAL|NM)|(MULTICHOICE|MC)|(MULTICHOICE_V|MCV)|(MULTICHOICE_H|MCH)|(SHORTANSWER|SA|MW)|"
          r"(SHORTANSWER_C|SAC|MWC)|(MULTICHOICE_S|MCS)|(MULTICHOICE_VS|MCVS)|(MULTICHOICE_HS|MCHS)|"
          r"(MULTIRESPONSE|MR)|(MULTIRESPONSE_H|MRH)|(MULTIRESPONSE_S|MRS)|(MULTIRESPONSE_HS|MRHS)")
CLOZE = re.compile(rf"\{{([0-9]*):({_TYPES}):({_ALTERNATIVE}(~{_ALTERNATIVE})*)\}}", re.S)
NUMBER = r"-?(([0-9]+[.,]?[0-9]*|[.,][0-9]+)([eE][-+]?[0-9]+)?)"
NUMERICAL_ALTERNATIVE = re.compile(rf"^({NUMBER})(:{NUMBER})?$")


def fields(question_text: str) -> list[tuple[int, float, float]]:
    """(weight, value, tolerance) of every NUMERICAL field, parsed the way Moodle parses them."""
    out = []
    for m in CLOZE.finditer(question_text):
        assert m[3] == "NUMERICAL"
        alternative = re.match(_ALTERNATIVE, m[16], re.S)
        assert alternative[1] == "=" and alternative[5] is None  # one right answer, no feedback
        number = NUMERICAL_ALTERNATIVE.match(alternative[3])
        assert number is not None, alternative[3]
        assert "e" not in alternative[3].lower()  # plain decimals only
        out.append((int(m[1]), float(number[1]), float(number[6])))
    return out


def parse(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == "quiz"
    return root


def test_one_cloze_question_per_problem_with_every_entry_and_its_margin():
    vk = public_keys(resolve("backprop-basics"), [0])[0]
    root = parse(moodle.document([vk]))
    assert [q.get("type") for q in root] == ["category", "cloze"] * 5
    for cat, q, pk in zip(root[0::2], root[1::2], vk.key.problems):
        assert cat.findtext("category/text") == f"$course$/gradekit/backprop-basics/{pk.problem.id}"
        assert q.findtext("name/text") == f"backprop-basics · {pk.problem.id} · seed 0"
        got = fields(q.findtext("questiontext/text"))
        expected = [(e, name) for name in pk.problem.asked for e in entries(pk, name)]
        assert len(got) == len(expected) == sum(int(np.prod(pk.instance.trace[n].shape)) for n in pk.problem.asked)
        for (weight, value, tol), (entry, name) in zip(got, expected):
            key = float(np.asarray(pk.instance.trace[name]).ravel()[
                np.ravel_multi_index(entry.index, pk.instance.trace[name].shape) if entry.index else 0])
            assert value == pytest.approx(key, rel=1e-11, abs=1e-15)
            assert tol == pytest.approx(float(pk.allowance(name)[entry.index]), rel=1e-9)
            assert weight >= 1


def _question_weights(question: ET.Element, pk) -> dict[str, list[int]]:
    """A question's field weights by quantity, in the order the fields appear (the grader's order)."""
    got = [w for w, _, _ in fields(question.findtext("questiontext/text"))]
    out, at = {}, 0
    for name in pk.problem.asked:
        n = int(np.prod(pk.instance.trace[name].shape))
        out[name], at = got[at:at + n], at + n
    assert at == len(got)
    return out


def test_a_pool_has_one_category_per_problem_and_marks_proportional_to_the_sheets_points():
    """Moodle takes a Cloze question's mark from the sum of its weights: every question's sum is one
    multiple (24 per point on the default sheet) of its problem's points, and inside a problem each
    quantity weighs its points, shared equally by its entries."""
    sheet = resolve("backprop-basics")
    pool = public_keys(sheet, [5, 6, 7])
    root = parse(moodle.document(pool, pool=True))
    assert [q.get("type") for q in root] == (["category"] + ["cloze"] * 3) * 5
    for p, pk0 in enumerate(pool[0].key.problems):
        block = root[4 * p:4 * p + 4]
        assert block[0].findtext("category/text") == f"$course$/gradekit/backprop-basics/{pk0.problem.id}"
        for i, (q, vk) in enumerate(zip(block[1:], pool)):
            pk = vk.key.problems[p]
            assert q.findtext("name/text") == f"backprop-basics · {pk.problem.id} · seed {5 + i}"
            text = q.findtext("questiontext/text")
            assert f"Variant {i + 1} of 3" in text and "seed" not in text  # a public seed would give the key away
            weights = _question_weights(q, pk)
            assert sum(map(sum, weights.values())) == 24 * pk.total == 480
            for name, w in weights.items():
                assert set(w) == {w[0]} and sum(w) == 24 * pk.points[name]
            values = [v for _, v, _ in fields(text)]
            margins = [t for _, _, t in fields(text)]
            want = [e for name in pk.problem.asked for e in entries(pk, name)]
            assert values == pytest.approx([e.value for e in want], rel=1e-11, abs=1e-15)
            assert margins == pytest.approx([float(pk.allowance(n)[e.index]) for n in pk.problem.asked
                                             for e in entries(pk, n)], rel=1e-9)


def test_sheet_weights_of_the_built_in_sheet():
    weights = moodle.sheet_weights(public_keys(resolve("backprop-basics"), [0])[0].key)
    assert weights.per_point == 24 and weights.exact
    assert {pid: weights.total(pid) for pid in weights.fields} == dict.fromkeys(weights.fields, 480)
    bn = weights.fields["relu-batchnorm-softmax-rows"]  # 1 point over 6, 2 and 1 entries
    assert bn["Z1"] == (4,) * 6 and bn["mu2"] == (12, 12) and bn["loss"] == (24,)


def test_weights_follow_per_quantity_points(write_toml):
    path = write_toml("""
        id = "weighted"
        title = "Weighted"
        layout = "rows"
        inputs = 2
        samples = 3
        asked = ["Z1", "loss", "dW1"]
        [[layers]]
        units = 2
        activation = "identity"
        [loss]
        kind = "mse"
        [grading]
        points = 1
        [grading.quantities.dW1]
        points = 2.5
    """)
    weights = moodle.sheet_weights(public_keys(resolve(str(path)), [0])[0].key)
    # Z1: 1 point over 6 entries, loss: 1 over 1, dW1: 5/2 over 4; shares 1/6, 1, 5/8, times lcm 24.
    assert weights.fields["weighted"] == {"Z1": (4,) * 6, "loss": (24,), "dW1": (15,) * 4}
    assert weights.total("weighted") == 24 * 4.5


def test_weights_are_rounded_with_exact_totals_when_the_common_multiple_is_too_large():
    key = public_keys(resolve("backprop-basics"), [0])[0].key
    weights = moodle.sheet_weights(key, limit=100)  # the exact multiple, 24, would make marks of 480
    assert not weights.exact and weights.per_point == 5  # marks of 100 at most: 100 / 20 points
    for pk in key.problems:
        assert weights.total(pk.problem.id) == 5 * pk.total == 100
        for name, w in weights.fields[pk.problem.id].items():
            share = 5 * pk.points[name] / len(w)
            assert all(abs(x - share) < 1 for x in w), (name, w, share)


def test_roster_variants_are_separate_questions_in_the_problems_category():
    students = [Student("s1", "Ada"), Student("s2", "")]
    variants = roster_keys(resolve("relu-softmax-rows"), students, SECRET)
    root = parse(moodle.document(variants))
    assert [q.get("type") for q in root] == ["category", "cloze", "cloze"]
    assert root[0].findtext("category/text") == "$course$/gradekit/relu-softmax-rows/relu-softmax-rows"
    names = [q.findtext("name/text") for q in root[1:]]
    assert names == ["relu-softmax-rows · relu-softmax-rows · Ada (s1)", "relu-softmax-rows · relu-softmax-rows · s2"]
    first, second = (fields(q.findtext("questiontext/text")) for q in root[1:])
    assert len(first) == len(second) and first != second  # each student has their own numbers
    assert "Variant: Ada (s1)" in root[1].findtext("questiontext/text")


@pytest.mark.parametrize("hostile", ["{1:NUMERICAL:=1:0}", "{:MCS:a~=b}", "{12:SHORTANSWER_C:=x}", "x{2:MRHS:y}{",
                                     "a}b#c~d\\e{", "</text>]]><x>&amp;", "$\\frac{1}{2}$"])
def test_text_near_the_fields_cannot_open_one(hostile):
    safe = moodle.no_fields(hostile)
    assert not CLOZE.search(safe) and not CLOZE.search(f"{safe}}}")
    assert html.unescape(safe) == html.unescape(hostile)  # the page shows the same characters
    text = f"<p>{safe}</p> {{2:NUMERICAL:=0.5:0.01}} {safe}"
    assert fields(text) == [(2, 0.5, 0.01)]


def test_hostile_names_and_titles_stay_valid_xml(write_toml, tmp_path):
    path = write_toml("""
        id = "hostile"
        title = "A ]]> <script>alert(1)</script> & {1:NUMERICAL:=9:9} title"
        layout = "rows"
        inputs = 2
        samples = 2
        asked = ["loss"]
        [[layers]]
        units = 1
        activation = "identity"
        [loss]
        kind = "mse"
    """)
    variants = roster_keys(resolve(str(path)), [Student("x</name>", "Eve ]]> & <b>")], SECRET)
    root = parse(moodle.document(variants))
    assert root[1].findtext("name/text") == "hostile · hostile · Eve ]]> & <b> (x</name>)"
    text = root[1].findtext("questiontext/text")
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert len(fields(text)) == 1  # the title's fake field is not a field


def test_numbers_are_plain_decimals_with_a_point():
    assert [plain_number(x) for x in (1.2e-05, -0.0, 2.0, 1234567.0, 0.1 + 0.2, -3.5e-9)] == \
        ["0.000012", "0", "2", "1234567", "0.3", "-0.0000000035"]
    assert moodle.numerical(entries(public_keys(resolve("relu-softmax-rows"), [0])[0].key.problems[0], "loss")[0], 3) \
        .startswith("{3:NUMERICAL:=")


@pytest.mark.parametrize("ref", ["backprop-basics", "leaky-relu-mse-rows", "three-layer-rows"])
def test_margin_is_the_graders_own_boundary(ref):
    """An answer with one entry moved by 0.999 of its margin is right for the grader; by 1.001, wrong."""
    from gradekit.grading.grade import grade_problem

    for pk in public_keys(resolve(ref), [4])[0].key.problems:
        for name in pk.problem.asked:
            if name == "pred":
                continue
            for e in entries(pk, name)[:2]:
                for factor, right in ((0.999, True), (-0.999, True), (1.001, False), (-1.001, False)):
                    answers = {q: np.asarray(pk.instance.trace[q], dtype=float).copy() for q in pk.problem.asked}
                    answers[name][e.index] = e.value + factor * e.margin
                    result = grade_problem(pk, {q: v.tolist() for q, v in answers.items()})
                    status = next(q.status for q in result.quantities if q.name == name)
                    assert (status == "correct") is right, (pk.problem.id, name, e, factor, status)


def test_significant_figure_problems_get_half_a_unit_in_the_last_figure(write_toml):
    path = write_toml("""
        id = "sigfigs"
        title = "Significant figures"
        layout = "rows"
        inputs = 2
        samples = 2
        asked = ["Z1"]
        [[layers]]
        units = 2
        activation = "identity"
        [loss]
        kind = "mse"
        [grading]
        sigfigs = 3
    """)
    pk = public_keys(resolve(str(path)), [5])[0].key.problems[0]
    for e in entries(pk, "Z1"):
        expected = 0.5 * 10.0 ** (math.floor(math.log10(abs(e.value))) - 2) if e.value else 1e-3
        assert e.margin == pytest.approx(expected, rel=1e-6)


def test_same_variant_gives_byte_identical_xml():
    vks = public_keys(resolve("backprop-basics"), [2])
    assert moodle.document(vks) == moodle.document(public_keys(resolve("backprop-basics"), [2]))


def test_cli_writes_the_file(tmp_path):
    out = tmp_path / "quiz.xml"
    result = CliRunner().invoke(main, ["export", "moodle", "tanh-softmax-columns", "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"wrote {out}: 1 Cloze question(s), 1 per category "
                                     "$course$/gradekit/tanh-softmax-columns/PROBLEM; field weights 36 per point")
    root = parse(out.read_bytes())
    pk = public_keys(resolve("tanh-softmax-columns"), [3])[0].key.problems[0]
    got = [v for _, v, _ in fields(root[1].findtext("questiontext/text"))]
    want = [e.value for q in pk.problem.asked for e in entries(pk, q)]
    assert got == pytest.approx(want, rel=1e-11, abs=1e-15)


def test_cli_writes_a_pool_of_consecutive_seeds(tmp_path):
    out = tmp_path / "pool.xml"
    result = CliRunner().invoke(main, ["export", "moodle", "--count", "4", "--seed", "100", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "20 Cloze question(s) (seeds 100 to 103), 4 per category" in result.output
    root = parse(out.read_bytes())
    names = [q.findtext("name/text") for q in root if q.get("type") == "cloze"]
    assert names[:4] == [f"backprop-basics · sigmoid-mse-single · seed {s}" for s in range(100, 104)]
    assert moodle.document(public_keys(resolve("backprop-basics"), range(100, 104)), pool=True) == out.read_bytes()


def test_cli_refuses_a_pool_with_a_roster(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada\n")
    key = tmp_path / "course.key"
    key.write_bytes(SECRET)
    result = CliRunner().invoke(main, ["export", "moodle", "--count", "3", "--roster", str(roster),
                                       "--secret-file", str(key), "-o", str(tmp_path / "x.xml")])
    assert result.exit_code == 2 and "--count" in result.output
