"""Commands that make exercises: generate, show, list, keygen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from gradekit.cli import options as opt

if TYPE_CHECKING:
    from gradekit.model.problem import Sheet
    from gradekit.render.documents import RenderOptions
    from gradekit.spec.roster import Student


@click.command()
@click.argument("refs", nargs=-1, metavar="[SHEET|PROBLEM|PATH]...")
@opt.seed_option()
@opt.output_option(Path("gradekit-out"), "Folder to write into.", folder=True)
@opt.roster_options
@click.option("--pdf", is_flag=True,
              help="Also compile sheet.pdf and solutions.pdf (pdflatex, or LuaLaTeX for names in other scripts).")
@opt.typeset_options
@opt.jobs_option("Worker processes for a roster (default: all cores).")
def generate(refs: tuple[str, ...], seed: int, output: Path, roster: Path | None, secret_file: Path | None,
             pdf: bool, work_space: float, tex_engine: str, jobs: int) -> None:
    """Generate sheets, worked solutions, answer key and answer template.

    With no argument: the default sheet `backprop-basics`, seed 0, into ./gradekit-out.
    What students receive goes to OUTPUT/handout (with --roster, a folder per student), the
    keys and worked solutions to OUTPUT/instructor: hand out only the handout folder.
    """
    opt.check_roster(roster, secret_file)
    sheets = opt.sheets(refs)
    options = opt.render_options(work_space, tex_engine)
    if roster is None:
        _generate_public(sheets, seed, output, pdf, options)
    else:
        _generate_roster(sheets, roster, secret_file, output, pdf, jobs, options)


def _generate_public(sheets: Sequence[Sheet], seed: int, output: Path, pdf: bool, options: RenderOptions) -> None:
    from gradekit.keys.key import make_key
    from gradekit.render.output import require_engines, sheet_folder, write_variant
    from gradekit.sampling.variants import Variant

    if pdf:
        require_engines(sheets, (), options.engine)  # before writing anything
    for sheet in sheets:
        folder = sheet_folder(output, sheet, len(sheets))
        written = write_variant(make_key(sheet, Variant(seed=seed)), folder, pdf=pdf, options=options)
        click.echo(f"{sheet.id} (seed {seed}) -> {folder}/: handout/ for students ({', '.join(written.handout)}); "
                   f"instructor/ to keep ({', '.join(written.instructor)})")


def _generate_roster(sheets: Sequence[Sheet], roster: Path, secret_file: Path, output: Path, pdf: bool, jobs: int,
                     options: RenderOptions) -> None:
    from gradekit.cli import progress
    from gradekit.render.output import require_engines, sheet_folder, write_roster
    from gradekit.sampling.variants import read_secret
    from gradekit.spec.roster import read_roster

    students = read_roster(roster)
    secret = read_secret(secret_file)
    if pdf:
        require_engines(sheets, students, options.engine)
    for sheet in sheets:
        warn_glyph_gaps(sheet, students, options, roster)
        base = sheet_folder(output, sheet, len(sheets))
        with progress.bar(len(students), f"{sheet.id}: {len(students)} students") as update:
            written = write_roster(sheet, students, secret, base, pdf, jobs, update, options)
        click.echo(f"{sheet.id} -> {base}/: handout/ for students, one folder each ({written}); "
                   "instructor/ to keep: keys, solutions and the index students.csv")


def warn_glyph_gaps(sheet: Sheet, students: Sequence[Student], options: RenderOptions, roster: Path) -> None:
    """A warning per student whose name or id has characters no font of their sheet has (they are
    printed as a boxed ?); the documents are written all the same."""
    from gradekit.grading.submission import quoted
    from gradekit.render.engines import glyph_gaps

    for gap in glyph_gaps(sheet, students, options.engine):
        click.echo(f"gradekit: warning: {roster}: student {quoted(gap.student.id)}: the {gap.engine} sheets have no "
                   f"glyph for {gap.describe()}; printed as a boxed ?", err=True)


@click.command()
@click.argument("ref", metavar="PROBLEM|SHEET|PATH")
@opt.seed_option()
@click.option("--solutions", is_flag=True, help="Show the worked solution too.")
def show(ref: str, seed: int, solutions: bool) -> None:
    """Print a problem (or sheet) in the terminal."""
    from gradekit.keys.key import make_key
    from gradekit.render.documents import render_text
    from gradekit.sampling.variants import Variant

    key = make_key(opt.sheet(ref), Variant(seed=seed))
    click.echo(render_text(key, solutions=solutions), nl=False)


@click.command("list")
def list_command() -> None:
    """List the built-in problems and sheets."""
    from gradekit.spec.reader import builtin_problem_paths, builtin_sheet_paths, load_problem, load_sheet

    click.echo("Sheets:")
    for sid, path in builtin_sheet_paths().items():
        sheet = load_sheet(path)
        click.echo(f"  {sid:34s} {len(sheet.entries)} problems. {sheet.description}")
    click.echo("Problems:")
    for pid, path in builtin_problem_paths().items():
        click.echo(f"  {pid:34s} {load_problem(path).description}")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen(path: Path) -> None:
    """Write a new random course secret to PATH (readable by you only; never overwritten).

    Keep it private: with it, anyone can regenerate every student's answer key.
    """
    from gradekit.sampling.variants import write_secret

    write_secret(path)
    click.echo(f"wrote a new course secret to {path} (mode 600)")


COMMANDS = (generate, show, list_command, keygen)
