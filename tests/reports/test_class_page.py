"""The class page's data against the JSON report and the CSV item analysis of the same class, its
safety (escaping, the JSON block, the Content-Security-Policy), and the feedback pages per student."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from collections import Counter

import pytest
from click.testing import CliRunner

from class_helpers import write_class
from gradekit.cli import main
from gradekit.keys.key import student_keys
from gradekit.reports import class_page, feedback
from gradekit.spec.reader import resolve
from gradekit.spec.roster import folder_name

JSON_BLOCK = re.compile(r'<script type="application/json" id="class-data">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of 40 roster students graded to JSON, CSV (with its item analysis) and the class
    page, with feedback pages: (folder, class data, JSON report, page text)."""
    folder = tmp_path_factory.mktemp("class")
    c = write_class(folder, 40)
    common = [str(c.submissions), "--secret-file", str(c.secret), "--roster", str(c.roster), "--jobs", "1"]
    runner = CliRunner()
    for fmt, out, extra in (("json", "report.json", []), ("csv", "book.csv", []),
                            ("html", "class.html", ["--feedback", str(folder / "fb"), "--feedback-zip"])):
        done = runner.invoke(main, ["grade", *common, "--format", fmt, "-o", str(folder / out), *extra])
        assert done.exit_code == 1, done.output  # some files cannot be graded, on purpose
    text = (folder / "class.html").read_text(encoding="utf-8")
    data = json.loads(JSON_BLOCK.search(text).group(1))
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return folder, data, report, text, c


def test_quantity_counts_match_the_json_report(graded):
    _, data, report, _, _ = graded
    expected: dict[tuple[str, str], Counter] = {}
    for sub in report["submissions"]:
        if sub["graded"]:
            for p in sub["problems"]:
                for q in p["quantities"]:
                    expected.setdefault((p["id"], q["name"]), Counter())[q["status"]] += 1
    got = {(q["problem"], q["name"]): Counter({s: n for s, n in q["counts"].items() if n}) for q in data["quantities"]}
    assert got == expected
    statuses = {s for c in expected.values() for s in c}
    assert {"correct", "follow-through", "incorrect", "missing"} <= statuses  # the class is mixed


def test_quantities_are_in_computing_order(graded):
    from gradekit.engine.build import names_for

    _, data, _, _, _ = graded
    sheet = resolve("backprop-basics")
    for entry in sheet.entries:
        shown = [q["name"] for q in data["quantities"] if q["problem"] == entry.problem.id]
        order = names_for(entry.problem.arch)
        assert shown == sorted(entry.problem.asked, key=order.index)


def test_named_mistakes_per_quantity_match_the_json_report(graded):
    _, data, report, _, _ = graded
    expected: dict[tuple[str, str], Counter] = {}
    for sub in report["submissions"]:
        for p in sub.get("problems", []):
            for q in p["quantities"]:
                if q["mistake"]:
                    expected.setdefault((p["id"], q["name"]), Counter())[q["mistake"]] += 1
    got = {(q["problem"], q["name"]): dict(q["mistakes"]) for q in data["quantities"] if q["mistakes"]}
    assert expected, "the class has named mistakes"
    assert got == {k: dict(c.most_common(5)) for k, c in expected.items()}


def test_histogram_bins_hold_the_counted_totals(graded):
    _, data, report, _, _ = graded
    totals = [s["points"] for s in report["students"] if s["status"] == "graded"]
    h = data["histograms"]["total"]
    edges, counts = h["edges"], h["counts"]
    assert edges[0] == 0 and edges[-1] == report["summary"]["possible"]
    assert sum(counts) == report["summary"]["counted"] == len(totals)
    width = edges[1] - edges[0]
    expected = [0] * len(counts)
    for t in totals:
        expected[min(int(t // width), len(counts) - 1)] += 1
    assert counts == expected
    for p in report["summary"]["problems"]:
        ph = data["histograms"]["problems"][p["id"]]
        assert sum(ph["counts"]) == report["summary"]["counted"]
        assert ph["edges"][-1] == p["possible"]


def test_histogram_edges():
    from gradekit.reports.charts import bins_for, histogram

    assert bins_for(20.0, []) == (0.0, 20.0, 20)
    assert bins_for(100.0, []) == (0.0, 100.0, 20)
    h = histogram([0, 4.99, 5, 19.99, 20, 20], *bins_for(20.0, []))
    assert h.counts[0] == 1 and h.counts[4] == 1 and h.counts[5] == 1 and h.counts[19] == 3
    assert histogram([], 0.0, 1.0, 1).counts == (0,)


def test_items_are_the_csv_item_analysis(graded):
    folder, data, _, _, _ = graded
    with (folder / "book-items.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert [[str(v) for v in row] for row in data["items"]] == rows


def test_students_table_rows_match_the_reports(graded):
    _, data, report, _, c = graded
    files = {s["file"]: s for s in class_page.student_dicts(data) if s["file"]}
    assert len(files) == len(report["submissions"])
    for sub in report["submissions"]:
        row = files[sub["file"]]
        if sub["graded"]:
            assert row["points"] == sub["points"] and row["status"] in ("graded", "duplicate")
        else:
            assert row["status"] == "ungraded" and row["reason"] == sub["error"] and "ungraded" in row["flags"]
    missing = [s for s in class_page.student_dicts(data) if s["status"] == "missing"]
    assert len(missing) == report["summary"]["missing"] > 0
    assert any("not-on-roster" in s["flags"] for s in class_page.student_dicts(data))
    assert any("duplicate" in s["flags"] for s in class_page.student_dicts(data))
    counted = {s["id"]: s["points"] for s in class_page.student_dicts(data) if s["counted"]}
    assert counted == {s["id"]: s["points"] for s in report["students"] if s["status"] == "graded"}


def test_script_json_cannot_break_out():
    hostile = {"a": "</script><script>alert(1)</script><!-- \u2028\u2029 & \ud800 '\""}
    text = class_page.script_json(hostile)
    assert not set(text) & set("<>&\u2028\u2029")
    assert not re.search("[\ud800-\udfff]", text)
    assert json.loads(text) == hostile


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_page_policy_allows_only_its_own_script_and_style(graded):
    _, _, _, text, _ = graded
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1).replace("&#x27;", "'")
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert f"script-src {_sha(scripts[0])};" in policy and f"style-src {_sha(styles[0])};" in policy
    assert policy.startswith("default-src 'none';") and "connect-src" not in policy
    outside = JSON_BLOCK.sub("", text)
    attributes = re.findall(r"\s(src|href|action|style|on\w+)\s*=\s*([\"']?)([^\"'\s>]*)", outside.replace(scripts[0], ""))
    assert attributes and all(name == "href" and value.startswith("#") for name, _, value in attributes)


def test_hostile_names_are_text_in_the_page(graded):
    _, data, _, text, c = graded
    outside = JSON_BLOCK.sub("", text)
    body = outside.split("<body>", 1)[1]
    for bad in ("<script>alert", "<img", "<b>", "<!--", "<i>"):
        assert bad not in body
    names = {s["name"] for s in class_page.student_dicts(data)}
    assert {s.name for s in c.students} <= names  # exactly as the roster has them, in the data


def test_feedback_folders_are_named_as_generate_names_them(graded):
    folder, data, report, _, c = graded
    fb = folder / "fb"
    graded_ids = [s["id"] for s in report["students"] if s["status"] == "graded"]
    for sid in graded_ids:
        assert (fb / folder_name(sid) / "feedback.html").is_file()
        assert (fb / folder_name(sid) / "feedback.md").is_file()
        assert (fb / f"{folder_name(sid)}.zip").is_file()
    with (fb / "students.csv").open(encoding="utf-8", newline="") as f:
        index = list(csv.DictReader(f))
    assert [r["folder"] for r in index] == [folder_name(sid) for sid in graded_ids]


def _steps(page: str) -> list[str]:
    return re.findall(r'<div class="step" data-step="([^"]+)"', page)


def test_feedback_works_out_only_the_lost_steps(graded):
    folder, _, report, _, c = graded
    sheet = resolve("backprop-basics")
    students = {s.id: s for s in c.students}
    by_student = {}
    for sub in report["submissions"]:
        if sub["graded"]:
            by_student.setdefault(sub["student_id"], []).append(sub)
    counted = {s["id"]: s["counted"] for s in report["students"] if s["status"] == "graded"}
    seen_lost = seen_right = 0
    for sid, source in counted.items():
        sub = next(x for x in by_student[sid] if x["file"] == source)
        page = (folder / "fb" / folder_name(sid) / "feedback.html").read_text(encoding="utf-8")
        assert "<script" not in page and "script-src 'none'" in page.replace("&#x27;", "'")
        lost = {(p["id"], q["name"]) for p in sub["problems"] for q in p["quantities"] if q["points"] < q["possible"]}
        if not lost:
            seen_right += 1
            assert _steps(page) == [] and "Worked solution" not in page
            continue
        seen_lost += 1
        key = student_keys(sheet, [students[sid]], bytes(range(32)))[0]
        expected = []
        for pk in key.problems:
            names = [n for (pid, n) in lost if pid == pk.problem.id]
            if names:
                expected += feedback._shown_steps(pk, names)
        assert _steps(page) == expected
        asked_lost = [n for _, n in lost]
        assert set(asked_lost) <= set(expected)
    assert seen_lost and seen_right


def test_feedback_escapes_hostile_text(graded):
    folder, _, _, _, c = graded
    for s in c.students[:12]:
        page = folder / "fb" / folder_name(s.id) / "feedback.html"
        if not page.exists():
            continue
        html = page.read_text(encoding="utf-8")
        body = html.split("<body>", 1)[1]
        assert "<script" not in body and "<img" not in body and "<b>" not in body
        md = (page.parent / "feedback.md").read_text(encoding="utf-8")
        assert "<script" not in md and "<img" not in md and "<b>" not in md


def test_feedback_options_are_checked(tmp_path):
    runner = CliRunner()
    sub = tmp_path / "s.json"
    sub.write_text("{}", encoding="utf-8")
    done = runner.invoke(main, ["grade", str(sub), "--feedback-zip"])
    assert done.exit_code == 2 and "--feedback-zip needs --feedback" in done.output
    done = runner.invoke(main, ["grade", str(sub), "--format", "gradescope", "--feedback", str(tmp_path / "fb")])
    assert done.exit_code == 2 and "not gradescope" in done.output
    (tmp_path / "file").write_text("x")
    done = runner.invoke(main, ["grade", str(sub), "--feedback", str(tmp_path / "file")])
    assert done.exit_code == 2
