// gradekit export html: the page's only script (inlined; allowed by its hash). It reads the data
// gradekit embedded (#gradekit-data), keeps typed answers in local storage, fills grids from a
// pasted row or matrix, writes submission.json in the answer template's format, and on practice
// pages compares answers with the key within the grader's own per-entry margins. It computes no
// step of the network: the key and each catalogued mistake's values were computed by gradekit.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("gradekit-data").textContent);
  const practice = data.mode === "practice";
  const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  const quantities = [];  // {pid, spec, el, cells, status}, in page order
  const byKey = new Map();

  // --- reading what was typed ------------------------------------------------------------------

  function parseEntry(text) {
    const t = text.trim().replace(/\u2212/g, "-");  // a minus sign copied from a PDF is a minus
    if (t === "") return { state: "empty" };
    if (NUMBER.test(t)) {
      const value = Number(t);
      if (!Number.isFinite(value)) return { state: "bad", why: "too large for a number" };  // as JSON would refuse it
      return { state: "number", value: value };
    }
    if (/^[+-]?\d*,\d+$/.test(t)) return { state: "bad", why: "a decimal comma (write 0.5, not 0,5)" };
    return { state: "bad", why: "not a number" };
  }

  function where(q, index) {
    const shape = q.spec.shape;
    if (shape.length === 0) return "";
    if (shape.length === 1) return "entry " + (index + 1);
    return "row " + (Math.floor(index / shape[1]) + 1) + ", column " + (index % shape[1] + 1);
  }

  function read(q) {
    const entries = q.cells.map(function (cell) { return parseEntry(cell.value); });
    const bad = [], empty = [];
    entries.forEach(function (e, i) {
      if (e.state === "bad") bad.push(i);
      if (e.state === "empty") empty.push(i);
    });
    return { entries: entries, bad: bad, empty: empty, values: entries.map(function (e) { return e.value; }) };
  }

  function quote(text) {
    const t = text.length > 24 ? text.slice(0, 24) + "…" : text;
    return "“" + t + "”";
  }

  // Malformed entries are marked where they are and kept as typed: never dropped.
  function markMalformed(q) {
    const r = read(q);
    q.cells.forEach(function (cell, i) {
      const e = r.entries[i];
      cell.classList.toggle("bad", e.state === "bad");
      if (e.state === "bad") {
        cell.setAttribute("aria-invalid", "true");
        cell.title = e.why;
      } else {
        cell.removeAttribute("aria-invalid");
        cell.removeAttribute("title");
      }
    });
    return r;
  }

  function malformedText(q, r) {
    return r.bad.map(function (i) {
      const place = where(q, i);
      return (place ? place + ": " : "") + quote(q.cells[i].value.trim()) + ", " + r.entries[i].why;
    }).join("; ");
  }

  function setStatus(q, kind, text, hint) {
    q.status.className = "status " + kind;
    q.status.textContent = text;
    if (hint) {
      const span = document.createElement("span");
      span.className = "hint";
      span.textContent = hint;
      q.status.appendChild(span);
    }
    q.el.classList.toggle("right", kind === "right");
    q.el.classList.toggle("wrong", kind === "wrong");
  }

  function clearMarks(q) {
    q.cells.forEach(function (cell) { cell.classList.remove("off", "good"); });
    setStatus(q, "", "");
  }

  // --- checking against the key (practice pages) -----------------------------------------------

  // Right: every entry within its margin of the key, |typed - key| <= margin: the grader's test.
  function within(values, target, margin) {
    for (let i = 0; i < values.length; i++) {
      if (!(Math.abs(values[i] - target[i]) <= margin[i])) return false;
    }
    return true;
  }

  // The catalogued mistakes the numbers match, worded as gradekit.diagnose words them.
  function named(q, values) {
    const found = [];
    q.spec.mistakes.forEach(function (m) {
      if (found.indexOf(m.message) < 0 && within(values, m.value, m.margin)) found.push(m.message);
    });
    if (found.length === 0) return "";
    if (found.length === 1) return found[0];
    const shown = found.slice(0, data.readings);
    return shown.length + " readings of the same numbers: " + shown.join("; or: ");
  }

  // Quietly: is this quantity filled in and wrong against the key? (for the follow-through hint)
  function wrongNow(name, pid) {
    const q = byKey.get(pid + "/" + name);
    if (!q) return false;
    const r = read(q);
    if (r.bad.length || r.empty.length) return false;
    return !within(r.values, q.spec.key, q.spec.margin);
  }

  function check(q) {
    clearMarks(q);
    const r = markMalformed(q);
    const n = q.cells.length;
    if (r.bad.length) {
      setStatus(q, "invalid", "Not checked: " + malformedText(q, r) + ".");
      return { status: "invalid" };
    }
    if (r.empty.length === n) {
      setStatus(q, "partial", "No answer yet.");
      return { status: "missing" };
    }
    if (r.empty.length) {
      setStatus(q, "partial", "Not checked: " + r.empty.length + " of " + n + " entries are empty (" +
        r.empty.map(function (i) { return where(q, i); }).join(", ") + ").");
      return { status: "missing" };
    }
    const spec = q.spec;
    const off = [];
    r.values.forEach(function (v, i) {
      const ok = Math.abs(v - spec.key[i]) <= spec.margin[i];
      q.cells[i].classList.toggle("good", ok);
      q.cells[i].classList.toggle("off", !ok);
      if (!ok) off.push(i);
    });
    if (off.length === 0) {
      setStatus(q, "right", "✓ Right.");
      return { status: "right" };
    }
    let text = "✗ " + (n > 1 ? off.length + " of " + n + " entries wrong" : "Wrong");
    const mistake = named(q, r.values);
    if (mistake) text += ": " + mistake;
    const earlier = spec.earlier.filter(function (name) { return wrongNow(name, q.pid); });
    const hint = earlier.length
      ? "Your " + earlier.join(" and ") + (earlier.length > 1 ? " are" : " is") + " wrong too. If this answer is right " +
        "given your own earlier answers, gradekit grade gives it follow-through credit; this page checks against the key only."
      : (mistake ? "" : "Open the worked solution to compare step by step.");
    setStatus(q, "wrong", text + ".", hint);
    return { status: "wrong" };
  }

  function checkAll() {
    let right = 0, points = 0, wrong = 0, open = 0;
    quantities.forEach(function (q) {
      const result = check(q);
      if (result.status === "right") { right += 1; points += q.spec.points; }
      else if (result.status === "wrong") wrong += 1;
      else open += 1;
    });
    const summary = document.getElementById("summary");
    summary.className = "summary";
    summary.textContent = "Against the key: " + right + " of " + quantities.length + " answers right (" +
      formatPoints(points) + " of " + formatPoints(data.total) + " points), " + wrong + " wrong, " + open +
      " not answered or not readable. Follow-through is not applied here: gradekit grade applies it to the downloaded submission.json.";
  }

  function formatPoints(x) {
    return String(Math.round(x * 100) / 100);
  }

  // --- local storage ---------------------------------------------------------------------------

  let storage = null;
  try {
    storage = window.localStorage;
    const probe = data.storage + ":probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
  } catch (e) {
    storage = null;
  }

  function storageStatus(text) {
    document.getElementById("storage-status").textContent = text;
  }

  function save() {
    if (!storage) return;
    const saved = { version: 1, cells: {}, name: "", id: "" };
    quantities.forEach(function (q) {
      saved.cells[q.pid + "/" + q.spec.name] = q.cells.map(function (c) { return c.value; });
    });
    const name = document.getElementById("student-name"), id = document.getElementById("student-id");
    if (name) saved.name = name.value;
    if (id) saved.id = id.value;
    try {
      storage.setItem(data.storage, JSON.stringify(saved));
      storageStatus("Saved in this browser.");
    } catch (e) {
      storageStatus("Could not save in this browser (" + e.name + "): download submission.json to keep your answers.");
    }
  }

  function restore() {
    if (!storage) {
      storageStatus("This browser does not let the page keep your answers: download submission.json before you close it.");
      return;
    }
    let saved = null;
    try {
      saved = JSON.parse(storage.getItem(data.storage) || "null");
    } catch (e) {
      saved = null;
    }
    if (!saved || typeof saved !== "object" || !saved.cells) return;
    quantities.forEach(function (q) {
      const texts = saved.cells[q.pid + "/" + q.spec.name];
      if (!Array.isArray(texts)) return;
      q.cells.forEach(function (cell, i) {
        if (typeof texts[i] === "string") cell.value = texts[i];
      });
      markMalformed(q);
    });
    const name = document.getElementById("student-name"), id = document.getElementById("student-id");
    if (name && typeof saved.name === "string") name.value = saved.name;
    if (id && typeof saved.id === "string") id.value = saved.id;
    storageStatus("Your answers were restored from this browser.");
  }

  // --- pasting a row or a matrix ---------------------------------------------------------------

  // Rows of entries from NumPy's print or repr, a Python/JSON list, MATLAB's [1 2; 3 4], or lines
  // of a spreadsheet or calculator (tabs, spaces, commas or semicolons between the numbers).
  function parseBlock(text) {
    let t = text.replace(/\u2212/g, "-").replace(/array\(|dtype=[\w.]+|\)/g, " ");
    let rows;
    if (t.indexOf("[") >= 0) {
      rows = (t.match(/\[[^\[\]]*\]/g) || []).map(function (g) { return g.slice(1, -1); });
      if (rows.length === 1 && rows[0].indexOf(";") >= 0) rows = rows[0].split(";");
    } else {
      rows = t.split(/\r?\n|;/);
    }
    return rows.map(function (row) { return row.split(/[\s,]+/).filter(function (x) { return x !== ""; }); })
      .filter(function (row) { return row.length > 0; });
  }

  function fill(q, startRow, startColumn, block) {
    const columns = q.spec.shape.length === 2 ? q.spec.shape[1] : q.cells.length;
    block.forEach(function (row, i) {
      row.forEach(function (text, j) {
        q.cells[(startRow + i) * columns + startColumn + j].value = text;
      });
    });
    markMalformed(q);
    clearMarks(q);
    save();
  }

  function onPaste(event, q, cell) {
    const text = (event.clipboardData || window.clipboardData).getData("text");
    const block = parseBlock(text);
    const count = block.reduce(function (s, row) { return s + row.length; }, 0);
    if (count <= 1) return;  // one number: the browser pastes it into this box
    event.preventDefault();
    const shape = q.spec.shape;
    const rows = shape.length === 2 ? shape[0] : 1, columns = shape.length === 0 ? 1 : shape[shape.length - 1];
    const widths = block.map(function (row) { return row.length; });
    const vector = rows === 1 || columns === 1;
    const flat = [].concat.apply([], block);
    if (vector && count === rows * columns && (block.length === 1 || Math.max.apply(null, widths) === 1)) {
      fill(q, 0, 0, rows === 1 ? [flat] : flat.map(function (x) { return [x]; }));
      return;
    }
    if (widths.some(function (w) { return w !== widths[0]; })) {
      setStatus(q, "invalid", "Nothing pasted: the pasted rows have different lengths (" + widths.join(", ") + ").");
      return;
    }
    if (block.length === rows && widths[0] === columns) {
      fill(q, 0, 0, block);
      return;
    }
    const r0 = Number(cell.dataset.row), c0 = Number(cell.dataset.column);
    const size = block.length + "×" + widths[0];
    if (block.length === columns && widths[0] === rows && rows !== columns) {
      setStatus(q, "invalid", "Nothing pasted: the pasted matrix is " + size + ", this answer is " + rows + "×" +
        columns + " (it looks transposed).");
      return;
    }
    if (r0 + block.length <= rows && c0 + widths[0] <= columns) {
      fill(q, r0, c0, block);
      return;
    }
    setStatus(q, "invalid", "Nothing pasted: the pasted block is " + size + " and does not fit from this box of a " +
      rows + "×" + columns + " answer.");
  }

  // --- keyboard --------------------------------------------------------------------------------

  function onKey(event, q, index) {
    const columns = q.spec.shape.length === 2 ? q.spec.shape[1] : q.cells.length;
    let target = null;
    if (event.key === "Enter") {
      const all = document.querySelectorAll("input.cell");
      const here = Array.prototype.indexOf.call(all, q.cells[index]);
      target = all[here + (event.shiftKey ? -1 : 1)] || null;
    } else if (event.key === "ArrowDown") {
      target = q.cells[index + columns] || null;
    } else if (event.key === "ArrowUp") {
      target = q.cells[index - columns] || null;
    } else {
      return;
    }
    event.preventDefault();
    if (target) {
      target.focus();
      target.select();
    }
  }

  // --- the submission --------------------------------------------------------------------------

  function shaped(values, shape) {
    if (shape.length === 0) return values[0];
    if (shape.length === 1) return values.slice();
    const out = [];
    for (let i = 0; i < shape[0]; i++) out.push(values.slice(i * shape[1], (i + 1) * shape[1]));
    return out;
  }

  function submission() {
    const doc = JSON.parse(JSON.stringify(data.template));
    const problems = [];
    quantities.forEach(function (q) {
      const r = markMalformed(q);
      const label = q.pid + " " + q.spec.name;
      if (r.bad.length) {
        problems.push(label + ": " + malformedText(q, r));
        setStatus(q, "invalid", "Not a number: " + malformedText(q, r) + ".");
      } else if (r.empty.length && r.empty.length < q.cells.length) {
        problems.push(label + ": " + r.empty.length + " of " + q.cells.length + " entries empty");
        setStatus(q, "partial", "Fill every entry, or clear them all to leave this answer out.");
      } else {
        doc.answers[q.pid][q.spec.name] = r.empty.length ? null : shaped(r.values, q.spec.shape);
      }
    });
    if (practice) {
      doc.student = { id: document.getElementById("student-id").value.trim(),
                      name: document.getElementById("student-name").value.trim() };
    }
    doc.submitted = new Date().toISOString();
    return { doc: doc, problems: problems };
  }

  function download() {
    const made = submission();
    const summary = document.getElementById("summary");
    if (made.problems.length) {
      summary.className = "summary error";
      summary.textContent = "Not downloaded: fix or clear the marked answers first (" + made.problems.join("; ") + ").";
      return;
    }
    const answered = quantities.filter(function (q) { return made.doc.answers[q.pid][q.spec.name] !== null; }).length;
    const link = document.createElement("a");
    link.href = "data:application/json;charset=utf-8," + encodeURIComponent(JSON.stringify(made.doc, null, 1) + "\n");
    link.download = "submission.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    summary.className = "summary";
    summary.textContent = "Downloaded submission.json with " + answered + " of " + quantities.length + " answers" +
      (practice ? ". Grade it with: gradekit grade submission.json" : ". Hand in that file.");
  }

  function clearAll() {
    if (!window.confirm("Clear every answer on this page (and in this browser's storage)?")) return;
    quantities.forEach(function (q) {
      q.cells.forEach(function (c) { c.value = ""; });
      markMalformed(q);
      clearMarks(q);
    });
    if (storage) storage.removeItem(data.storage);
    storageStatus("Cleared.");
    document.getElementById("summary").textContent = "";
  }

  // --- wiring ----------------------------------------------------------------------------------

  data.problems.forEach(function (problem) {
    problem.quantities.forEach(function (spec) {
      const el = document.getElementById("q-" + problem.id + "-" + spec.name);
      const q = { pid: problem.id, spec: spec, el: el, cells: Array.prototype.slice.call(el.querySelectorAll("input.cell")),
                  status: el.querySelector(".status") };
      quantities.push(q);
      byKey.set(problem.id + "/" + spec.name, q);
      q.cells.forEach(function (cell, i) {
        cell.addEventListener("input", function () {
          cell.classList.remove("off", "good");
          markMalformed(q);
          save();
        });
        cell.addEventListener("paste", function (event) { onPaste(event, q, cell); });
        cell.addEventListener("keydown", function (event) { onKey(event, q, i); });
      });
      const button = el.querySelector("button.check");
      if (button) button.addEventListener("click", function () { check(q); });
    });
  });
  ["student-name", "student-id"].forEach(function (id) {
    const input = document.getElementById(id);
    if (input) input.addEventListener("input", save);
  });
  const all = document.getElementById("check-all");
  if (all) all.addEventListener("click", checkAll);
  document.getElementById("download").addEventListener("click", download);
  document.getElementById("clear").addEventListener("click", clearAll);
  restore();
})();
