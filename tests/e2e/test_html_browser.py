"""gradekit export html in a real browser: Debian's Chromium, driven by Playwright, pages from disk.

Playwright's Python package drives the system Chromium (/usr/bin/chromium, or CHROMIUM); it never
downloads a browser. Under CI (CI=true) a missing Chromium or Playwright fails these tests;
elsewhere they skip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.render import formatting as fmt
from gradekit.cli import main
from gradekit.grading.diagnose import diagnose
from gradekit.exports import html
from gradekit.exports.common import mistake_values, public_keys, roster_keys
from gradekit.spec.roster import Student
from gradekit.spec.reader import builtin_problem_paths, resolve
from pngs import png_gray as _png_gray

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SECRET = bytes(range(32))


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


class Page:
    """A page opened from disk in its own browser context, with every request and console message kept."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 1400})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: d.accept())
        self.page.goto(path.as_uri())

    def _route(self, route) -> None:  # noqa: ANN001
        # Anything but the page itself and data: is refused, and recorded by the request event.
        url = route.request.url
        route.continue_() if url.startswith(("file:", "data:")) else route.abort()

    def quantity(self, pid: str, name: str):  # noqa: ANN201
        return self.page.locator(f"#q-{pid}-{name}")

    def type(self, pid: str, name: str, texts: list[str]) -> None:
        cells = self.quantity(pid, name).locator("input.cell")
        assert cells.count() == len(texts)
        for i, text in enumerate(texts):
            cells.nth(i).fill(text)

    def paste(self, pid: str, name: str, index: int, text: str) -> None:
        """Paste `text` into a cell of a grid, as Ctrl+V does (a paste event with the clipboard's text)."""
        self.quantity(pid, name).locator("input.cell").nth(index).focus()
        self.page.evaluate("""([sel, i, text]) => {
            const cell = document.querySelectorAll(sel)[i];
            const data = new DataTransfer();
            data.setData('text/plain', text);
            cell.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""", [f"#q-{pid}-{name} input.cell", index, text])

    def enter(self, pid: str, name: str, value, decimals: int, style: int = 0) -> None:
        """An answer as a student enters it from a calculator or NumPy: a number typed, a matrix
        pasted whole (NumPy's print, a JSON list or spreadsheet rows, by `style`)."""
        value = np.round(np.asarray(value, dtype=float), decimals)
        if value.size == 1:
            self.type(pid, name, written(value, decimals))
            return
        rows = np.atleast_2d(value)
        text = [str(value), json.dumps(value.tolist()),
                "\n".join("\t".join(repr(float(x)) for x in row) for row in rows)][style % 3]
        self.paste(pid, name, 0, text)

    def status(self, pid: str, name: str) -> str:
        return self.quantity(pid, name).locator(".status").inner_text()

    def close(self) -> None:
        self.context.close()


def written(values, decimals: int) -> list[str]:
    """Numbers as a student writes them: to the sheet's decimals."""
    return [fmt.number(x, decimals) for x in np.ravel(values)]


def practice_page(tmp_path: Path, ref: str, seed: int):  # noqa: ANN201
    vk = public_keys(resolve(ref), [seed])[0]
    return vk, html.write([vk], tmp_path)[0]


def test_the_keys_answers_are_all_right_and_a_screenshot_shows_the_page(browser, tmp_path):
    vk, path = practice_page(tmp_path, "backprop-basics", 3)
    page = Page(browser, path)
    for pk in vk.key.problems:
        for i, name in enumerate(pk.problem.asked):
            page.enter(pk.problem.id, name, pk.instance.trace[name], pk.problem.decimals, style=i)
    page.page.click("#check-all")
    count = 0
    for pk in vk.key.problems:
        for name in pk.problem.asked:
            assert page.status(pk.problem.id, name) == "✓ Right.", (pk.problem.id, name)
            count += 1
    summary = page.page.inner_text("#summary")
    assert summary.startswith(f"Against the key: {count} of {count} answers right (100 of 100 points), 0 wrong")
    shot = tmp_path / "shot.png"
    page.page.screenshot(path=str(shot))
    gray = _png_gray(shot)
    dark = (gray < 128).mean()
    assert 0.01 < dark < 0.3 and gray.std() > 20, dark  # text, math and the diagram; neither blank nor black
    assert page.errors == []
    assert all(u.startswith(("file:", "data:")) for u in page.requests) and page.requests, page.requests
    page.close()


def test_a_catalogued_mistake_is_named_and_follow_through_is_left_to_gradekit(browser, tmp_path):
    vk, path = practice_page(tmp_path, "relu-softmax-rows", 0)
    pk = vk.key.problems[0]
    pid, trace, d = pk.problem.id, pk.instance.trace, pk.problem.decimals
    page = Page(browser, path)
    # The first asked quantity with a catalogued mistake that a later answer is computed from.
    earlier = html.earlier_asked(pk)
    name = next(q for q in pk.problem.asked if mistake_values(pk, q) and any(q in earlier[r] for r in earlier))
    mistake = mistake_values(pk, name)[0]
    page.type(pid, name, written(mistake.value, d))
    page.quantity(pid, name).locator("button.check").click()
    typed = np.array([float(t) for t in written(mistake.value, d)]).reshape(np.shape(trace[name]))
    diagnosis = diagnose(pk.problem, trace, name, typed, pk.allowance(name))
    named = diagnosis.words if diagnosis else None
    status = page.status(pid, name)
    assert named and f": {named}." in status and status.startswith("✗ ")
    # A later answer that is wrong because an earlier one is: the page says gradekit grade gives
    # follow-through, and does not claim it itself.
    later = next(q for q in pk.problem.asked if name in earlier[q])
    page.type(pid, later, written(np.asarray(trace[later]) + 0.5, d))
    page.quantity(pid, later).locator("button.check").click()
    hint = page.status(pid, later)
    assert hint.startswith("✗ ") and f"Your {name} is wrong too." in hint and "follow-through credit" in hint
    assert "Follow-through is not applied on this page" in page.page.inner_text(".practice-notice")
    assert page.errors == []
    page.close()


def test_hand_in_page_downloads_a_submission_that_grades_to_full_marks(browser, tmp_path):
    student = Student("s-42", "Zoë <b>Ørsted</b>")
    vk = roster_keys(resolve("backprop-basics"), [student], SECRET)[0]
    path = html.write([vk], tmp_path / "pages")[0]
    page = Page(browser, path)
    assert page.page.inner_text(".student-name") == student.name  # shown as text, not markup
    for number, pk in enumerate(vk.key.problems):
        for name in pk.problem.asked:
            if number == 0:  # the first problem typed box by box, the others pasted
                page.type(pk.problem.id, name, written(pk.instance.trace[name], pk.problem.decimals))
            else:
                page.enter(pk.problem.id, name, pk.instance.trace[name], pk.problem.decimals)
    with page.page.expect_download() as info:
        page.page.click("#download")
    saved = tmp_path / "submission.json"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "submission.json"
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert doc["student"] == {"id": "s-42", "name": student.name} and doc["variant"] == {"student": "s-42"}
    secret = tmp_path / "course.key"
    secret.write_text(SECRET.hex(), encoding="utf-8")
    secret.chmod(0o600)
    result = CliRunner().invoke(main, ["grade", str(saved), "--secret-file", str(secret), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["submissions"][0]
    assert report["graded"] and report["points"] == report["possible"] == 100.0, report
    assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
    assert page.errors == []
    page.close()


def test_answers_survive_a_reload_and_malformed_entries_stay_marked(browser, tmp_path):
    vk, path = practice_page(tmp_path, "relu-softmax-rows", 1)
    pk = vk.key.problems[0]
    pid, name = pk.problem.id, pk.problem.asked[0]
    page = Page(browser, path)
    cells = page.quantity(pid, name).locator("input.cell")
    texts = written(pk.instance.trace[name], pk.problem.decimals)
    texts[1], texts[2] = "0,5", "abc"
    page.type(pid, name, texts)
    page.page.fill("#student-name", "Ada")
    page.page.reload()
    assert [cells.nth(i).input_value() for i in range(cells.count())] == texts
    assert page.page.input_value("#student-name") == "Ada"
    assert [cells.nth(i).get_attribute("aria-invalid") for i in (0, 1, 2)] == [None, "true", "true"]
    assert cells.nth(1).get_attribute("title") == "a decimal comma (write 0.5, not 0,5)"
    page.page.click("#download")  # refused, naming the entries; nothing is dropped
    summary = page.page.inner_text("#summary")
    assert summary.startswith("Not downloaded") and "“0,5”" in summary and "“abc”" in summary
    page.quantity(pid, name).locator("button.check").click()
    assert page.status(pid, name) == ("Not checked: row 1, column 2: “0,5”, a decimal comma (write 0.5, not 0,5); "
                                      "row 1, column 3: “abc”, not a number.")
    assert page.errors == []
    page.close()


def test_paste_fills_a_grid_from_numpy_print_and_tab_goes_row_by_row(browser, tmp_path):
    vk, path = practice_page(tmp_path, "relu-softmax-rows", 2)
    pk = vk.key.problems[0]
    pid = pk.problem.id
    name = next(q for q in pk.problem.asked if np.ndim(pk.instance.trace[q]) == 2 and min(np.shape(pk.instance.trace[q])) > 1)
    value = np.round(np.asarray(pk.instance.trace[name]), 4)
    rows, columns = value.shape
    page = Page(browser, path)
    cells = page.quantity(pid, name).locator("input.cell")

    def paste(index: int, text: str) -> None:
        page.paste(pid, name, index, text)

    def grid() -> list[str]:
        return [cells.nth(i).input_value() for i in range(cells.count())]

    paste(0, str(value))  # NumPy's print: [[ 0.1234 -0.5 ] [ ... ]]
    assert [float(x) for x in grid()] == value.ravel().tolist()
    page.quantity(pid, name).locator("button.check").click()
    assert page.status(pid, name) == "✓ Right."
    for i in range(cells.count()):
        cells.nth(i).fill("")
    paste(columns, "\t".join(str(x) for x in value[1]))  # a spreadsheet row, pasted into row 2
    assert grid()[columns:2 * columns] == [str(x) for x in value[1]] and grid()[:columns] == [""] * columns
    paste(0, repr(value.T.tolist()))  # a transposed list: refused, with the reason
    assert "looks transposed" in page.status(pid, name) and grid()[:columns] == [""] * columns
    cells.nth(0).focus()  # Tab walks the grid row by row
    order = []
    for _ in range(rows * columns):
        order.append(page.page.evaluate("[document.activeElement.dataset.row, document.activeElement.dataset.column]"))
        page.page.keyboard.press("Tab")
    assert order == [[str(r), str(c)] for r in range(rows) for c in range(columns)]
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("pid", list(builtin_problem_paths()))
def test_every_builtin_problem_renders_without_a_console_error(browser, tmp_path, pid):
    """The practice page and a hand-in page of each built-in problem: no error, no request, every
    grid shaped like its answer, every formula typeset as MathML (none left as LaTeX source)."""
    practice = public_keys(resolve(pid), [0])[0]
    handin = roster_keys(resolve(pid), [Student("s1", "Ada")], SECRET)[0]
    for vk in (practice, handin):
        path = html.write([vk], tmp_path / ("practice" if vk.student is None else "handin"))[0]
        page = Page(browser, path)
        pk = vk.key.problems[0]
        expected = sum(int(np.prod(np.shape(pk.instance.trace[q]))) for q in pk.problem.asked)
        assert page.page.locator("input.cell").count() == expected
        assert page.page.locator("code.tex").count() == 0
        box = page.page.locator("math").first.bounding_box()
        assert box is not None and box["height"] > 5  # drawn as math, not as a line of raw tags
        assert page.errors == [], (pid, vk.variant.label, page.errors)
        assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
        page.close()
