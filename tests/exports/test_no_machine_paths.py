"""No export holds a path of the machine that made it: the repository, the home folder, the temp folder.

Exports go to students and to other platforms (PrairieLearn, Moodle, Canvas, Gradescope, Jupyter):
a folder of the instructor's computer in them tells others about it and means nothing there. Every
export is made here, by the CLI, from specs in a folder of the temporary folder (as an instructor's
own specs are in a folder of their own) and from built-in ones (which live in the repository or the
installed package), and every file it writes is read: each member of a zip too, except the
Gradescope zip's wheel (gradekit's own code, whose build records are not gradekit's output).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

import gradekit
from gradekit.cli import main
from gradekit.util.resources import problems_dir

REPO = Path(gradekit.__file__).resolve().parents[1]
SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"


def machine_paths(*more: Path) -> list[str]:
    """The folders no export may name, each as a prefix ending in '/' (every file in them starts so)."""
    folders = {REPO, Path.home(), Path(tempfile.gettempdir()), Path.cwd(), *more}
    folders |= {p.resolve() for p in folders}
    return sorted({str(p).rstrip("/") + "/" for p in folders if len(p.parts) > 1})  # never "/" itself


def exported_files(folder: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `folder` by its relative name, with each zip opened (ZIP!MEMBER)."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name, data = path.relative_to(folder).as_posix(), path.read_bytes()
        if path.suffix != ".zip":
            yield name, data
            continue
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if not member.endswith(".whl"):
                    yield f"{name}!{member}", archive.read(member)


def leaks(folder: Path, needles: list[str]) -> list[str]:
    """`FILE: PATH` for every machine path found in an exported file."""
    return [f"{name}: {needle}" for name, data in exported_files(folder) for needle in needles
            if needle.encode() in data]


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> Path:
    """An instructor's own specs: a problem (a built-in one copied under another id) and a sheet
    that names it by relative path and a built-in problem by id."""
    folder = tmp_path_factory.mktemp("my specs")
    text = (problems_dir() / "relu-softmax-rows.toml").read_text(encoding="utf-8")
    text = text.replace('id = "relu-softmax-rows"', 'id = "my-relu"')
    (folder / "my-relu.toml").write_text(text, encoding="utf-8")
    (folder / "sheet.toml").write_text('id = "my-sheet"\ntitle = "My sheet"\n'
                                       '[[problems]]\nproblem = "my-relu.toml"\npoints = 10\n'
                                       '[[problems]]\nproblem = "tanh-softmax-columns"\npoints = 10\n',
                                       encoding="utf-8")
    (folder / "roster.csv").write_text("id,name\ns001,Ada Lovelace\ns002,Zhang Wei\n", encoding="utf-8")
    (folder / "course.key").write_text(SECRET, encoding="utf-8")
    return folder


EXPORTS = ["gradescope", "html", "latex", "moodle", "notebook", "prairielearn", "qti"]


def export_runs(what: str, specs: Path, out: Path) -> list[list[str]]:
    """The options of each run of an export: a public seed (or a pool of them), and a roster with
    the course secret where the export takes one."""
    secret = ["--secret-file", str(specs / "course.key")]
    if what == "gradescope":
        return [[*secret, "-o", str(out / "autograder.zip")]]
    if what == "prairielearn":
        return [["--count", "2", "-o", str(out / "course")]]
    name = {"moodle": "moodle.xml", "qti": "qti.zip"}.get(what, what)
    pool = ["--count", "2"] if what == "moodle" else []
    roster = ["--roster", str(specs / "roster.csv"), *secret]
    return [[*pool, "-o", str(out / name)], [*roster, "-o", str(out / f"roster-{name}")]]


@pytest.mark.parametrize("what", EXPORTS)
@pytest.mark.parametrize("ref", ["sheet.toml", "my-relu.toml", "relu-softmax-rows"])
def test_no_export_names_a_folder_of_the_exporting_machine(specs, tmp_path, what, ref):
    out = tmp_path / "out"
    source = str(specs / ref) if ref.endswith(".toml") else ref
    runs = export_runs(what, specs, out)
    for options in runs:
        result = CliRunner().invoke(main, ["export", what, source, *options])
        assert result.exit_code == 0, result.output
    assert len(list(exported_files(out))) >= len(runs)
    assert leaks(out, machine_paths(specs, tmp_path)) == []


def test_the_scan_finds_a_machine_path_in_a_file_and_in_a_zip_member(specs, tmp_path):
    (tmp_path / "a.json").write_text(f'{{"source": "{specs / "my-relu.toml"}"}}', encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.writestr("inner/setup.sh", f"cd {REPO}/problems\n")
        z.writestr("gradekit-0.1.0-py3-none-any.whl", f"{REPO}/gradekit/__init__.py")  # left out: gradekit's code
    needles = machine_paths(specs)
    assert str(REPO) + "/" in needles and tempfile.gettempdir().rstrip("/") + "/" in needles
    found = leaks(tmp_path, needles)
    assert {line.split(": ")[0] for line in found} == {"a.json", "b.zip!inner/setup.sh"}, found
