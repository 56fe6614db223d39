"""Network diagrams: one picture (plain data) per architecture, written as TikZ and as SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from gradekit.render import diagram as dg
from gradekit.render import families
from gradekit.keys.key import make_key
from gradekit.spec.reader import builtin_problem_paths, resolve
from gradekit.render.svg import svg
from gradekit.sampling.variants import Variant

def problem_key(pid: str, seed: int = 5):
    return make_key(resolve(pid), Variant(seed=seed)).problems[0]


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
    d = families.diagram(pk.problem, pk.instance.given)  # each family's own picture
    labels = [dg._label_box(e.at, e.label) for e in d.edges if e.label is not None]
    nodes = [dg._box_of(n) for n in d.nodes]
    assert labels or pk.problem.arch.family == "cnn", pid  # every built-in network is small enough for numbers (a cnn picture is grids: numbers in cells)
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
