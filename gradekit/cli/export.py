"""`gradekit export ...`: exercises in other tools' formats. Each command resolves its options, calls
its exporter (gradekit.exports) and prints what was written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import click

from gradekit.cli import options as opt

if TYPE_CHECKING:
    from gradekit.exports.common import VariantKey


@click.group()
def export() -> None:
    """Export exercises into other tools' formats."""


@export.command("latex")
@click.argument("refs", nargs=-1, metavar="[SHEET|PROBLEM|PATH]...")
@opt.seed_option("Seed of the (public) variant of the fragments.")
@opt.roster_options
@opt.output_option(Path("gradekit-latex"), "Folder to write the .tex files into.", folder=True)
@opt.typeset_options
def export_latex(refs: tuple[str, ...], seed: int, roster: Path | None, secret_file: Path | None,
                 output: Path, work_space: float, tex_engine: str) -> None:
    """Body-only LaTeX fragments (no preamble) to \\input into your own documents.

    Writes PROBLEM-exercise.tex and PROBLEM-solution.tex per problem (seed variant), without
    problem numbers or points headings (your document numbers its questions); with --roster,
    one roster-sheets.tex with every student's sheet, each starting on a right-hand page.
    """
    from gradekit.cli import progress
    from gradekit.cli.generate import warn_glyph_gaps
    from gradekit.exports import latex
    from gradekit.render.output import sheet_folder
    from gradekit.sampling.variants import read_secret
    from gradekit.spec.roster import read_roster

    opt.check_roster(roster, secret_file)
    options = opt.render_options(work_space, tex_engine)
    sheets = opt.sheets(refs)
    students = read_roster(roster) if roster is not None else None
    secret = read_secret(secret_file) if secret_file is not None else None
    for sheet in sheets:
        folder = sheet_folder(output, sheet, len(sheets))
        if students is None:
            written = latex.write(sheet, seed, folder, options)
        else:
            warn_glyph_gaps(sheet, students, options, roster)
            with progress.bar(len(students), f"{sheet.id}: {len(students)} students") as update:
                written = latex.write(sheet, seed, folder, options, students, secret, update)
        click.echo(f"{sheet.id} -> {folder}/: {', '.join(written)}")


def _variants(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None) -> Sequence[VariantKey]:
    """The variants an export covers: the seed's, or each student's on the roster (from the secret)."""
    from gradekit.exports.common import public_keys, roster_keys
    from gradekit.sampling.variants import read_secret
    from gradekit.spec.roster import read_roster

    opt.check_roster(roster, secret_file)
    sheet = opt.sheet(ref)
    if roster is None:
        return public_keys(sheet, [seed])
    return roster_keys(sheet, read_roster(roster), read_secret(secret_file))


def _write_tracked(write: Callable, variants: Sequence[VariantKey], *args: object):  # noqa: ANN202
    """Run an export's writer with a progress bar that moves as it walks the variants."""
    from gradekit.cli import progress

    with progress.bar(len(variants), f"{variants[0].key.sheet.id}: {len(variants)} variant(s)") as update:
        return write(progress.Tracked(variants, update), *args)


@export.command("notebook")
@opt.variant_options
@opt.output_option(Path("gradekit-notebooks"), "Folder to write the worksheets into.", folder=True)
def export_notebook(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """Jupyter worksheets, one .ipynb per variant.

    The problems in Markdown, the given values as NumPy code, one cell per asked quantity, and a
    last cell that writes submission.json for `gradekit grade`.
    """
    from gradekit.exports import notebook

    variants = _variants(ref, seed, roster, secret_file)
    written = _write_tracked(notebook.write, variants, output)
    index = " and students.csv" if roster is not None else ""
    click.echo(f"{variants[0].key.sheet.id} -> {output}/: {len(written)} worksheet(s){index}")


@export.command("moodle")
@opt.variant_options
@click.option("--count", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="A pool of N public variants per problem: seeds S, S+1, ..., S+N-1 with S = --seed, "
                   "for a quiz that draws one random question per problem category.")
@opt.output_option(Path("gradekit-moodle.xml"), "The Moodle XML file to write.")
def export_moodle(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, count: int | None,
                  output: Path) -> None:
    """Moodle XML: one Cloze question per problem and variant, a NUMERICAL field per entry.

    Import it in Moodle's question bank (format: Moodle XML); each problem's questions land in
    the category $course$/gradekit/SHEET/PROBLEM. Field weights follow the sheet's points, with
    one multiple for every question, so each question's mark (their sum) is proportional to
    its problem's points.
    """
    from gradekit.cli import progress
    from gradekit.exports import moodle
    from gradekit.exports.common import public_keys

    if count is not None and roster is not None:
        raise click.UsageError("--count makes a pool of public variants; --roster makes one per student: use one")
    if count is None:
        variants = _variants(ref, seed, roster, secret_file)
    else:
        variants = public_keys(opt.sheet(ref), range(seed, seed + count))
    key = variants[0].key
    problems = len(key.problems)
    with progress.bar(len(variants) * problems, f"{key.sheet.id}: {len(variants)} variant(s)") as update:
        moodle.write(progress.Tracked(variants, update), output, pool=count is not None)
    weights = moodle.sheet_weights(key)
    seeds = f" (seeds {seed} to {seed + count - 1})" if count is not None else ""
    click.echo(f"wrote {output}: {len(variants) * problems} Cloze question(s){seeds}, "
               f"{len(variants)} per category $course$/gradekit/{key.sheet.id}/PROBLEM; "
               f"field weights {weights.per_point} per point{'' if weights.exact else ' (rounded)'}")


@export.command("qti")
@opt.variant_options
@opt.output_option(Path("gradekit-qti.zip"), "The QTI package (zip) to write.")
def export_qti(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """A QTI 1.2 package for Canvas: one quiz per variant, a numerical question per entry.

    Import it in Canvas: Settings > Import Course Content > QTI .zip file.
    """
    from gradekit.exports import qti

    variants = _variants(ref, seed, roster, secret_file)
    _write_tracked(qti.write, variants, output)
    click.echo(f"wrote {output}: {len(variants)} quiz(zes) of {variants[0].key.sheet.id}")


@export.command("prairielearn")
@opt.ref_argument
@click.option("--count", default=100, show_default=True, type=click.IntRange(1, 100_000), metavar="N",
              help="Variants per question: public seeds S, S+1, ..., S+N-1 with S = --seed.")
@opt.seed_option("The pool's first seed.")
@opt.output_option(Path("gradekit-prairielearn"),
                   "Folder to write questions/ and serverFilesCourse/ into (a course's root, or a copy).", folder=True)
def export_prairielearn(ref: str | None, count: int, seed: int, output: Path) -> None:
    """PrairieLearn questions, one per problem, each with a pool of N variants.

    PrairieLearn's variant seed picks one of the N; server.py grades a submission with gradekit's
    own grader (bundled under serverFilesCourse/, NumPy only): each entry within its margin,
    follow-through credit and named mistakes as `gradekit grade` gives them.
    """
    from gradekit.cli import progress
    from gradekit.exports import prairielearn
    from gradekit.exports.common import public_keys

    sheet = opt.sheet(ref)
    variants = public_keys(sheet, range(seed, seed + count))
    with progress.bar(len(variants), f"{sheet.id}: {len(variants)} variant(s)") as update:
        written = prairielearn.write(progress.Tracked(variants, update), output)
    bundle, _ = prairielearn.bundle_files()
    click.echo(f"wrote {output}: {len(written)} question(s) in questions/gradekit/{sheet.id}/, {count} variant(s) "
               f"each (seeds {seed} to {seed + count - 1}); grader in serverFilesCourse/gradekit-bundles/{bundle}/")


@export.command("html")
@opt.variant_options
@opt.output_option(Path("gradekit-html"), "Folder to write the pages into.", folder=True)
def export_html(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """Self-contained HTML pages that work offline, one per variant.

    With --seed: a practice page that checks each answer against the key (the grader's margins),
    names known mistakes and shows worked solutions; it contains the answers. With --roster: a
    hand-in page per student, without answers. Both keep typed answers in the browser and
    download submission.json for `gradekit grade`.
    """
    from gradekit.exports import html

    variants = _variants(ref, seed, roster, secret_file)
    written = _write_tracked(html.write, variants, output)
    kind = "hand-in page(s), no answers, and students.csv" if roster is not None else "practice page(s), with the answers"
    click.echo(f"{variants[0].key.sheet.id} -> {output}/: {len(written)} {kind}")


@export.command("gradescope")
@opt.ref_argument
@opt.secret_file_option("The course secret the students' variants came from; it goes into the zip (only).",
                        required=True)
@opt.output_option(Path("autograder.zip"), "The autograder zip to write (mode 600).")
@click.option("--wheel", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Bundle this gradekit wheel (from `python -m build`) instead of one made from this installation.")
@click.option("--match-student", type=click.Choice(["sid", "email", "none"]),
              help="Refuse a file whose student id is not the Gradescope submitter's SID (or email); "
                   "default: the SID, when Gradescope has one; none: grade whatever id the file claims.")
def export_gradescope(ref: str | None, secret_file: Path, output: Path, wheel: Path | None,
                      match_student: str | None) -> None:
    """A Gradescope autograder zip (setup.sh, run_autograder) for per-student variants.

    Gradescope's run_autograder grades the student's submission.json with `gradekit grade
    --format gradescope` and the course secret bundled in the zip. Never give this zip to students.
    """
    from gradekit.exports import gradescope
    from gradekit.sampling.variants import read_secret

    sheet = opt.sheet(ref)
    bundled = gradescope.read_wheel(wheel) if wheel is not None else None
    gradescope.write(gradescope.autograder_zip(sheet, read_secret(secret_file), bundled, match_student), output)
    click.echo(f"wrote {output} (mode 600: it holds the course secret) for sheet {sheet.id}; upload it to "
               "Gradescope as the assignment's autograder")
