// The class page's students table (gradekit.reports.class_page). Data comes from the JSON block and
// goes into the page with textContent only: no markup is ever built from it.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("class-data").textContent);
  var STATUS = {c: "correct", f: "follow-through", i: "incorrect", m: "missing", v: "invalid"};
  var FLAG_WORDS = {"not-on-roster": "not on the roster", "duplicate": "duplicate", "missing": "missing",
                    "ungraded": "ungraded file", "no-id": "no student id"};
  var STEP = 200;
  var possible = {};
  data.quantities.forEach(function (q) { possible[q.column] = q.possible; });
  var STATUS_WORDS = {g: "graded", d: "duplicate", u: "ungraded", m: "missing"};
  var FLAG_CODES = {r: "not-on-roster", d: "duplicate", u: "ungraded", m: "missing", n: "no-id"};
  var files = {};
  data.students.forEach(function (v) { files[v[0]] = v[3]; });
  // Rows arrive as arrays (data.student_fields), with what repeats written once: spelled out here.
  var students = data.students.map(function (v) {
    var s = {};
    data.student_fields.forEach(function (f, i) { s[f] = v[i]; });
    s.status = STATUS_WORDS[s.status];
    s.flags = s.flags.split("").map(function (c) { return FLAG_CODES[c]; });
    s.sheet = s.sheet >= 0 ? data.sheets[s.sheet] : "";
    if (s.variant === null) s.variant = "student " + s.id;
    if (Array.isArray(s.reason)) {
      var rule = data.feedback[s.reason[0]];
      s.reason = s.reason.length === 1 ? "counted: " + rule : "not counted: " + files[s.reason[1]] + " counts (" + rule + ")";
    }
    return s;
  });
  students.forEach(function (s, i) {
    s.index = i;
    s.search = (s.id + "\u0000" + s.name + "\u0000" + s.file).toLowerCase();
  });
  var state = {text: "", status: "", flag: "", sort: "", dir: 1, limit: STEP};
  var body = document.getElementById("students-body");
  var more = document.getElementById("more");
  var count = document.getElementById("shown-count");
  var detail = document.getElementById("detail");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function pts(x) {
    return String(Math.round(x * 100) / 100);
  }

  function matching() {
    var text = state.text.toLowerCase();
    var out = students.filter(function (s) {
      if (text && s.search.indexOf(text) < 0) return false;
      if (state.status && s.status !== state.status) return false;
      if (state.flag && s.flags.indexOf(state.flag) < 0) return false;
      return true;
    });
    if (state.sort) {
      var key = state.sort, dir = state.dir;
      out.sort(function (a, b) {
        var x = a[key], y = b[key];
        var c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return c !== 0 ? c * dir : a.index - b.index;
      });
    }
    return out;
  }

  function row(s) {
    var tr = el("tr", null, "student " + s.status);
    tr.tabIndex = 0;
    tr.dataset.index = String(s.index);
    tr.appendChild(el("td", s.id, "id"));
    tr.appendChild(el("td", s.name, "name"));
    tr.appendChild(el("td", s.status === "graded" || s.status === "duplicate" ? pts(s.points) + " / " + pts(s.possible) : "-", "total"));
    tr.appendChild(el("td", s.status, "status"));
    tr.appendChild(el("td", s.file, "file"));
    var flags = el("td", null, "flags");
    s.flags.forEach(function (f) { flags.appendChild(el("span", FLAG_WORDS[f] || f, "flag " + f)); });
    if (s.reason) flags.appendChild(el("span", s.reason, "reason"));
    tr.appendChild(flags);
    return tr;
  }

  function draw() {
    var rows = matching();
    var frag = document.createDocumentFragment();
    var shown = rows.slice(0, state.limit);
    shown.forEach(function (s) { frag.appendChild(row(s)); });
    body.replaceChildren(frag);
    count.textContent = "showing " + shown.length + " of " + rows.length + " rows (" + students.length + " in all)";
    more.hidden = rows.length <= state.limit;
    document.querySelectorAll("[data-sort]").forEach(function (b) {
      var th = b.parentNode;
      th.setAttribute("aria-sort", b.dataset.sort === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function open(s) {
    detail.replaceChildren();
    var head = el("h3", (s.name ? s.name + " " : "") + (s.id ? "(" + s.id + ")" : "(no student id)"));
    detail.appendChild(head);
    var meta = el("p", null, "meta");
    meta.appendChild(el("span", "file: " + (s.file || "none")));
    meta.appendChild(el("span", "status: " + s.status));
    if (s.sheet) meta.appendChild(el("span", "sheet: " + s.sheet + " (" + s.variant + ")"));
    if (s.status === "graded" || s.status === "duplicate") meta.appendChild(el("span", "total: " + pts(s.points) + " / " + pts(s.possible)));
    detail.appendChild(meta);
    if (s.reason) detail.appendChild(el("p", s.reason, "reason"));
    if (s.q) {
      var extra = {};
      s.x.forEach(function (e) { extra[e[0]] = e; });
      data.problems.forEach(function (problem, pi) {
        if (s.problems[pi] === null || s.problems[pi] === undefined) return;
        var p = [problem.id, s.problems[pi], data.possibles[s.problem_possible][pi]];
        detail.appendChild(el("h4", p[0] + ": " + pts(p[1]) + " / " + pts(p[2])));
        var table = el("table", null, "quantities");
        table.dataset.problem = p[0];
        var thead = el("thead");
        var hr = el("tr");
        ["quantity", "status", "points", "feedback"].forEach(function (h) { var th = el("th", h); th.scope = "col"; hr.appendChild(th); });
        thead.appendChild(hr);
        table.appendChild(thead);
        var tb = el("tbody");
        data.order.forEach(function (col) {
          var c = data.columns[col];
          var code = s.q.charAt(col);
          if (c[0] !== p[0] || !code || code === "-") return;
          var e = extra[col];
          var tr = el("tr", null, "q " + STATUS[code]);
          tr.dataset.quantity = c[1];
          tr.appendChild(el("td", c[1]));
          tr.appendChild(el("td", STATUS[code], "status"));
          var top = e && e.length > 3 ? e[3] : possible[col];
          tr.appendChild(el("td", (e ? pts(e[1]) : pts(top)) + " / " + pts(top), "points"));
          tr.appendChild(el("td", e ? data.feedback[e[2]] : "correct", "feedback"));
          tb.appendChild(tr);
        });
        table.appendChild(tb);
        detail.appendChild(table);
      });
    }
    var close = el("button", "Close", "close");
    close.type = "button";
    close.addEventListener("click", function () { detail.hidden = true; });
    detail.appendChild(close);
    detail.hidden = false;
    detail.focus();
  }

  body.addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr");
    if (tr && tr.dataset.index) open(students[Number(tr.dataset.index)]);
  });
  body.addEventListener("keydown", function (ev) {
    var tr = ev.target.closest("tr");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); open(students[Number(tr.dataset.index)]); }
  });
  document.getElementById("filter").addEventListener("input", function (ev) { state.text = ev.target.value; state.limit = STEP; draw(); });
  document.getElementById("status-filter").addEventListener("change", function (ev) { state.status = ev.target.value; state.limit = STEP; draw(); });
  document.getElementById("flag-filter").addEventListener("change", function (ev) { state.flag = ev.target.value; state.limit = STEP; draw(); });
  document.getElementById("controls").addEventListener("submit", function (ev) { ev.preventDefault(); });
  document.querySelectorAll("[data-sort]").forEach(function (b) {
    b.addEventListener("click", function () {
      var key = b.dataset.sort;
      state.dir = state.sort === key ? -state.dir : (key === "points" ? -1 : 1);
      state.sort = key;
      draw();
    });
  });
  more.addEventListener("click", function () { state.limit += STEP; draw(); });
  draw();
  document.body.dataset.ready = "1";
})();
