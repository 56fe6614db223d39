"""`gradekit grade`: the options, then gradekit.reports.batch does the work and says how it went."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click

from gradekit.cli import options as opt


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="SUBMISSION_OR_FOLDER...")
@opt.secret_file_option("The course secret: variants come from each student's id, never from a seed in the file.")
@opt.roster_option("CSV with columns id,name (as for generate): grade only ids on it, exactly as written; "
                   "list its students with no file as missing.")
@click.option("--keep", type=click.Choice(["latest", "best", "first"]), default="latest", show_default=True,
              help="Which of a student's graded files counts: latest or first (by the file's \"submitted\" "
                   "field, else its file time), or best (most points).")
@click.option("--sheet", "sheet_refs", multiple=True, metavar="SHEET|PATH",
              help="A sheet or problem spec that is not built in (submissions name it by id). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "gradescope", "html"]), default="text",
              show_default=True, help="Report format (csv: a gradebook, plus an item analysis beside it with -o; "
                                      "html: a self-contained class page with charts).")
@opt.output_option(None, "Write the report here (atomically) instead of to standard output.")
@click.option("--max-bytes", default=1_000_000, show_default=True, type=click.IntRange(1, 1_000_000_000),
              help="Refuse submission files larger than this.")
@click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Also write a feedback page (HTML and Markdown) per student into DIR, "
                                  "one folder each, named as generate --roster names them.")
@click.option("--feedback-zip", is_flag=True, help="With --feedback: also a zip of each student's folder.")
@opt.jobs_option("Worker processes for large batches (default: all cores).")
def grade(paths: tuple[Path, ...], secret_file: Path | None, roster: Path | None, keep: str,
          sheet_refs: tuple[str, ...], fmt: str, output: Path | None, max_bytes: int, feedback_dir: Path | None,
          feedback_zip: bool, jobs: int) -> None:
    """Grade submissions (files, or folders of *.json) against their regenerated keys.

    Exit 0 when every submission was graded, whatever the scores; 1 when some could not be
    graded (each still reported with its reason); 2 for a missing input or an unwritable output.
    """
    from gradekit.cli import progress
    from gradekit.reports import batch
    from gradekit.util.untrusted import path_text

    options = batch.GradeOptions(format=fmt, output=output, secret_file=secret_file, roster=roster, keep=keep,
                                 sheets=sheet_refs, max_bytes=max_bytes, jobs=jobs, feedback=feedback_dir,
                                 feedback_zip=feedback_zip)
    if feedback_zip and feedback_dir is None:
        raise click.UsageError("--feedback-zip needs --feedback DIR")
    job = batch.prepare(paths, options)
    # A bar only when the report goes to a file: on a terminal it would interleave with the report.
    bar = progress.bar(len(job.files), f"grading {len(job.files)} files") if output is not None \
        else nullcontext(lambda done: None)
    math = None
    if feedback_dir is not None:
        from gradekit.exports.mathml import math
    with bar as update:
        outcome = job.run(lambda piece: click.echo(piece, nl=False), update, math,
                          lambda n: progress.bar(n, f"feedback for {n} students"))
    if outcome.written and outcome.format != "gradescope":  # results.json is for Gradescope, not a person
        click.echo(f"wrote {' and '.join(path_text(p) for p in outcome.written)}")
    if outcome.feedback is not None:
        fb = outcome.feedback
        for line in fb.failed:
            click.echo(f"gradekit: {line}", err=True)
        click.echo(f"wrote feedback for {fb.students} students in {path_text(fb.folder)}", err=output is None)
    if outcome.ungraded:
        click.echo(f"gradekit: {outcome.ungraded} of {outcome.files} files could not be graded", err=True)
    if outcome.exit_code:
        click.get_current_context().exit(outcome.exit_code)
