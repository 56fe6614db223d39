"""The computation as data: the `graph` of a problem in key.json (contract: README "The graph").

Each step of the trace is written by its own operation (`Op.graph`) as ONNX operators of the
default domain with their opset-21 semantics (`op` steps), as the local derivative of another
step times an upstream gradient (`grad` steps), or as another step re-evaluated with some given
values replaced (`eval` steps, the loss after the update). Values are in the problem's own
layout, as the key writes them: this module is where the ops' layout-free requests ("a matrix
product of the layer input and the weights", "sum over the samples") become the layout's
operators and axes. A JSON Schema of the format ships beside this module (graph.schema.json).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable, Mapping

from gradekit.engine.build import steps_for
from gradekit.ops.families import network_for
from gradekit.model.network import Architecture

GRAPH_FORMAT = "gradekit-graph"
GRAPH_VERSION = 1
SCHEMA_FILE = "graph.schema.json"


class GraphBuilder:
    """Collects a problem's graph steps in computing order (gradekit.ops.base.Graph)."""

    def __init__(self, layout: str, samples: int):
        self.layout, self.samples = layout, samples
        self.steps: list[dict[str, Any]] = []
        self.constants: dict[str, dict[str, Any]] = {}
        self._constant_names: dict[str, str] = {}
        self._defined: dict[str, dict[str, Any]] = {}

    @property
    def sample_axis(self) -> int:
        return 0 if self.layout == "rows" else 1

    @property
    def unit_axis(self) -> int:
        return 1 if self.layout == "rows" else 0

    def _add(self, step: dict[str, Any]) -> str:
        name = step["name"]
        if name in self._defined:
            # An internal step two named steps share (a one-hot of Y): written once.
            if self._defined[name] != step:
                raise ValueError(f"graph step {name} defined twice, differently")
            return name
        self._defined[name] = step
        self.steps.append(step)
        return name

    def op(self, name: str, op_type: str, inputs: Iterable[str], **attributes: Any) -> str:
        step: dict[str, Any] = {"name": name, "kind": "op", "op": op_type, "inputs": list(inputs)}
        if attributes:
            step["attributes"] = attributes
        return self._add(step)

    def grad(self, name: str, wrt: str, terms: Iterable[tuple[str, str | int]]) -> str:
        return self._add({"name": name, "kind": "grad", "wrt": wrt,
                          "terms": [{"of": of, "upstream": upstream} for of, upstream in terms]})

    def eval(self, name: str, of: str, replace: Mapping[str, str]) -> str:
        return self._add({"name": name, "kind": "eval", "of": of, "with": dict(replace)})

    def constant(self, value: Any, dtype: str = "float64") -> str:
        """The name of a constant with this value (one name per distinct dtype and value)."""
        value = [float(v) if dtype == "float64" else int(v) for v in value] if isinstance(value, list) else (
            float(value) if dtype == "float64" else int(value))
        key = json.dumps([dtype, value])
        if key not in self._constant_names:
            name = f"_const{len(self._constant_names) + 1}"
            self._constant_names[key] = name
            self.constants[name] = {"dtype": dtype, "value": value}
        return self._constant_names[key]

    def matmul(self, name: str, a: str, b: str) -> str:
        """The product `a b` of the rows layout (the columns layout holds the transposes: `b a`)."""
        return self.op(name, "MatMul", [a, b] if self.layout == "rows" else [b, a])

    def transpose(self, name: str, a: str) -> str:
        return self.op(name, "Transpose", [a], perm=[1, 0])

    def temp(self, name: str, purpose: str) -> str:
        """The name of an internal step of `name`'s computation."""
        return f"_{name}_{purpose}"


@lru_cache(maxsize=256)
def graph_document(arch: Architecture) -> dict[str, Any]:
    """A problem's `graph`: every computed step of its trace, as its op writes it. The same for every
    variant of an architecture (cached: the caller must not change it)."""
    g = GraphBuilder(arch.layout, arch.samples)
    for step in steps_for(arch):
        if step.op is not None:
            step.op.graph(step, g)
    doc = {"format": GRAPH_FORMAT, "version": GRAPH_VERSION, "constants": g.constants, "steps": g.steps}
    output = network_for(arch).output
    if output != "loss":  # a computational graph's output node (a loss-less family): said, so d<X> is clear
        doc["output"] = output
    return doc


def schema() -> dict[str, Any]:
    """The JSON Schema of the graph format (shipped in the package)."""
    from importlib.resources import files

    return json.loads(files("gradekit.engine").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
