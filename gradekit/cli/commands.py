"""The command-line interface: a thin click layer over the library.

Domain errors are one exception family (gradekit.util.errors); they become a one-line message on
stderr and the error's exit code here, in one place. Heavy imports (SymPy, Jinja templates,
the grader) happen inside the commands that need them, so `gradekit --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gradekit import __version__
from gradekit.util.errors import GradekitError


class _Group(click.Group):
    """A click group that reports gradekit's errors as one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except GradekitError as e:
            click.echo(f"gradekit: error: {e.one_line()}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("gradekit: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gradekit")
def main() -> None:
    """Backpropagation-by-hand exercises with proven answer keys, and a grader for them.

    Exit codes: 0 success; 1 the job found a problem (a check disagreed, a submission could
    not be graded); 2 bad input (usage, spec, missing file); 3 a needed tool is missing.
    """


def _roster_options(command):  # noqa: ANN001, ANN202 - a click decorator
    """--roster and --secret-file, for every command that makes one variant per student."""
    command = click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path),
                           help="The course secret (from `gradekit keygen`).")(command)
    return click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
                        help="CSV with columns id,name: one secret variant per student (needs --secret-file).")(command)


def _typeset_options(command):  # noqa: ANN001, ANN202 - a click decorator
    """--work-space and --tex-engine, for every command that writes LaTeX sheets."""
    command = click.option("--tex-engine", type=click.Choice(["auto", "pdflatex", "lualatex"]), default="auto",
                           show_default=True,
                           help="TeX engine the LaTeX is written for: auto uses pdflatex when every name and "
                                "title is in a Latin script it can set, LuaLaTeX (Noto fonts) for any other "
                                "script.")(command)
    return click.option("--work-space", type=click.FloatRange(0, 25), default=0, show_default=True, metavar="CM",
                        help="Blank space (cm) under each asked quantity on the LaTeX sheets, for working "
                             "by hand.")(command)


def _render_options(work_space: float, tex_engine: str):  # noqa: ANN202 - a RenderOptions
    from gradekit.render.documents import RenderOptions

    return RenderOptions(work_space=work_space, engine=tex_engine)


def _warn_missing_glyphs(students, sheet, options, roster: Path) -> None:  # noqa: ANN001
    """A warning per student whose name or id has characters no font of their sheet has
    (they are printed as a boxed ?); the documents are written all the same."""
    from gradekit.render import fonts as glyphs
    from gradekit.render import formatting as fmt
    from gradekit.grading.submission import quoted

    texts = [sheet.title, sheet.instructions, *(t for e in sheet.entries
                                                for t in (e.problem.title, e.problem.statement, e.instructions))]
    for s in students:
        engine = options.engine if options.engine != "auto" else glyphs.engine_for([*texts, s.name, s.id])
        chars = fmt.missing_glyphs(s.name, engine) + [c for c in fmt.missing_glyphs(s.id, engine)
                                                  if c not in fmt.missing_glyphs(s.name, engine)]
        if chars:
            click.echo(f"gradekit: warning: {roster}: student {quoted(s.id)}: the {engine} sheets have no glyph for "
                       f"{fmt.describe_chars(chars)}; printed as a boxed ?", err=True)


def _check_engines(sheets, students, options) -> None:  # noqa: ANN001
    """Fail before writing anything when --pdf needs an engine that is not installed."""
    from gradekit.render import fonts as glyphs
    from gradekit.render.output import tex_program

    if options.engine != "auto":
        tex_program(options.engine)
        return
    texts = [t for sheet in sheets for t in (sheet.title, sheet.instructions)]
    texts += [t for sheet in sheets for e in sheet.entries for t in (e.problem.title, e.problem.statement, e.instructions)]
    engines = {glyphs.engine_for(texts)} if not students else {glyphs.engine_for([*texts, s.name, s.id]) for s in students}
    for engine in sorted(engines):
        tex_program(engine)


def _check_roster(roster: Path | None, secret_file: Path | None) -> None:
    """A roster needs the course secret (each student's variant comes from it); a secret alone means nothing."""
    from gradekit.util.errors import OptionsError

    if roster is not None and secret_file is None:
        raise OptionsError("--roster needs --secret-file (each student's variant comes from the course secret)")
    if roster is None and secret_file is not None:
        raise OptionsError("--secret-file makes per-student variants: give a --roster too")


def _sheets(refs: tuple[str, ...]):
    from gradekit.spec.reader import DEFAULT_SHEET, resolve

    return [resolve(r) for r in (refs or (DEFAULT_SHEET,))]


@main.command()
@click.argument("refs", nargs=-1, metavar="[SHEET|PROBLEM|PATH]...")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the (public) variant.")
@click.option("-o", "--output", default=Path("gradekit-out"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write into.")
@_roster_options
@click.option("--pdf", is_flag=True,
              help="Also compile sheet.pdf and solutions.pdf (pdflatex, or LuaLaTeX for names in other scripts).")
@_typeset_options
@click.option("--jobs", default=None, type=click.IntRange(1, 64),
              help="Worker processes for a roster (default: all cores).")
def generate(refs: tuple[str, ...], seed: int, output: Path, roster: Path | None, secret_file: Path | None,
             pdf: bool, work_space: float, tex_engine: str, jobs: int | None) -> None:
    """Generate sheets, worked solutions, answer key and answer template.

    With no argument: the default sheet `backprop-basics`, seed 0, into ./gradekit-out.
    What students receive goes to OUTPUT/handout (with --roster, a folder per student), the
    keys and worked solutions to OUTPUT/instructor: hand out only the handout folder.
    """
    _check_roster(roster, secret_file)
    sheets = _sheets(refs)
    options = _render_options(work_space, tex_engine)
    if roster is None:
        if pdf:
            _check_engines(sheets, (), options)  # fail before writing anything when the engine is missing
        _generate_public(sheets, seed, output, pdf, options)
    else:
        import os

        _generate_roster(sheets, roster, secret_file, output, pdf, jobs or os.cpu_count() or 1, options)


def _generate_public(sheets, seed: int, output: Path, pdf: bool, options) -> None:  # noqa: ANN001
    from gradekit.render.output import write_variant
    from gradekit.keys.key import make_key
    from gradekit.sampling.variants import Variant

    for sheet in sheets:
        folder = output / sheet.id if len(sheets) > 1 else output
        written = write_variant(make_key(sheet, Variant(seed=seed)), folder, pdf=pdf, options=options)
        click.echo(f"{sheet.id} (seed {seed}) -> {folder}/: handout/ for students ({', '.join(written.handout)}); "
                   f"instructor/ to keep ({', '.join(written.instructor)})")


def _generate_roster(sheets, roster: Path, secret_file: Path, output: Path, pdf: bool, jobs: int,  # noqa: ANN001
                     options) -> None:  # noqa: ANN001
    from gradekit.cli import progress
    from gradekit.render.output import write_roster
    from gradekit.spec.roster import read_roster
    from gradekit.sampling.variants import read_secret

    students = read_roster(roster)
    secret = read_secret(secret_file)
    if pdf:
        _check_engines(sheets, students, options)
    for sheet in sheets:
        _warn_missing_glyphs(students, sheet, options, roster)
        base = output / sheet.id if len(sheets) > 1 else output
        with progress.bar(len(students), f"{sheet.id}: {len(students)} students") as update:
            write_roster(sheet, students, secret, base, pdf, jobs, update, options)
        click.echo(f"{sheet.id} -> {base}/: handout/ for students, one folder each ({len(students)}); "
                   "instructor/ to keep: keys, solutions and the index students.csv")


@main.command()
@click.argument("ref", metavar="PROBLEM|SHEET|PATH")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the (public) variant.")
@click.option("--solutions", is_flag=True, help="Show the worked solution too.")
def show(ref: str, seed: int, solutions: bool) -> None:
    """Print a problem (or sheet) in the terminal."""
    from gradekit.keys.key import make_key
    from gradekit.render.documents import render_text
    from gradekit.sampling.variants import Variant

    key = make_key(_sheets((ref,))[0], Variant(seed=seed))
    click.echo(render_text(key, solutions=solutions), nl=False)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="SUBMISSION_OR_FOLDER...")
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The course secret: variants come from each student's id, never from a seed in the file.")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with columns id,name (as for generate): grade only ids on it, exactly as written; "
                   "list its students with no file as missing.")
@click.option("--keep", type=click.Choice(["latest", "best", "first"]), default="latest", show_default=True,
              help="Which of a student's graded files counts: latest or first (by the file's \"submitted\" "
                   "field, else its file time), or best (most points).")
@click.option("--sheet", "sheet_refs", multiple=True, metavar="SHEET|PATH",
              help="A sheet or problem spec that is not built in (submissions name it by id). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "gradescope"]), default="text",
              show_default=True, help="Report format (csv: a gradebook, plus an item analysis beside it with -o).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here (atomically) instead of to standard output.")
@click.option("--max-bytes", default=1_000_000, show_default=True, type=click.IntRange(1, 1_000_000_000),
              help="Refuse submission files larger than this.")
@click.option("--jobs", default=None, type=click.IntRange(1, 64),
              help="Worker processes for large batches (default: all cores).")
def grade(paths: tuple[Path, ...], secret_file: Path | None, roster: Path | None, keep: str,
          sheet_refs: tuple[str, ...], fmt: str, output: Path | None, max_bytes: int, jobs: int | None) -> None:
    """Grade submissions (files, or folders of *.json) against their regenerated keys.

    Exit 0 when every submission was graded, whatever the scores; 1 when some could not be
    graded (each still reported with its reason); 2 for a missing input or an unwritable output.
    """
    import os
    from contextlib import nullcontext

    from gradekit.cli import progress
    from gradekit.reports import writers as reports
    from gradekit.grading.grade import grade_files, submission_files
    from gradekit.spec.roster import read_roster
    from gradekit.spec.reader import resolve
    from gradekit.util.untrusted import path_text
    from gradekit.sampling.variants import read_secret

    secret = read_secret(secret_file) if secret_file else None
    students = read_roster(roster) if roster is not None else None
    files, skipped = submission_files(paths)
    extra = {s.id: s for s in (resolve(r) for r in sheet_refs)}
    if fmt == "gradescope" and len(files) != 1:
        from gradekit.util.errors import OptionsError

        raise OptionsError(f"--format gradescope writes the results of one submission; got {len(files)} .json files")
    on_roster = {s.id: s.name for s in students} if students is not None else None
    # A bar only when the report goes to a file: on a terminal it would interleave with the report.
    bar = progress.bar(len(files), f"grading {len(files)} files") if output is not None else nullcontext(_no_progress)
    with bar as update:
        graded = _counted(grade_files(files, extra, secret, max_bytes, jobs or os.cpu_count() or 1, on_roster), update)
        chunks = _chain(graded, skipped)
        if fmt == "gradescope":
            results = [r for chunk in chunks for r in chunk]
            ungraded = sum(not r.graded for r in results)
            _emit([reports.gradescope_json(results[0])], output)
        else:
            tally = reports.Tally(students, keep)
            _emit(reports.PIECES[fmt](chunks, tally), output)
    if fmt != "gradescope":
        if fmt == "csv" and output is not None:
            items = output.with_name(output.stem + "-items.csv")
            reports.write_atomic(items, reports.item_analysis_text(tally))
            click.echo(f"wrote {path_text(output)} and {path_text(items)}")
        elif output is not None:
            click.echo(f"wrote {path_text(output)}")
        ungraded = tally.rows - tally.graded
    total = len(files) + len(skipped)
    if ungraded:
        click.echo(f"gradekit: {ungraded} of {total} files could not be graded", err=True)
        click.get_current_context().exit(1)


def _no_progress(done: int) -> None:
    """A progress callback that shows nothing."""


def _counted(chunks, update):  # noqa: ANN001, ANN202 - report chunks, and a progress callback
    for chunk in chunks:
        update(len(chunk))
        yield chunk


def _chain(chunks, last):  # noqa: ANN001, ANN202 - report chunks, then one more chunk
    yield from chunks
    if last:
        yield last


def _emit(pieces, output: Path | None) -> None:  # noqa: ANN001 - an iterable of text pieces
    """Text pieces to standard output, or atomically into `output` (opened before the first piece)."""
    if output is None:
        for piece in pieces:
            click.echo(piece, nl=False)
        return
    from gradekit.reports.writers import atomic_writer

    with atomic_writer(output) as f:
        for piece in pieces:
            f.write(piece)


@main.group()
def export() -> None:
    """Export exercises into other tools' formats."""


@export.command("latex")
@click.argument("refs", nargs=-1, metavar="[SHEET|PROBLEM|PATH]...")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the (public) variant of the fragments.")
@_roster_options
@click.option("-o", "--output", default=Path("gradekit-latex"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write the .tex files into.")
@_typeset_options
def export_latex(refs: tuple[str, ...], seed: int, roster: Path | None, secret_file: Path | None,
                 output: Path, work_space: float, tex_engine: str) -> None:
    """Body-only LaTeX fragments (no preamble) to \\input into your own documents.

    Writes PROBLEM-exercise.tex and PROBLEM-solution.tex per problem (seed variant), without
    problem numbers or points headings (your document numbers its questions); with --roster,
    one roster-sheets.tex with every student's sheet, each starting on a right-hand page.
    """
    from gradekit.cli import progress
    from gradekit.render.output import write_documents
    from gradekit.keys.key import make_key, student_keys
    from gradekit.render.documents import latex_fragments, latex_roster
    from gradekit.spec.roster import read_roster
    from gradekit.sampling.variants import Variant, read_secret

    _check_roster(roster, secret_file)
    options = _render_options(work_space, tex_engine)
    for sheet in _sheets(refs):
        folder = output / sheet.id if len(refs) > 1 else output
        docs = latex_fragments(make_key(sheet, Variant(seed=seed)), options)
        if roster is not None:
            secret = read_secret(secret_file)
            students = read_roster(roster)
            _warn_missing_glyphs(students, sheet, options, roster)
            with progress.bar(len(students), f"{sheet.id}: {len(students)} students") as update:
                keys = [(key, s.name) for key, s in zip(student_keys(sheet, students, secret), students)]
                update(len(students) // 2)  # the keys are about half the work, the document the rest
                docs["roster-sheets.tex"] = latex_roster(keys, sheet.title, options)
                update(len(students) - len(students) // 2)
        write_documents(folder, docs)
        click.echo(f"{sheet.id} -> {folder}/: {', '.join(docs)}")


def _variant_options(command):  # noqa: ANN001, ANN202 - a click decorator
    """The options every per-variant export shares: one sheet, and a seed or a roster with the secret."""
    for option in reversed([
        click.argument("ref", required=False, metavar="[SHEET|PROBLEM|PATH]"),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the (public) variant."),
        _roster_options,
    ]):
        command = option(command)
    return command


def _export_keys(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None):  # noqa: ANN202
    """The variants an export covers: the seed's, or each student's on the roster (from the secret)."""
    from gradekit.exports.common import public_keys, roster_keys
    from gradekit.spec.roster import read_roster
    from gradekit.sampling.variants import read_secret

    _check_roster(roster, secret_file)
    sheet = _sheets((ref,) if ref else ())[0]
    if roster is None:
        return public_keys(sheet, [seed])
    return roster_keys(sheet, read_roster(roster), read_secret(secret_file))


def _write_tracked(write, variants, *args):  # noqa: ANN001, ANN202
    """Run an export's writer with a progress bar that moves as it walks the variants."""
    from gradekit.cli import progress

    with progress.bar(len(variants), f"{variants[0].key.sheet.id}: {len(variants)} variant(s)") as update:
        return write(progress.Tracked(variants, update), *args)


@export.command("notebook")
@_variant_options
@click.option("-o", "--output", default=Path("gradekit-notebooks"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write the worksheets into.")
def export_notebook(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """Jupyter worksheets, one .ipynb per variant.

    The problems in Markdown, the given values as NumPy code, one cell per asked quantity, and a
    last cell that writes submission.json for `gradekit grade`.
    """
    from gradekit.exports import notebook

    variants = _export_keys(ref, seed, roster, secret_file)
    written = _write_tracked(notebook.write, variants, output)
    index = " and students.csv" if roster is not None else ""
    click.echo(f"{variants[0].key.sheet.id} -> {output}/: {len(written)} worksheet(s){index}")


@export.command("moodle")
@_variant_options
@click.option("--count", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="A pool of N public variants per problem: seeds S, S+1, ..., S+N-1 with S = --seed, "
                   "for a quiz that draws one random question per problem category.")
@click.option("-o", "--output", default=Path("gradekit-moodle.xml"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The Moodle XML file to write.")
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
        variants = _export_keys(ref, seed, roster, secret_file)
    else:
        variants = public_keys(_sheets((ref,) if ref else ())[0], range(seed, seed + count))
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
@_variant_options
@click.option("-o", "--output", default=Path("gradekit-qti.zip"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The QTI package (zip) to write.")
def export_qti(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """A QTI 1.2 package for Canvas: one quiz per variant, a numerical question per entry.

    Import it in Canvas: Settings > Import Course Content > QTI .zip file.
    """
    from gradekit.exports import qti

    variants = _export_keys(ref, seed, roster, secret_file)
    _write_tracked(qti.write, variants, output)
    click.echo(f"wrote {output}: {len(variants)} quiz(zes) of {variants[0].key.sheet.id}")


@export.command("prairielearn")
@click.argument("ref", required=False, metavar="[SHEET|PROBLEM|PATH]")
@click.option("--count", default=100, show_default=True, type=click.IntRange(1, 100_000), metavar="N",
              help="Variants per question: public seeds S, S+1, ..., S+N-1 with S = --seed.")
@click.option("--seed", default=0, show_default=True, type=int, help="The pool's first seed.")
@click.option("-o", "--output", default=Path("gradekit-prairielearn"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write questions/ and serverFilesCourse/ into (a course's root, or a copy).")
def export_prairielearn(ref: str | None, count: int, seed: int, output: Path) -> None:
    """PrairieLearn questions, one per problem, each with a pool of N variants.

    PrairieLearn's variant seed picks one of the N; server.py grades a submission with gradekit's
    own grader (bundled under serverFilesCourse/, NumPy only): each entry within its margin,
    follow-through credit and named mistakes as `gradekit grade` gives them.
    """
    from gradekit.cli import progress
    from gradekit.exports import prairielearn
    from gradekit.exports.common import public_keys

    sheet = _sheets((ref,) if ref else ())[0]
    variants = public_keys(sheet, range(seed, seed + count))
    with progress.bar(len(variants), f"{sheet.id}: {len(variants)} variant(s)") as update:
        written = prairielearn.write(progress.Tracked(variants, update), output)
    bundle, _ = prairielearn.bundle_files()
    click.echo(f"wrote {output}: {len(written)} question(s) in questions/gradekit/{sheet.id}/, {count} variant(s) "
               f"each (seeds {seed} to {seed + count - 1}); grader in serverFilesCourse/gradekit-bundles/{bundle}/")


@export.command("html")
@_variant_options
@click.option("-o", "--output", default=Path("gradekit-html"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write the pages into.")
def export_html(ref: str | None, seed: int, roster: Path | None, secret_file: Path | None, output: Path) -> None:
    """Self-contained HTML pages that work offline, one per variant.

    With --seed: a practice page that checks each answer against the key (the grader's margins),
    names known mistakes and shows worked solutions; it contains the answers. With --roster: a
    hand-in page per student, without answers. Both keep typed answers in the browser and
    download submission.json for `gradekit grade`.
    """
    from gradekit.exports import html

    variants = _export_keys(ref, seed, roster, secret_file)
    written = _write_tracked(html.write, variants, output)
    kind = "hand-in page(s), no answers, and students.csv" if roster is not None else "practice page(s), with the answers"
    click.echo(f"{variants[0].key.sheet.id} -> {output}/: {len(written)} {kind}")


@export.command("gradescope")
@click.argument("ref", required=False, metavar="[SHEET|PROBLEM|PATH]")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The course secret the students' variants came from; it goes into the zip (only).")
@click.option("-o", "--output", default=Path("autograder.zip"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The autograder zip to write (mode 600).")
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

    sheet = _sheets((ref,) if ref else ())[0]
    bundled = gradescope.read_wheel(wheel) if wheel is not None else None
    gradescope.write(gradescope.autograder_zip(sheet, read_secret(secret_file), bundled, match_student), output)
    click.echo(f"wrote {output} (mode 600: it holds the course secret) for sheet {sheet.id}; upload it to "
               "Gradescope as the assignment's autograder")


@main.command("list")
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


@main.command()
@click.option("--count", default=10, show_default=True, type=click.IntRange(1, 10_000),
              help="Random instances per configuration.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the instances.")
@click.option("--sympy-count", type=click.IntRange(0, 10_000), default=None,
              help="Check only this many instances per configuration with SymPy (default: all).")
@click.option("--engine", "engine_set", is_flag=True,
              help="Check the engine's own set of configurations (every activation, loss, layout, bias "
                   "kind, depth 1-3, batch norm) instead of the built-in problems.")
@click.option("--jobs", default=None, type=click.IntRange(1, 64), help="Worker processes (default: all cores).")
def verify(count: int, seed: int, sympy_count: int | None, engine_set: bool, jobs: int | None) -> None:
    """Prove the answer keys: compare every gradient, update and loss after the update with
    centred finite differences and with SymPy's symbolic derivatives. Exit 1 on any disagreement."""
    import os

    from gradekit.proof import checks as proof
    from gradekit.util.errors import VerificationError

    from gradekit.cli import progress

    configs = proof.engine_configurations() if engine_set else proof.builtin_configurations(seed)
    with progress.bar(len(configs), f"checking {len(configs)} configurations") as update:
        rows = proof.verify(configs, count, seed, sympy_count=sympy_count, jobs=jobs or os.cpu_count() or 1,
                            progress=update)
    width = max(len(r.label) for r in rows)
    click.echo(f"{'configuration':{width}s}  instances  finite-diff error  sympy error  verdict")
    for r in rows:
        sym = "not run" if r.sympy_error is None else f"{r.sympy_error:.1e}"
        click.echo(f"{r.label:{width}s}  {r.instances:9d}  {r.fd_error:17.1e}  {sym:>11s}  {r.verdict}")
    click.echo(f"tolerances: finite differences {proof.FD_TOLERANCE:g}, SymPy {proof.SYMPY_TOLERANCE:g} "
               "(largest |engine - check| / max(1, |check|))")
    bad = [f"{r.label} (worst: {r.worst})" for r in rows if not r.agrees]
    if bad:
        raise VerificationError(f"the engine disagrees with the independent checks on: {'; '.join(bad)}")
    click.echo(f"all {len(rows)} configurations agree")


@main.command()
@click.argument("ref", metavar="PROBLEM|SHEET|PATH")
@click.option("--count", default=10_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Variants per problem: the public seeds 0..COUNT-1.")
def stress(ref: str, count: int) -> None:
    """Report on a pool of variants before publishing: how many the spec can make, how often each
    quality rule rejects a draw, per asked quantity its range and share printing as 0, class balance,
    degenerate variants and the worst seeds. Exit 1 when a variant breaks a rule that is on."""
    from gradekit.util.errors import QualityError
    from gradekit.sampling.stress import report, stress_problem

    sheet = _sheets((ref,))[0]
    failed = []
    for entry in sheet.entries:
        result = stress_problem(sheet.id, entry.problem, count)
        click.echo(report(ref, result))
        if result.failures:
            failed.append(f"{entry.problem.id} ({', '.join(result.failures)})")
    if failed:
        raise QualityError(f"variants break quality rules in: {'; '.join(failed)}")
    click.echo(f"all {len(sheet.entries)} problem(s): 0 of {count:,} variants break a rule")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen(path: Path) -> None:
    """Write a new random course secret to PATH (readable by you only; never overwritten).

    Keep it private: with it, anyone can regenerate every student's answer key.
    """
    from gradekit.sampling.variants import write_secret

    write_secret(path)
    click.echo(f"wrote a new course secret to {path} (mode 600)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
