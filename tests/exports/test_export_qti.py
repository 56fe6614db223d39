"""gradekit export qti: a QTI 1.2 zip with one numerical question per entry, tiny values asked scaled."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.exports import qti
from gradekit.exports.common import Entry, entries, public_keys, roster_keys
from gradekit.spec.roster import Student
from gradekit.spec.reader import resolve

SECRET = bytes(range(32))
NS = {"q": qti.QTI_NS, "m": qti.MANIFEST_NS, "c": qti.CANVAS_NS}


def unpack(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def fields(item: ET.Element) -> dict[str, str]:
    return {f.findtext("q:fieldlabel", namespaces=NS): f.findtext("q:fieldentry", namespaces=NS)
            for f in item.iterfind("q:itemmetadata/q:qtimetadata/q:qtimetadatafield", NS)}


def answer(item: ET.Element) -> tuple[float, float, float]:
    """(exact, low, high) of a numerical item's one right answer."""
    condition = item.find("q:resprocessing/q:respcondition/q:conditionvar/q:or", NS)
    assert item.find("q:resprocessing/q:respcondition/q:setvar", NS).text == "100"
    return (float(condition.findtext("q:varequal", namespaces=NS)),
            float(condition.findtext("q:and/q:vargte", namespaces=NS)),
            float(condition.findtext("q:and/q:varlte", namespaces=NS)))


def assessments(files: dict[str, bytes]) -> list[tuple[ET.Element, ET.Element]]:
    """(assessment XML, Canvas settings) of each quiz, found through the manifest as Canvas finds them."""
    manifest = ET.fromstring(files["imsmanifest.xml"])
    out = []
    for resource in manifest.iterfind("m:resources/m:resource[@type='imsqti_xmlv1p2']", NS):
        href = resource.find("m:file", NS).get("href")
        meta_id = resource.find("m:dependency", NS).get("identifierref")
        meta = manifest.find(f"m:resources/m:resource[@identifier='{meta_id}']", NS)
        out.append((ET.fromstring(files[href]), ET.fromstring(files[meta.find("m:file", NS).get("href")])))
    return out


def test_package_has_a_manifest_and_one_numerical_question_per_entry_with_the_graders_margin():
    vk = public_keys(resolve("backprop-basics"), [0])[0]
    files = unpack(qti.package([vk]))
    [(test, meta)] = assessments(files)
    assert set(files) == {"imsmanifest.xml", *(f"{a}/{n}" for a in [test.find("q:assessment", NS).get("ident")]
                                               for n in (f"{a}.xml", "assessment_meta.xml"))}
    items = test.findall("q:assessment/q:section/q:item", NS)
    kinds = [fields(i)["question_type"] for i in items]
    assert kinds.count("text_only_question") == 5
    numerical = [i for i in items if fields(i)["question_type"] == "numerical_question"]
    expected = [(pk, q, e) for pk in vk.key.problems for q in pk.problem.asked for e in entries(pk, q)]
    assert len(numerical) == len(expected) == sum(
        int(np.prod(pk.instance.trace[q].shape)) for pk in vk.key.problems for q in pk.problem.asked)
    total = 0.0
    for item, (pk, q, e) in zip(numerical, expected):
        exact, low, high = answer(item)
        key = float(np.asarray(pk.instance.trace[q]).ravel()[
            np.ravel_multi_index(e.index, pk.instance.trace[q].shape) if e.index else 0])
        factor = 10.0 ** qti.scale_exponent(entries(pk, q))  # margins finer than Canvas keeps: asked scaled
        assert exact / factor == pytest.approx(key, rel=1e-11, abs=1e-15)
        assert (high - low) / 2 / factor == pytest.approx(float(pk.allowance(q)[e.index]), abs=1e-10)  # 12 digits
        assert (high + low) / 2 / factor == pytest.approx(key, rel=1e-9, abs=1e-12)
        points = float(fields(item)["points_possible"])
        assert points == pytest.approx(pk.points[q] / len(entries(pk, q)), abs=1e-6)
        total += points
    assert total == pytest.approx(vk.key.total, abs=1e-3)
    assert meta.findtext("c:points_possible", namespaces=NS) == "100"
    assert meta.findtext("c:only_visible_to_overrides", namespaces=NS) == "false"
    first = numerical[0].find("q:presentation/q:material/q:mattext", NS).text
    assert first == r"<p>Problem 1 (a): \(Z^{[1]}\), a 1×2 matrix: the entry in row 1, column 1.</p>"


@pytest.mark.parametrize("values, margins, k", [
    ([0.5, -1.25], [0.006, 0.0135], 0),  # the usual: 4 decimals are plenty
    ([0.1234], [0.0001], 0),  # one unit in the 4th decimal, the least margin the grader gives
    ([0.0003], [0.00005], 1),  # margin too fine for 4 decimals
    ([0.0003], [0.0000999], 1),  # just under one unit: too fine
    ([2.4e-6, -7.1e-6], [1e-7, 1e-7], 3),  # tiny gradients with a tiny tolerance
    ([0.00012], [0.0001], 1),  # the right answers would go below 1e-4 and become 0
    ([0.00005], [0.001], 0),  # 0 is itself within the margin: rounding to 0 is fine
])
def test_scale_exponent_is_the_smallest_that_survives_canvas_rounding(values, margins, k):
    items = [Entry((i,), v, m) for i, (v, m) in enumerate(zip(values, margins))]
    assert qti.scale_exponent(items) == k


def test_tiny_gradients_are_asked_scaled_and_say_so(write_toml):
    path = write_toml("""
        id = "tiny-gradients"
        title = "Tiny gradients"
        layout = "rows"
        inputs = 2
        samples = 2
        decimals = 7
        asked = ["Z1", "loss", "dW1"]
        [[layers]]
        units = 1
        activation = "identity"
        [loss]
        kind = "mse"
        [sampling]
        X = { min = -0.05, max = 0.05, step = 0.01, nonzero = true }
        W = { min = -0.05, max = 0.05, step = 0.01, nonzero = true }
        b = { min = 0.0, max = 0.0, step = 0.1 }
        Y = { min = 0.0, max = 0.0, step = 0.1 }
        [grading]
        atol = 1e-8
        rtol = 1e-3
    """)
    vk = public_keys(resolve(str(path)), [0])[0]
    pk = vk.key.problems[0]
    assert np.max(np.abs(pk.instance.trace["dW1"])) < 1e-3  # the case this test is about
    [(test, _)] = assessments(unpack(qti.package([vk])))
    items = [i for i in test.findall("q:assessment/q:section/q:item", NS)
             if fields(i)["question_type"] == "numerical_question"]
    expected = [(q, e) for q in pk.problem.asked for e in entries(pk, q)]
    scales = {q: qti.scale_exponent(entries(pk, q)) for q in pk.problem.asked}
    assert scales["dW1"] >= 3
    for item, (q, e) in zip(items, expected):
        text = item.find("q:presentation/q:material/q:mattext", NS).text
        exact, low, high = answer(item)
        k = scales[q]
        if k:
            assert f"multiplied by \\(10^{{{k}}}\\)</strong>" in text
        else:
            assert "multiplied" not in text
        factor = 10.0**k
        assert exact / factor == pytest.approx(e.value, rel=1e-10)  # the same right answers, scaled
        assert (high - low) / 2 / factor == pytest.approx(e.margin, rel=1e-9)
        assert (high - low) / 2 >= qti.MIN_SCALED_MARGIN  # what Canvas's 4 decimals can resolve
        assert low <= 0 <= high or min(abs(low), abs(high)) >= qti.CANVAS_DECIMALS_FLOOR


def test_roster_gives_one_quiz_per_student_visible_only_to_whom_it_is_assigned():
    students = [Student("s1", "Ada"), Student("s2", "Grace")]
    files = unpack(qti.package(roster_keys(resolve("relu-softmax-rows"), students, SECRET)))
    quizzes = assessments(files)
    assert [t.find("q:assessment", NS).get("title") for t, _ in quizzes] == [
        "ReLU hidden layer, softmax cross-entropy — Ada (s1)", "ReLU hidden layer, softmax cross-entropy — Grace (s2)"]
    assert [m.findtext("c:only_visible_to_overrides", namespaces=NS) for _, m in quizzes] == ["true", "true"]
    values = [[answer(i)[0] for i in t.findall("q:assessment/q:section/q:item", NS)
               if fields(i)["question_type"] == "numerical_question"] for t, _ in quizzes]
    assert len(values[0]) == len(values[1]) == 4 * 12 + 1 + 12 + 9 + 3 + 12 + 12 + 6 + 3  # every entry
    assert values[0] != values[1]
    idents = [i.get("ident") for t, _ in quizzes for i in t.iter(f"{{{qti.QTI_NS}}}item")]
    assert len(idents) == len(set(idents))  # every question has its own id across quizzes


def test_same_variants_give_a_byte_identical_package():
    assert qti.package(public_keys(resolve("backprop-basics"), [5])) == \
        qti.package(public_keys(resolve("backprop-basics"), [5]))


def test_cli_writes_the_zip(tmp_path):
    out = tmp_path / "canvas.zip"
    result = CliRunner().invoke(main, ["export", "qti", "relu-linear-sgd-columns", "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}: 1 quiz(zes) of relu-linear-sgd-columns"
    [(test, meta)] = assessments(unpack(out.read_bytes()))
    assert meta.findtext("c:title", namespaces=NS) == "ReLU network without biases, linear output, one SGD step — seed 2"
