"""The CLI shell: help, version, list, keygen, the error path, and a light import."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from gradekit import __version__
from gradekit.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("list", "keygen", "verify"):
        assert command in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_list_shows_sheets_and_problems():
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    assert "backprop-basics" in result.output and "relu-batchnorm-softmax-rows" in result.output


def test_keygen_refuses_to_overwrite_with_one_line_and_exit_2(tmp_path):
    path = tmp_path / "course.key"
    runner = CliRunner()
    assert runner.invoke(main, ["keygen", str(path)]).exit_code == 0
    result = runner.invoke(main, ["keygen", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"gradekit: error: {path}: already exists; refusing to overwrite a course secret"
    assert "Traceback" not in result.output


def test_importing_the_cli_stays_light():
    code = "import sys, gradekit.cli; print(sorted(m for m in ('sympy', 'jinja2', 'hypothesis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "gradekit", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


def test_verify_command_prints_the_table_and_agrees():
    result = CliRunner().invoke(main, ["verify", "--count", "1", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["configuration", "instances", "finite-diff", "error", "sympy", "error", "verdict"]
    rows = [l for l in lines if l.startswith("relu-batchnorm-softmax-rows")]
    assert len(rows) == 1 and rows[0].split()[1] == "1" and rows[0].endswith("agree")
    assert lines[-1].startswith("all ") and lines[-1].endswith("configurations agree")


def test_verify_exits_1_when_a_check_disagrees(monkeypatch):
    from gradekit import proof

    monkeypatch.setattr(proof, "SYMPY_TOLERANCE", -1.0)  # nothing can agree now
    result = CliRunner().invoke(main, ["verify", "--count", "1", "--jobs", "1", "--sympy-count", "1"])
    assert result.exit_code == 1
    assert "DISAGREE" in result.output
    assert "gradekit: error: the engine disagrees with the independent checks on:" in result.output
