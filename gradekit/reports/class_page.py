"""The class page (`gradekit grade --format html`): one self-contained offline HTML file.

What it shows, all from the same tally as the other reports (gradekit.reports.writers), so its
numbers are the JSON report's and the CSV's:

- a histogram of the counted submissions' totals (one per student, as the summary's mean and
  median), and one per problem;
- per asked quantity, in computing order, a bar of correct / follow-through / incorrect /
  missing / invalid over every graded file, and its most common named mistakes with counts;
- the CSV's item analysis (writers.item_rows, the very rows of book-items.csv) with a
  discrimination index beside it (upper minus lower 27% of graded files by total, on the same
  statuses);
- a students table (one row per file, and one per missing roster student) that the page's
  script sorts and filters, each row opening the file's per-quantity results.

Safety: the charts and tables written here are escaped text; what the script shows comes from a
`<script type="application/json">` block whose JSON cannot end the element or open a comment
(every < > & and U+2028/2029 escaped, lone surrogates as \\u escapes), and the script puts it
into the page with textContent only. The page's Content-Security-Policy allows its one inline
script and style by their hashes and nothing else: no request of any kind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from html import escape
from typing import Callable, Iterable, Iterator, Sequence

from gradekit.grading.results import Report
from gradekit.render.formatting import points as fmt_points
from gradekit.reports import charts
from gradekit.reports.writers import Tally, item_rows, rounded, summary_dict, tallied

PAGE_FORMAT = "gradekit-class-page"
PAGE_VERSION = 1
STATUS_CODES = {"correct": "c", "follow-through": "f", "incorrect": "i", "missing": "m", "invalid": "v"}
DISCRIMINATION_SHARE = 0.27  # the upper and lower groups of the discrimination index

STUDENT_FIELDS = ("row", "id", "name", "file", "status", "reason", "counted", "sheet", "variant", "points",
                  "possible", "flags", "problems", "problem_possible", "q", "x")
STATUS_WORDS = {"g": "graded", "d": "duplicate", "u": "ungraded", "m": "missing"}
FLAG_WORDS = {"r": "not-on-roster", "d": "duplicate", "u": "ungraded", "m": "missing", "n": "no-id"}

Order = Callable[[str], dict[str, tuple[str, ...]]]  # sheet id -> problem id -> names in computing order


def _e(text: object) -> str:
    return escape(str(text), quote=True)


_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def script_json(data: object) -> str:
    """JSON that is safe inside <script type="application/json">: no < > & (so no </script> and
    no <!--), U+2028/2029 and lone surrogates as \\u escapes. JSON.parse reads it back unchanged."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_policy(scripts: Sequence[str], style: str) -> str:
    """Only this page's own script(s) and style, by hash; nothing fetched, framed or posted."""
    script_src = " ".join(_hash(s) for s in scripts) if scripts else "'none'"
    return (f"default-src 'none'; script-src {script_src}; style-src {_hash(style)}; "
            "img-src 'none'; base-uri 'none'; form-action 'none'")


@cache
def asset(name: str) -> str:
    from gradekit.util.resources import templates_dir

    return (templates_dir() / "report" / name).read_text(encoding="utf-8")


# --- gathering the rows while the batch streams ----------------------------------------------------


class ClassData:
    """What the page needs of each file, compact (a few dozen bytes per file), kept while grading streams."""

    def __init__(self, tally: Tally, order: Order | None = None):
        self.tally, self.order = tally, order
        self.columns: dict[tuple[str, str], int] = {}  # (problem, quantity) -> column
        self.possible: list[float] = []  # per column, the points possible first seen
        self.problems: dict[str, str] = {}  # id -> title, first seen
        self.sheets: dict[str, None] = {}
        self.feedback: dict[str, int] = {}
        self.rows: list[list[object]] = []  # per file: see add()

    def _column(self, pid: str, name: str, possible: float) -> int:
        col = self.columns.get((pid, name))
        if col is None:
            col = self.columns[(pid, name)] = len(self.columns)
            self.possible.append(possible)
        return col

    def _text(self, text: str) -> int:
        i = self.feedback.get(text)
        if i is None:
            i = self.feedback[text] = len(self.feedback)
        return i

    def add(self, row: int, r: Report) -> None:
        if not r.graded:
            self.rows.append([row, r.student_id, r.student_name, r.source, r.error or "", "", "", 0.0, 0.0, [], {}, []])
            return
        self.sheets.setdefault(r.sheet, None)
        problems, codes, extra = [], {}, []
        for p in r.problems:
            self.problems.setdefault(p.id, p.title)
            problems.append([p.id, rounded(p.points), rounded(p.possible)])
            for q in p.quantities:
                col = self._column(p.id, q.name, q.possible)
                codes[col] = STATUS_CODES[q.status]
                if q.status != "correct" or q.possible != self.possible[col]:
                    extra.append([col, rounded(q.points), rounded(q.possible), self._text(q.feedback)])
        self.rows.append([row, r.student_id, r.student_name, r.source, "", r.sheet, r.variant,
                          r.points, r.possible, problems, codes, extra])

    def pieces(self, chunks: Iterable[Sequence[Report]]) -> Iterator[None]:
        for chunk in tallied(chunks, self.tally):
            for row, r in chunk:
                self.add(row, r)
            yield None

    # -- at the end -------------------------------------------------------------------------------

    def column_order(self) -> list[int]:
        """Columns by problem (first seen), each problem's quantities in computing order."""
        ranks: dict[str, dict[str, int]] = {}
        if self.order is not None:
            for sheet in self.sheets:
                try:
                    found = self.order(sheet)
                except Exception:  # noqa: BLE001 - an order we cannot know leaves first-seen order
                    continue
                for pid, names in found.items():
                    ranks.setdefault(pid, {n: i for i, n in enumerate(names)})
        problem_rank = {pid: i for i, pid in enumerate(self.problems)}
        first_seen = list(self.columns)
        return sorted(range(len(first_seen)), key=lambda c: (
            problem_rank.get(first_seen[c][0], len(problem_rank)),
            ranks.get(first_seen[c][0], {}).get(first_seen[c][1], 10**6), c))

    def data(self) -> dict[str, object]:
        """The page's data: what the script shows, and what the charts were drawn from."""
        tally = self.tally
        roster = {s.id for s in tally.roster} if tally.roster is not None else None
        columns = list(self.columns)
        order = self.column_order()
        counts = {(pid, name): c for pid, name, c, _ in tally.items()}
        mistakes = tally.mistakes_by_quantity()
        quantities = []
        for col in order:
            pid, name = columns[col]
            c = counts.get((pid, name), {})
            quantities.append({"column": col, "problem": pid, "name": name, "possible": rounded(self.possible[col]),
                               "counts": {s: c.get(s, 0) for s in charts.STATUS_ORDER},
                               "mistakes": [[m, n] for m, n in mistakes.get((pid, name), [])]})
        # One array per row, in STUDENT_FIELDS order, with what repeats written once (see student_dicts).
        sheets = list(self.sheets)
        sheet_index = {sheet: i for i, sheet in enumerate(sheets)}
        problem_index = {pid: i for i, pid in enumerate(self.problems)}
        possibles: dict[tuple, int] = {}
        students: list[list[object]] = []
        for row, sid, name, source, error, sheet, variant, points, possible, problems, codes, extra in self.rows:
            graded = not error and bool(sheet)
            status, _ = tally.status(row, sid, graded)
            flags = ""
            if roster is not None and sid and sid not in roster:
                flags += "r"
            if status == "duplicate":
                flags += "d"
            if status == "ungraded":
                flags += "u"
            if not sid:
                flags += "n"
            reason: object = error
            student = tally.students.get(sid) if sid and graded else None
            if student is not None and student.graded > 1:
                rule = self._text(tally.rule(student))
                reason = [rule] if student.row == row else [rule, student.row]
            counted = int(status == "graded" and tally.counted(row, sid))
            shown: list[object] = [None] * len(problem_index)
            top = [None] * len(problem_index)
            for pid, pts, pos in problems:  # type: ignore[union-attr]
                shown[problem_index[pid]], top[problem_index[pid]] = pts, pos
            pos_key = tuple(top)
            pos_id = possibles.setdefault(pos_key, len(possibles)) if graded else -1
            statuses = "".join(codes.get(c, "-") for c in range(len(columns)))  # type: ignore[union-attr]
            xs = [[col, pts, fb] if pos == rounded(self.possible[col]) else [col, pts, fb, pos]
                  for col, pts, pos, fb in extra]  # type: ignore[union-attr]
            students.append([row, sid, name, source, status[0], reason, counted,
                             sheet_index.get(sheet, -1), None if variant == f"student {sid}" else variant,
                             rounded(points), rounded(possible), flags, shown if graded else [], pos_id, statuses, xs])
        for sid, name in tally.missing():
            students.append([-1, sid, name, "", "m", "on the roster; no file", 0, -1, "", 0, 0, "m", [], -1, "", []])
        return {"format": PAGE_FORMAT, "version": PAGE_VERSION, "summary": summary_dict(tally),
                "problems": [{"id": pid, "title": title} for pid, title in self.problems.items()],
                "columns": [[pid, name] for pid, name in columns], "order": order, "quantities": quantities,
                "items": item_rows(tally), "discrimination": self.discrimination(),
                "histograms": self.histograms(), "feedback": list(self.feedback), "sheets": sheets,
                "possibles": [list(p) for p in possibles], "student_fields": list(STUDENT_FIELDS),
                "students": students}

    def counted_rows(self) -> list[list[object]]:
        return [r for r in self.rows if not r[4] and r[5] and self.tally.counted(r[0], r[1])]

    def histograms(self) -> dict[str, object]:
        """Totals of the counted submissions (one per student) and each problem's points, binned."""
        counted = self.counted_rows()
        totals = [r[7] for r in counted]
        summary = self.tally.summary()
        out: dict[str, object] = {"total": charts.histogram(totals, *charts.bins_for(summary.possible, totals)).as_json()}
        problems: dict[str, object] = {}
        for pid, _title, _mean, possible in summary.problems:
            values = [p[1] for r in counted for p in r[9] if p[0] == pid]  # type: ignore[union-attr]
            possibles = {p[2] for r in counted for p in r[9] if p[0] == pid}  # type: ignore[union-attr]
            top = possibles.pop() if len(possibles) == 1 else None
            problems[pid] = charts.histogram(values, *charts.bins_for(top, values)).as_json()
        out["problems"] = problems
        return out

    def discrimination(self) -> dict[str, float | None]:
        """Per column: the share correct among the top 27% of graded files by total minus the share
        among the bottom 27% (the files that have the quantity); None with fewer than 4 files.
        "Correct" is the status the item analysis counts as correct."""
        out: dict[str, float | None] = {}
        graded = [r for r in self.rows if not r[4] and r[5]]
        for col in range(len(self.columns)):
            having = sorted((r for r in graded if col in r[10]), key=lambda r: r[7])  # type: ignore[operator]
            k = int(len(having) * DISCRIMINATION_SHARE)
            if len(having) < 4 or k == 0:
                out[str(col)] = None
                continue
            low = sum(r[10][col] == "c" for r in having[:k]) / k  # type: ignore[index]
            high = sum(r[10][col] == "c" for r in having[-k:]) / k  # type: ignore[index]
            out[str(col)] = round(high - low, 4)
        return out


def student_dicts(data: dict) -> list[dict[str, object]]:
    """The students table's rows as the page's script reads them (words, not codes): for tests and
    for anyone reading the JSON block. The script does the same (templates/report/class.js)."""
    out = []
    files = {r[0]: r[3] for r in data["students"]}
    for values in data["students"]:
        s = dict(zip(data["student_fields"], values))
        s["status"] = STATUS_WORDS[s["status"]]
        s["flags"] = [FLAG_WORDS[c] for c in s["flags"]]
        s["counted"] = bool(s["counted"])
        s["sheet"] = data["sheets"][s["sheet"]] if s["sheet"] >= 0 else ""
        if s["variant"] is None:
            s["variant"] = f"student {s['id']}"
        reason = s["reason"]
        if isinstance(reason, list):
            rule = data["feedback"][reason[0]]
            s["reason"] = f"counted: {rule}" if len(reason) == 1 else f"not counted: {files[reason[1]]} counts ({rule})"
        out.append(s)
    return out


# --- the page ---------------------------------------------------------------------------------------


def _summary_html(s: dict) -> str:
    of = (lambda x: "-" if x is None else (f"{fmt_points(x)} / {fmt_points(s['possible'])}"
                                           if s["possible"] is not None else fmt_points(x)))
    items = [("files", s["files"]), ("graded", s["graded"]), ("ungraded", s["ungraded"]),
             ("students missing", s["missing"]), ("counted submissions", s["counted"]),
             ("mean", of(s["mean"])), ("median", of(s["median"]))]
    cells = "".join(f'<div class="stat" data-stat="{_e(k)}"><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>' for k, v in items)
    return f'<dl class="stats">{cells}</dl>'


def _histograms_html(data: dict) -> str:
    h = data["histograms"]
    total = h["total"]
    out = ['<section id="totals"><h2>Totals</h2>',
           '<p class="hint">Counted submissions (one per student; the summary\'s mean and median). '
           'Bins are [from, to); the last includes a full score.</p>',
           '<figure class="chart">', charts.histogram_svg(charts.Histogram(tuple(total["edges"]), tuple(total["counts"])),
                                                          "Histogram of totals", "histogram total-histogram"),
           "</figure>"]
    if len(data["problems"]) > 0:
        out.append('<div class="problem-histograms">')
        titles = {p["id"]: p["title"] for p in data["problems"]}
        for pid, ph in h["problems"].items():
            out.append(f'<figure class="chart small" data-problem="{_e(pid)}"><figcaption>{_e(pid)}: '
                       f'{_e(titles.get(pid, ""))}</figcaption>'
                       + charts.histogram_svg(charts.Histogram(tuple(ph["edges"]), tuple(ph["counts"])),
                                              f"Histogram of {pid}", "histogram problem-histogram")
                       + "</figure>")
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _quantities_html(data: dict) -> str:
    out = ['<section id="quantities"><h2>Where the class went wrong</h2>',
           '<p class="hint">Every graded file, per asked quantity in the order it is computed: the first '
           'step where the bar turns red is where the class breaks.</p>', charts.legend_html()]
    by_problem: dict[str, list[dict]] = {}
    for q in data["quantities"]:
        by_problem.setdefault(q["problem"], []).append(q)
    titles = {p["id"]: p["title"] for p in data["problems"]}
    for pid, qs in by_problem.items():
        out.append(f'<div class="problem" data-problem="{_e(pid)}"><h3>{_e(pid)}: {_e(titles.get(pid, ""))}</h3>')
        out.append('<figure class="chart">' + charts.status_bars_svg([(q["name"], q["counts"]) for q in qs],
                                                                     f"Statuses per quantity of {pid}") + "</figure>")
        rows = []
        for q in qs:
            if q["mistakes"]:
                items = "".join(f'<li><span class="n">{n}</span> {_e(m)}</li>' for m, n in q["mistakes"])
                rows.append(f'<tr data-quantity="{_e(q["name"])}"><th scope="row">{_e(q["name"])}</th>'
                            f'<td><ol class="mistakes">{items}</ol></td></tr>')
        if rows:
            out.append('<table class="mistakes-table"><caption>Most common named mistakes</caption>'
                       '<thead><tr><th scope="col">quantity</th><th scope="col">mistake (files)</th></tr></thead>'
                       f'<tbody>{"".join(rows)}</tbody></table>')
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _items_html(data: dict) -> str:
    header, *rows = data["items"]
    column = {(pid, name): str(i) for i, (pid, name) in enumerate(data["columns"])}
    disc = data["discrimination"]
    heads = "".join(f'<th scope="col">{_e(h)}</th>' for h in header) + '<th scope="col">discrimination</th>'
    body = []
    for r in rows:
        d = disc.get(column.get((r[0], r[1]), ""), None)
        cells = "".join(f"<td>{_e(v)}</td>" for v in r)
        body.append(f'<tr data-problem="{_e(r[0])}" data-quantity="{_e(r[1])}">{cells}'
                    f'<td>{"-" if d is None else _e(d)}</td></tr>')
    return ('<section id="items"><h2>Item analysis</h2><p class="hint">The rows of the CSV\'s item analysis '
            '(<code>-items.csv</code>): share_correct is the difficulty. Discrimination: the share correct among '
            'the top 27% of graded files by total minus that among the bottom 27%.</p>'
            f'<div class="scroll"><table class="items"><thead><tr>{heads}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table></div></section>")


STUDENTS_HTML = """<section id="students"><h2>Students</h2>
<form class="controls" id="controls" role="search">
<label>Find <input type="search" id="filter" placeholder="id, name or file" autocomplete="off"></label>
<label>Status <select id="status-filter"><option value="">any</option><option value="graded">graded</option>
<option value="duplicate">duplicate</option><option value="ungraded">ungraded</option>
<option value="missing">missing</option></select></label>
<label>Flag <select id="flag-filter"><option value="">any</option><option value="not-on-roster">not on the roster</option>
<option value="duplicate">duplicate</option><option value="missing">missing</option>
<option value="ungraded">ungraded file</option><option value="no-id">no student id</option></select></label>
<span id="shown-count" aria-live="polite"></span>
</form>
<noscript><p>The students table needs JavaScript; the CSV gradebook holds the same rows.</p></noscript>
<div class="scroll"><table id="students-table" class="students"><thead><tr>
<th scope="col"><button type="button" data-sort="id">id</button></th>
<th scope="col"><button type="button" data-sort="name">name</button></th>
<th scope="col"><button type="button" data-sort="points">total</button></th>
<th scope="col"><button type="button" data-sort="status">status</button></th>
<th scope="col"><button type="button" data-sort="file">file</button></th>
<th scope="col">flags and reason</th>
</tr></thead><tbody id="students-body"></tbody></table></div>
<p><button type="button" id="more" hidden>Show more</button></p>
<div id="detail" class="detail" hidden tabindex="-1" aria-live="polite"></div>
</section>"""


def page(data: dict) -> str:
    """The class page's HTML from its data."""
    style, script = asset("class.css"), asset("class.js")
    sheets = sorted(data["sheets"])
    title = "Class report" + (f": {', '.join(sheets)}" if sheets else "")
    nav = ('<nav><a href="#totals">Totals</a> <a href="#quantities">Quantities</a> '
           '<a href="#items">Item analysis</a> <a href="#students">Students</a></nav>')
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{_e(content_policy([script], style))}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="generator" content="gradekit">\n',
        f"<title>{_e(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n",
        f"<header><h1>{_e(title)}</h1>{_summary_html(data['summary'])}{nav}</header>\n<main>\n",
        _histograms_html(data), "\n", _quantities_html(data), "\n", _items_html(data), "\n", STUDENTS_HTML,
        "\n</main>\n",
        f'<script type="application/json" id="class-data">{script_json(data)}</script>\n',
        f"<script>{script}</script>\n</body>\n</html>\n"])


def html_pieces(chunks: Iterable[Sequence[Report]], tally: Tally, order: Order | None = None) -> Iterator[str]:
    """The class page, written once the whole batch is tallied (writers.PIECES's shape)."""
    gathered = ClassData(tally, order)
    for _ in gathered.pieces(chunks):
        pass
    yield page(gathered.data())


def render(reports: Sequence[Report], roster=None, keep: str = "latest",  # noqa: ANN001 - Sequence[Student]
           order: Order | None = None) -> tuple[str, dict]:
    """The page and its data for a list of reports (tests, one-off uses)."""
    gathered = ClassData(Tally(roster, keep), order)
    for _ in gathered.pieces([reports]):
        pass
    data = gathered.data()
    return page(data), data


def sheet_order(lookup: Callable[[str], object]) -> Order:
    """The computing order of every problem of a sheet, from its architecture (no variant needed)."""
    from gradekit.engine.build import names_for

    def order(sheet_id: str) -> dict[str, tuple[str, ...]]:
        sheet = lookup(sheet_id)
        return {e.problem.id: names_for(e.problem.arch) for e in sheet.entries}  # type: ignore[attr-defined]

    return order
