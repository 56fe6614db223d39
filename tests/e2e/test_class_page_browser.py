"""The class page and the feedback pages in a real browser: Debian's Chromium, driven by Playwright,
over a class of 300 students with mixed outcomes and hostile names (tests/class_helpers.py).

As in test_html_browser.py: the system Chromium (/usr/bin/chromium, or CHROMIUM), never a
download; under CI a missing Chromium or Playwright fails these tests, elsewhere they skip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from class_helpers import write_class
from gradekit.cli import main
from gradekit.spec.roster import folder_name
from pngs import png_gray

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def _require(what: str, missing: bool) -> None:
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required under CI (.ci/run installs Debian's chromium; pip install -e '.[test]')")
        pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser():
    candidates = (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
    exe = next((c for c in candidates if c and os.path.exists(c)), None)
    _require("chromium", exe is None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("playwright (Python package)", True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """300 roster students graded to JSON and to the class page, with feedback pages."""
    folder = tmp_path_factory.mktemp("class300")
    c = write_class(folder, 300)
    common = [str(c.submissions), "--secret-file", str(c.secret), "--roster", str(c.roster)]
    runner = CliRunner()
    done = runner.invoke(main, ["grade", *common, "--format", "json", "-o", str(folder / "report.json")])
    assert done.exit_code == 1, done.output
    done = runner.invoke(main, ["grade", *common, "--format", "html", "-o", str(folder / "class.html"),
                                "--feedback", str(folder / "fb")])
    assert done.exit_code == 1, done.output
    return folder, json.loads((folder / "report.json").read_text(encoding="utf-8")), c


class Opened:
    """A page from disk in its own context, with every request, console message and dialog kept."""

    def __init__(self, browser, path: Path, width: int = 1100):
        self.context = browser.new_context(viewport={"width": width, "height": 1000})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", lambda route: route.continue_() if route.request.url == path.as_uri()
                           else route.abort())
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(path.as_uri())
        self.uri = path.as_uri()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def class_page(browser, graded):
    opened = Opened(browser, graded[0] / "class.html")
    opened.page.wait_for_selector("body[data-ready='1']")
    yield opened
    opened.close()


def _rows(page) -> list[dict]:  # noqa: ANN001
    return page.eval_on_selector_all("#students-body tr", """rows => rows.map(r => ({
        id: r.querySelector('.id').textContent, name: r.querySelector('.name').textContent,
        total: r.querySelector('.total').textContent, status: r.querySelector('.status').textContent,
        flags: r.querySelector('.flags').textContent}))""")


def test_loads_with_no_error_request_or_dialog(class_page):
    assert class_page.errors == []
    assert class_page.requests == [class_page.uri]
    assert class_page.dialogs == []
    # Only the page's own two script elements: the JSON block and the script; no hostile name made one.
    assert class_page.page.eval_on_selector_all("script", "s => s.map(x => x.type)") == ["application/json", ""]
    assert class_page.page.eval_on_selector_all("img, iframe, object, embed", "e => e.length") == 0


def test_hostile_names_show_as_text(class_page, graded):
    page = class_page.page
    page.fill("#filter", "<script>")
    rows = _rows(page)
    expected = [s for s in graded[2].students if "<script>" in s.name.lower() or "<script>" in s.id.lower()]
    assert rows and {r["name"] for r in rows} <= {s.name for s in expected}
    assert any(r["name"].startswith('<script>alert("name")</script>') for r in rows)
    page.fill("#filter", "<img src=x")
    assert any(r["name"].startswith("<img src=x onerror=alert(1)>") for r in _rows(page))
    assert class_page.dialogs == [] and class_page.errors == []


def test_charts_numbers_match_the_json_report(class_page, graded):
    _, report, _ = graded
    page = class_page.page
    totals = page.eval_on_selector_all("svg.total-histogram rect.bar", "bars => bars.map(b => Number(b.dataset.count))")
    assert sum(totals) == report["summary"]["counted"]
    counted = [s["points"] for s in report["students"] if s["status"] == "graded"]
    edges = page.eval_on_selector_all("svg.total-histogram rect.bar",
                                      "bars => bars.map(b => [Number(b.dataset.lo), Number(b.dataset.hi)])")
    for k, (lo, hi) in enumerate(edges):
        last = k == len(edges) - 1
        assert totals[k] == sum(lo <= t < hi or (last and t == hi) for t in counted)
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for sub in report["submissions"]:
        for p in sub.get("problems", []):
            for q in p["quantities"]:
                c = expected.setdefault((p["id"], q["name"]), {})
                c[q["status"]] = c.get(q["status"], 0) + 1
    drawn = page.eval_on_selector_all("div.problem", """divs => divs.flatMap(d => Array.from(
        d.querySelectorAll('svg.status-bars g.quantity')).map(g => [d.dataset.problem, g.dataset.quantity,
        Object.fromEntries(Array.from(g.querySelectorAll('rect.seg')).map(r => [r.dataset.status, Number(r.dataset.count)]))]))""")
    assert len(drawn) == len(expected)
    for pid, name, counts in drawn:
        assert {s: n for s, n in counts.items() if n} == expected[(pid, name)]
    statuses = {s for c in expected.values() for s in c}
    assert {"correct", "follow-through", "incorrect", "missing"} <= statuses


def test_sorting(class_page, graded):
    page = class_page.page
    page.select_option("#status-filter", "graded")
    page.click("button[data-sort='points']")  # most points first
    first = [float(r["total"].split(" / ")[0]) for r in _rows(page)]
    assert first == sorted(first, reverse=True) and first[0] > first[-1]
    page.click("button[data-sort='points']")
    ascending = [float(r["total"].split(" / ")[0]) for r in _rows(page)]
    assert ascending == sorted(ascending) and ascending[0] < first[-1] or ascending[0] == min(ascending + first)
    page.click("button[data-sort='id']")
    ids = [r["id"] for r in _rows(page)]
    assert len(ids) == 200  # the first page of the graded rows
    locale_sorted = page.evaluate("ids => ids.slice().sort((a, b) => a.localeCompare(b))", ids)
    assert ids == locale_sorted
    assert page.get_attribute("th:has(button[data-sort='id'])", "aria-sort") == "ascending"


def test_filtering(class_page, graded):
    _, report, _ = graded
    page = class_page.page
    page.select_option("#status-filter", "missing")
    rows = _rows(page)
    assert len(rows) == report["summary"]["missing"] and all(r["status"] == "missing" for r in rows)
    page.select_option("#status-filter", "")
    page.select_option("#flag-filter", "not-on-roster")
    rows = _rows(page)
    assert rows and all("not on the roster" in r["flags"] for r in rows)
    assert any(r["id"] == "intruder" for r in rows)
    page.select_option("#flag-filter", "ungraded")
    rows = _rows(page)
    ungraded = sum(not s["graded"] for s in report["submissions"])
    assert page.text_content("#shown-count").startswith(f"showing {min(ungraded, 200)} of {ungraded} rows")
    assert any("lone surrogate" in r["flags"] for r in rows)  # the reason, escaped, as text
    assert any("bidirectional" in r["flags"] for r in rows)
    page.select_option("#flag-filter", "")
    page.fill("#filter", "s123")
    assert [r["id"] for r in _rows(page)] == ["s123"]


def test_a_students_detail_opens(class_page, graded):
    _, report, _ = graded
    page = class_page.page
    page.fill("#filter", "student-006.json")
    page.click("#students-body tr")
    assert page.is_visible("#detail")
    sub = next(s for s in report["submissions"] if s["file"].endswith("student-006.json"))
    shown = page.eval_on_selector_all("#detail table.quantities", """ts => ts.map(t => [t.dataset.problem,
        Array.from(t.querySelectorAll('tbody tr')).map(r => [r.dataset.quantity, r.querySelector('.status').textContent,
        r.querySelector('.points').textContent, r.querySelector('.feedback').textContent])])""")
    assert [pid for pid, _ in shown] == [p["id"] for p in sub["problems"]]
    for (pid, rows), p in zip(shown, sub["problems"]):
        by_name = {q["name"]: q for q in p["quantities"]}
        assert sorted(r[0] for r in rows) == sorted(by_name)
        for name, status, points, words in rows:
            q = by_name[name]
            assert status == q["status"] and words == q["feedback"]
            assert points.split(" / ")[0] == f"{round(q['points'] * 100) / 100:g}"
    assert any(r[1] == "follow-through" for _, rows in shown for r in rows)
    page.click("#detail button.close")
    assert not page.is_visible("#detail")


def test_the_histogram_is_drawn(class_page, tmp_path):
    shot = tmp_path / "histogram.png"
    class_page.page.locator("svg.total-histogram").screenshot(path=str(shot))
    gray = png_gray(shot)
    dark = gray < 200  # the bars (#3a6ea5) and the axis; the background is white
    columns = dark.mean(axis=0)
    assert dark.mean() > 0.01  # something is drawn
    assert (columns > 0.2).sum() >= 5  # a tall bar at least a few pixels wide


def test_narrow_window_and_print(browser, graded):
    opened = Opened(browser, graded[0] / "class.html", width=380)
    try:
        page = opened.page
        page.wait_for_selector("body[data-ready='1']")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        page.emulate_media(media="print")
        assert not page.is_visible("#controls")
        assert page.is_visible("svg.total-histogram")
        pdf = page.pdf() if hasattr(page, "pdf") else b"%PDF"
        assert pdf.startswith(b"%PDF")
        assert opened.errors == []
    finally:
        opened.close()


def test_feedback_page_in_the_browser(browser, graded):
    folder, report, c = graded
    sub = next(s for s in report["submissions"] if s.get("graded") and s["file"].endswith("student-006.json"))
    path = folder / "fb" / folder_name(sub["student_id"]) / "feedback.html"
    opened = Opened(browser, path)
    try:
        page = opened.page
        assert opened.errors == [] and opened.requests == [opened.uri] and opened.dialogs == []
        assert page.eval_on_selector_all("script", "s => s.length") == 0
        assert page.text_content(".student-name") == sub["student_name"]
        statuses = page.eval_on_selector_all("div.quantity", "qs => qs.map(q => q.querySelector('.status').textContent)")
        assert statuses == [q["status"] for p in sub["problems"] for q in p["quantities"]]
        assert page.eval_on_selector_all(".worked math", "m => m.length") > 0
        assert page.eval_on_selector_all("div.quantity.incorrect td.off", "t => t.length") > 0
    finally:
        opened.close()
