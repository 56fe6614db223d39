"""Network diagrams: one picture (plain data) per architecture, written as TikZ and as SVG."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gradekit import diagram as dg
from gradekit.key import make_key
from gradekit.spec import builtin_problem_paths, resolve
from gradekit.svg import svg, write
from gradekit.tikz import picture
from gradekit.variants import Variant

GOLDEN = Path(__file__).parent / "golden" / "diagrams"


def problem_key(pid: str, seed: int = 5):
    return make_key(resolve(pid), Variant(seed=seed)).problems[0]


def check_golden(name: str, produced: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("GRADEKIT_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(produced, encoding="utf-8")
    assert produced == golden.read_text(encoding="utf-8"), f"{name} differs from tests/golden (GRADEKIT_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("pid", ["relu-softmax-rows", "relu-batchnorm-softmax-rows"])
def test_diagrams_match_golden_files(pid):
    pk = problem_key(pid)
    d = dg.build(pk.problem.arch, pk.instance.given)
    check_golden(f"{pid}.tikz.tex", picture(d) + "\n")
    check_golden(f"{pid}.svg", svg(pk.problem, pk.instance.given) + "\n")


def test_large_network_shows_matrix_names_and_no_numbers():
    pk = problem_key("relu-softmax-rows")
    arch = replace(pk.problem.arch, layers=(replace(pk.problem.arch.layers[0], units=12), pk.problem.arch.layers[1]))
    given = {"W1": np.zeros((2, 12)), "b1": np.zeros((1, 12)), "W2": np.zeros((12, 3)), "b2": np.zeros((1, 3))}
    d = dg.build(arch, given)
    assert all(e.label is None for e in d.edges)
    names = {(t.label.base, t.label.sup) for t in d.texts}
    assert {("W", "[1]"), ("b", "[1]"), ("W", "[2]"), ("b", "[2]")} <= names
    # 12 units: the first three, an ellipsis and the last one.
    assert [n.id for n in d.nodes if n.id.startswith("a1-")] == ["a1-1", "a1-2", "a1-3", "a1-dots", "a1-12"]
    check_golden("twelve-units.tikz.tex", picture(d) + "\n")
    check_golden("twelve-units.svg", write(d, "twelve units") + "\n")


def test_small_network_carries_its_weights_on_the_edges():
    pk = problem_key("tanh-softmax-columns")
    d = dg.build(pk.problem.arch, pk.instance.given)
    w2 = pk.instance.given["W2"]  # columns layout: units x inputs
    edge = next(e for e in d.edges if (e.source, e.target) == ("a1-2", "a2-3"))
    assert edge.label is not None and float(edge.label.base) == w2[2, 1]
    bias = [e for e in d.edges if e.source == "b2"]  # one scalar bias feeds every class score
    assert len(bias) == 3 and {e.label.base for e in bias} == {dg.number_label(float(pk.instance.given["b2"])).base}
    assert dg.build(pk.problem.arch, None).edges[0].label is None  # no values: no numbers


def test_layout_does_not_change_the_picture():
    pk = problem_key("tanh-softmax-columns")
    arch = pk.problem.arch
    rows = replace(arch, layout="rows")
    given_rows = {k: (v.T if np.ndim(v) == 2 else v) for k, v in pk.instance.given.items()}
    assert dg.build(rows, given_rows) == dg.build(arch, pk.instance.given)


@pytest.mark.parametrize("pid", sorted(builtin_problem_paths()))
def test_edge_labels_never_overlap_each_other_or_nodes(pid):
    pk = problem_key(pid, seed=0)
    d = dg.build(pk.problem.arch, pk.instance.given)
    labels = [dg._label_box(e.at, e.label) for e in d.edges if e.label is not None]
    nodes = [dg._box_of(n) for n in d.nodes]
    assert labels, pid  # every built-in network is small enough for numbers
    for i, a in enumerate(labels):
        assert all(dg._overlap(a, b) == 0 for b in labels[i + 1:] + nodes), pid
    assert d.x1 - d.x0 <= 17.0  # fits the sheet's line without scaling


def test_svg_is_valid_xml_for_markdown_and_html():
    pk = problem_key("relu-batchnorm-softmax-rows")
    text = svg(pk.problem, pk.instance.given)
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "\n\n" not in text  # Markdown ends an HTML block at a blank line
    assert "id=" not in text and "<script" not in text and "$" not in text
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"inputs", "batch norm", "softmax", "L", "1"} <= set(texts)
    numbers = [t for t in texts if t.replace("−", "").replace(".", "").isdigit()]
    assert numbers and "-" not in "".join(numbers)  # weights on the edges, with true minus signs


def _require_chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (Debian: apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return exe


def test_svg_renders_in_headless_chromium(tmp_path):
    """The page is drawn: many dark pixels where the network is, not a blank screenshot."""
    exe = _require_chromium()
    pk = problem_key("relu-softmax-rows")
    page = tmp_path / "diagram.svg"
    page.write_text(svg(pk.problem, pk.instance.given), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=700,320", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 0
    pixels = _png_gray(shot)
    dark = (pixels < 128).mean()
    assert 0.01 < dark < 0.3, dark  # lines, circles and labels; neither blank nor black


def _png_gray(path: Path) -> np.ndarray:
    """A PNG's pixels as gray levels, read with zlib (8-bit RGB or RGBA, as Chromium writes them)."""
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color = header[0], header[1], header[2], header[3]
    assert depth == 8 and color in (2, 6)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], dtype=np.uint8).astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        for x in range(stride):  # PNG filters (None, Sub, Up, Average, Paeth)
            a = cur[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 0:
                v = line[x]
            elif f == 1:
                v = line[x] + a
            elif f == 2:
                v = line[x] + b
            elif f == 3:
                v = line[x] + (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                v = line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)
            cur[x] = v & 0xFF
        out[y] = cur
        prev = cur
    rgb = out.reshape(height, width, channels)[:, :, :3]
    return rgb.mean(axis=2)
