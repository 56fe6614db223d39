"""The command-line interface: a thin click layer over the library.

Commands live by subject (generate, grade, export, check) and call library functions that say what
they did, which the commands print. Domain errors are one exception family (gradekit.util.errors);
they become a one-line message on stderr and the error's exit code here, in one place. Heavy
imports (SymPy, Jinja templates, NumPy, the grader) happen inside the commands that need them, so
`gradekit --help` stays instant.
"""

from __future__ import annotations

import click

from gradekit import __version__
from gradekit.cli import check, export, generate, grade
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


for _command in (*generate.COMMANDS, grade.grade, export.export, *check.COMMANDS):
    main.add_command(_command)
