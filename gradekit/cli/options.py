"""Options that several commands share, defined once, and what they turn into.

Imports stay light (no NumPy, Jinja or SymPy before a command runs): `gradekit --help` is instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import click

if TYPE_CHECKING:
    from gradekit.model.problem import Sheet
    from gradekit.render.documents import RenderOptions

F = TypeVar("F", bound=Callable[..., object])
TEX_ENGINES = ("auto", "pdflatex", "lualatex")  # auto: gradekit.render.engines.tex_engine chooses


def _apply(command: F, *decorators: Callable[[F], F]) -> F:
    """Decorators applied as if written above the command in this order."""
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


SECRET_HELP = "The course secret (from `gradekit keygen`)."
ROSTER_HELP = "CSV with columns id,name: one secret variant per student (needs --secret-file)."


def secret_file_option(help: str = SECRET_HELP, required: bool = False) -> Callable[[F], F]:
    return click.option("--secret-file", required=required, type=click.Path(dir_okay=False, path_type=Path),
                        help=help)


def roster_option(help: str = ROSTER_HELP) -> Callable[[F], F]:
    return click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), help=help)


def roster_options(command: F) -> F:
    """--roster and --secret-file, for every command that makes one variant per student."""
    return _apply(command, roster_option(), secret_file_option())


def seed_option(help: str = "Seed of the (public) variant.") -> Callable[[F], F]:
    return click.option("--seed", default=0, show_default=True, type=int, help=help)


def ref_argument(command: F) -> F:
    """The one sheet, problem or spec path an export covers (default: the built-in default sheet)."""
    return click.argument("ref", required=False, metavar="[SHEET|PROBLEM|PATH]")(command)


def variant_options(command: F) -> F:
    """What every per-variant export shares: one sheet, and a seed or a roster with the secret."""
    return _apply(command, ref_argument, seed_option(), roster_options)


def output_option(default: Path | None, help: str, folder: bool = False) -> Callable[[F], F]:
    """-o/--output: a folder to write into, or one file."""
    kind = click.Path(file_okay=False, path_type=Path) if folder else click.Path(dir_okay=False, path_type=Path)
    return click.option("-o", "--output", default=default, show_default=default is not None, type=kind, help=help)


def _all_cores(ctx: click.Context, param: click.Parameter, value: int | None) -> int:
    return value or os.cpu_count() or 1


def jobs_option(help: str) -> Callable[[F], F]:
    """--jobs: worker processes, all cores when not given."""
    return click.option("--jobs", default=None, type=click.IntRange(1, 64), callback=_all_cores, help=help)


def typeset_options(command: F) -> F:
    """--work-space and --tex-engine, for every command that writes LaTeX sheets."""
    return _apply(
        command,
        click.option("--work-space", type=click.FloatRange(0, 25), default=0, show_default=True, metavar="CM",
                     help="Blank space (cm) under each asked quantity on the LaTeX sheets, for working by hand."),
        click.option("--tex-engine", type=click.Choice(TEX_ENGINES), default="auto", show_default=True,
                     help="TeX engine the LaTeX is written for: auto uses pdflatex when every name and title is in "
                          "a Latin script it can set, LuaLaTeX (Noto fonts) for any other script."))


def render_options(work_space: float, tex_engine: str) -> RenderOptions:
    from gradekit.render.documents import RenderOptions

    return RenderOptions(work_space=work_space, engine=tex_engine)


def check_roster(roster: Path | None, secret_file: Path | None) -> None:
    """A roster needs the course secret (each student's variant comes from it); a secret alone means nothing."""
    from gradekit.util.errors import OptionsError

    if roster is not None and secret_file is None:
        raise OptionsError("--roster needs --secret-file (each student's variant comes from the course secret)")
    if roster is None and secret_file is not None:
        raise OptionsError("--secret-file makes per-student variants: give a --roster too")


def sheets(refs: tuple[str, ...]) -> list[Sheet]:
    """The sheets (or problems, or spec paths) named, or the built-in default sheet."""
    from gradekit.spec.reader import DEFAULT_SHEET, resolve

    return [resolve(r) for r in (refs or (DEFAULT_SHEET,))]


def sheet(ref: str | None) -> Sheet:
    return sheets((ref,) if ref else ())[0]
