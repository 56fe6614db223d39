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
    from gradekit.proof import checks as proof

    monkeypatch.setattr(proof, "SYMPY_TOLERANCE", -1.0)  # nothing can agree now
    result = CliRunner().invoke(main, ["verify", "--count", "1", "--jobs", "1", "--sympy-count", "1"])
    assert result.exit_code == 1
    assert "DISAGREE" in result.output
    assert "gradekit: error: the engine disagrees with the independent checks on:" in result.output


def _commands(group, path=("gradekit",)):
    import click

    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_option_of_every_command_has_help_text():
    import click

    missing = [f"{' '.join(path)} {'/'.join(p.opts)}" for path, command in _commands(main)
               for p in command.params if isinstance(p, click.Option) and not p.help]
    assert missing == []


def test_progress_is_quiet_when_not_on_a_terminal_and_shown_on_one(tmp_path, monkeypatch):
    """Progress goes to a terminal only: a pipe or a file gets the command's own output alone."""
    from gradekit.cli import progress

    runner = CliRunner()
    secret = tmp_path / "course.key"
    runner.invoke(main, ["keygen", str(secret)])
    roster = tmp_path / "r.csv"
    roster.write_text("id,name\ns1,Ada\ns2,Alan\n", encoding="utf-8")
    args = ["export", "qti", "relu-softmax-rows", "--roster", str(roster), "--secret-file", str(secret)]
    quiet = runner.invoke(main, [*args, "-o", str(tmp_path / "a.zip")])
    assert quiet.exit_code == 0 and quiet.output == f"wrote {tmp_path / 'a.zip'}: 2 quiz(zes) of relu-softmax-rows\n"
    monkeypatch.setattr(progress, "shown", lambda: True)
    shown = runner.invoke(main, [*args, "-o", str(tmp_path / "b.zip")])
    assert shown.exit_code == 0 and "relu-softmax-rows: 2 variant(s)" in shown.output
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_tracked_sequence_counts_what_was_walked():
    from gradekit.cli.progress import Tracked

    done = []
    items = Tracked([1, 2, 3], done.append)
    assert len(items) == 3 and items[0] == 1 and list(items) == [1, 2, 3] and done == [1, 1, 1]
