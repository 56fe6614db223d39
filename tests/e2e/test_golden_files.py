"""Golden files: the documents, key, template and diagrams of fixed variants, byte for byte.

GRADEKIT_UPDATE_GOLDEN=1 rewrites them (after a change meant to alter the output; review the diff).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gradekit.cli import main
from gradekit.keys.key import make_key
from gradekit.render import diagram as dg
from gradekit.render.svg import svg, write
from gradekit.render.tikz import picture
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import resolve
from pngs import png_gray

GOLDEN = Path(__file__).parent / "golden"
FILES = ["sheet.tex", "solutions.tex", "sheet.md", "solutions.md", "key.json", "submission-template.json"]
HANDOUT = ["sheet.md", "sheet.tex", "submission-template.json"]
WHERE = {name: "handout" if name in HANDOUT else "instructor" for name in FILES}


def problem_key(pid: str, seed: int = 5):
    return make_key(resolve(pid), Variant(seed=seed)).problems[0]


def test_generate_is_byte_identical_and_matches_golden_files(tmp_path):
    runner = CliRunner()
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert runner.invoke(main, ["generate", "relu-softmax-rows", "tanh-softmax-columns", "--seed", "5",
                                    "-o", str(out)]).exit_code == 0
    for sheet in ("relu-softmax-rows", "tanh-softmax-columns"):
        for name in FILES:
            produced = (a / sheet / WHERE[name] / name).read_bytes()
            assert produced == (b / sheet / WHERE[name] / name).read_bytes()
            golden = GOLDEN / sheet / name
            if os.environ.get("GRADEKIT_UPDATE_GOLDEN"):
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_bytes(produced)
            assert produced == golden.read_bytes(), f"{sheet}/{name} differs from tests/golden (GRADEKIT_UPDATE_GOLDEN=1 rewrites)"


def check_golden(name: str, produced: str) -> None:
    golden = GOLDEN / "diagrams" / name
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


def test_large_network_diagram_matches_golden_files():
    pk = problem_key("relu-softmax-rows")
    arch = replace(pk.problem.arch, layers=(replace(pk.problem.arch.layers[0], units=12), pk.problem.arch.layers[1]))
    given = {"W1": np.zeros((2, 12)), "b1": np.zeros((1, 12)), "W2": np.zeros((12, 3)), "b2": np.zeros((1, 3))}
    d = dg.build(arch, given)
    check_golden("twelve-units.tikz.tex", picture(d) + "\n")
    check_golden("twelve-units.svg", write(d, "twelve units") + "\n")


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
    pixels = png_gray(shot)
    dark = (pixels < 128).mean()
    assert 0.01 < dark < 0.3, dark  # lines, circles and labels; neither blank nor black
