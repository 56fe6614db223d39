"""gradekit export html, without a browser: what the page holds, and what it must never hold.

The page's own behaviour (typing, checks, paste, storage, download) is tested in a real
Chromium in test_html_browser.py; here the data it works from is compared with the grader's.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from html import unescape

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.grading.compare import coerce
from gradekit.grading.diagnose import diagnose
from gradekit.exports import html, mathml
from gradekit.exports.common import VariantKey, mistake_values, public_keys, roster_keys
from gradekit.grading.grade import grade_problem
from gradekit.keys.key import AnswerKey, key_document
from gradekit.spec.roster import Student
from gradekit.spec.reader import builtin_problem_paths, resolve
from gradekit.engine.trace import Trace

SECRET = bytes(range(32))
HOSTILE = Student("x<1>", '<img src=x onerror=alert(1)></script><script>alert("&")</script>')
DATA = re.compile(r'<script type="application/json" id="gradekit-data">(.*?)</script>', re.S)


def page_data(text: str) -> dict:
    return json.loads(DATA.search(text).group(1))


def named_like_the_page(spec: dict, typed: list[float], readings: int) -> str:
    """What the page's script names for typed numbers (page.js `named`), in Python."""
    found = []
    for m in spec["mistakes"]:
        if m["message"] not in found and all(abs(t - v) <= e for t, v, e in zip(typed, m["value"], m["margin"])):
            found.append(m["message"])
    if len(found) <= 1:
        return found[0] if found else ""
    shown = found[:readings]
    return f"{len(shown)} readings of the same numbers: " + "; or: ".join(shown)


@pytest.mark.parametrize("pid", list(builtin_problem_paths()))
def test_each_mistake_typed_on_the_page_is_named_as_the_grader_names_it(pid):
    """Every catalogued mistake, typed as a student writes it (to the sheet's decimals) in the
    answer's grid, is named on the page exactly as gradekit.grading.diagnose names it."""
    pk = public_keys(resolve(pid), [2])[0].key.problems[0]
    trace, decimals = pk.instance.trace, pk.problem.decimals
    checked = 0
    for name in pk.problem.asked:
        spec = next(q for q in html.page_data(public_keys(resolve(pid), [2])[0], True)["problems"][0]["quantities"]
                    if q["name"] == name)
        for m in mistake_values(pk, name):
            typed = np.round(m.value, decimals)
            diagnosis = diagnose(pk.problem, trace, name, typed, pk.allowance(name))
            got = named_like_the_page(spec, typed.ravel().tolist(), 3)
            assert got == (diagnosis.words if diagnosis else ""), (name, m.message)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("pid", list(builtin_problem_paths()))
def test_practice_checks_use_the_graders_margins_exactly(pid):
    """The page's key and margins are the grader's: an answer on either side of a margin is right
    or wrong on the page exactly when `gradekit grade` says correct or not."""
    vk = public_keys(resolve(pid), [5])[0]
    pk = vk.key.problems[0]
    data = html.page_data(vk, practice=True)["problems"][0]["quantities"]
    doc = key_document(vk.key)["problems"][0]["quantities"]
    for spec in data:
        name = spec["name"]
        assert spec["shape"] == doc[name]["shape"]
        assert np.allclose(spec["key"], np.ravel(doc[name]["value"]), rtol=1e-11, atol=0)
        assert spec["margin"] == pytest.approx(np.ravel(doc[name]["margin"]).tolist(), rel=1e-11)
        key, margin = np.array(spec["key"]), np.array(spec["margin"])
        for factor, right in ((0.999, True), (1.001, False)):
            typed = key + factor * margin
            answers = {q: np.asarray(pk.instance.trace[q]).tolist() for q in pk.problem.asked}
            answers[name] = typed.reshape(np.shape(pk.instance.trace[name])).tolist()
            graded = next(r for r in grade_problem(pk, answers).quantities if r.name == name)
            on_page = bool(np.all(np.abs(typed - key) <= margin))
            assert on_page is right and (graded.status == "correct") is right, (name, factor, graded.feedback)


def test_hand_in_page_holds_no_answers_mistakes_margins_or_solutions():
    vk = roster_keys(resolve("backprop-basics"), [Student("s1", "Ada")], SECRET)[0]
    text = html.page(vk)
    data = page_data(text)
    assert data["mode"] == "handin"
    for q in (q for p in data["problems"] for q in p["quantities"]):
        assert set(q) == {"name", "shape", "points", "earlier"}
    body = re.sub(r"<(style|script)>.*?</\1>", "", text, flags=re.S)  # the page's own code is the same in both modes
    assert 'class="worked"' not in body and "Worked solution" not in body and "Check" not in body
    # The page is made from the given values alone: with every computed value and margin of the
    # key changed, it is the same page, byte for byte.
    assert html.page(VariantKey(with_other_answers(vk.key), vk.student)) == text


def with_other_answers(key: AnswerKey) -> AnswerKey:
    """The key with every computed value (answers and intermediates) and margin changed."""
    problems = []
    for pk in key.problems:
        trace, given = pk.instance.trace, set(pk.problem.arch.given_names())
        values = {n: (v if n in given else np.asarray(v) * 3 + 7) for n, v in trace.rows.items()}
        instance = dataclasses.replace(pk.instance, trace=Trace(trace.layout, trace.steps, values))
        problems.append(dataclasses.replace(pk, instance=instance, allow={q: a * 5 for q, a in pk.allow.items()}))
    return dataclasses.replace(key, problems=tuple(problems))


def test_practice_page_says_it_holds_the_answers_and_that_follow_through_is_gradekits():
    text = html.page(public_keys(resolve("relu-softmax-rows"), [0])[0])
    assert "Practice page: it contains the answers." in text
    assert "Follow-through is not applied on this page" in text
    assert text.count('<details class="worked">') == len(resolve("relu-softmax-rows").entries[0].problem.asked)


def test_untrusted_names_are_escaped_in_the_markup_and_in_the_data():
    vk = roster_keys(resolve("relu-softmax-rows"), [HOSTILE], SECRET)[0]
    text = html.page(vk)
    assert "<img" not in text and 'alert("&")' not in text
    assert text.count("<script") == 2  # the data and the page's own script, nothing else
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;" in text
    assert page_data(text)["template"]["student"] == {"id": HOSTILE.id, "name": HOSTILE.name}


def test_the_content_policy_allows_exactly_the_inline_script_and_style_and_no_request():
    text = html.page(public_keys(resolve("relu-softmax-rows"), [0])[0])
    policy = unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text).group(1))
    script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    digest = lambda s: base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()  # noqa: E731
    assert policy.startswith("default-src 'none'; ")
    assert f"script-src 'sha256-{digest(script)}'" in policy and f"style-src 'sha256-{digest(style)}'" in policy
    # Nothing in the markup that could load: no src, href or action, no link, no url(), no address
    # but the SVG namespace (the script only makes the data: link of the download).
    markup = re.sub(r"<(style|script)>.*?</\1>", "", text, flags=re.S)
    assert not re.search(r"\b(src|href|action)\s*=", markup)
    assert "url(" not in text and "@import" not in text and "<link" not in text
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) == {"http://www.w3.org/2000/svg"}


def test_every_formula_of_every_builtin_problem_becomes_mathml():
    """No formula falls back to its LaTeX source, and no LaTeX command is left in the math."""
    for pid in builtin_problem_paths():
        text = html.page(public_keys(resolve(pid), [1])[0])
        assert 'class="tex"' not in text, pid
        for body in re.findall(r"<math\b.*?</math>", text, re.S):
            assert "\\" not in re.sub(r"<[^>]+>", "", body), (pid, body[:300])


def test_mathml_keeps_text_as_text_and_falls_back_to_the_source():
    assert "<script" not in mathml.math(r"\text{<script>alert(1)</script>}")
    assert mathml.math(r"\text{a & b <c>}") == r'<code class="tex">\text{a &amp; b &lt;c&gt;}</code>'
    assert mathml.math(r"\frac{1}{") == r'<code class="tex">\frac{1}{</code>'
    table = mathml.math(r"\begin{aligned}a &= b + c \\ &\quad + d \\ &= 1\end{aligned}")
    assert table.startswith('<table class="aligned"') and table.count("<tr>") == 3
    assert "&amp;" not in table and "<mi>&" not in table
    assert "<msub><mtext>arg\xa0max</mtext>" in mathml.math(r"\arg\max_{k} x")


def test_grids_are_shaped_like_each_answer():
    vk = public_keys(resolve("backprop-basics"), [3])[0]
    text = html.page(vk)
    for pk in vk.key.problems:
        for name in pk.problem.asked:
            block = re.search(rf'id="q-{pk.problem.id}-{name}".*?</table>', text, re.S).group(0)
            rows = block.count("<tr>")
            cells = block.count('class="cell"')
            shape = np.shape(pk.instance.trace[name])
            assert cells == int(np.prod(shape)) and rows == (shape[0] if len(shape) == 2 else 1), (pk.problem.id, name)


def test_same_variant_gives_a_byte_identical_page():
    vk = public_keys(resolve("tanh-softmax-columns"), [9])[0]
    assert html.page(vk) == html.page(public_keys(resolve("tanh-softmax-columns"), [9])[0])


def test_cli_writes_a_practice_page_or_one_hand_in_page_per_student(tmp_path):
    out = tmp_path / "pages"
    result = CliRunner().invoke(main, ["export", "html", "relu-softmax-rows", "--seed", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"relu-softmax-rows -> {out}/: 1 practice page(s), with the answers"
    assert [p.name for p in out.iterdir()] == ["relu-softmax-rows-seed-4.html"]
    roster, key = tmp_path / "roster.csv", tmp_path / "course.key"
    roster.write_text("id,name\na1,Ada\nB 2,Bob\n", encoding="utf-8")
    assert CliRunner().invoke(main, ["keygen", str(key)]).exit_code == 0
    result = CliRunner().invoke(main, ["export", "html", "relu-softmax-rows", "--roster", str(roster),
                                       "--secret-file", str(key), "-o", str(tmp_path / "class")])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "class" / "students.csv").read_text(encoding="utf-8").splitlines()
    assert index[:2] == ["id,name,file", "a1,Ada,relu-softmax-rows-a1.html"]
    assert re.fullmatch(r"B 2,Bob,relu-softmax-rows-B_2-[0-9a-f]{8}\.html", index[2])
    assert sorted(p.name for p in (tmp_path / "class").iterdir()) == sorted(["students.csv", *(
        line.split(",")[2] for line in index[1:])])
    assert page_data((tmp_path / "class" / "relu-softmax-rows-a1.html").read_text(encoding="utf-8"))["mode"] == "handin"


def test_cli_refuses_a_roster_without_the_secret(tmp_path):
    result = CliRunner().invoke(main, ["export", "html", "--roster", str(tmp_path / "r.csv")])
    assert result.exit_code == 2 and "--roster needs --secret-file" in result.output


def test_invalid_answer_coercion_agrees_with_the_page_on_shapes():
    """The page writes each answer in the template's shape; the grader reads that shape as it is."""
    vk = public_keys(resolve("backprop-basics"), [0])[0]
    for p in html.page_data(vk, True)["problems"]:
        for q in p["quantities"]:
            shape = tuple(q["shape"])
            values = np.array(q["key"]).reshape(shape).tolist() if shape else q["key"][0]
            assert coerce(values, shape).value is not None
