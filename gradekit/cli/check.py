"""Commands that check: verify (the answer keys against independent derivatives) and stress (a
pool of variants against the quality rules). Each exits 1 through its domain error when a check fails."""

from __future__ import annotations

import click

from gradekit.cli import options as opt


@click.command()
@click.option("--count", default=10, show_default=True, type=click.IntRange(1, 10_000),
              help="Random instances per configuration.")
@opt.seed_option("Seed of the instances.")
@click.option("--sympy-count", type=click.IntRange(0, 10_000), default=None,
              help="Check only this many instances per configuration with SymPy (default: all).")
@click.option("--engine", "engine_set", is_flag=True,
              help="Check the engine's own set of configurations (every activation, loss, layout, bias "
                   "kind, depth 1-3, batch norm; every gate of a computational graph) instead of the built-in problems.")
@opt.jobs_option("Worker processes (default: all cores).")
def verify(count: int, seed: int, sympy_count: int | None, engine_set: bool, jobs: int) -> None:
    """Prove the answer keys: compare every gradient, update and loss after the update with
    centred finite differences and with SymPy's symbolic derivatives. Exit 1 on any disagreement."""
    from gradekit.cli import progress
    from gradekit.proof import checks as proof
    from gradekit.util.errors import VerificationError

    configs = (proof.engine_configurations() + proof.circuit_configurations() + proof.rnn_configurations()
               + proof.cnn_configurations() + proof.optimizer_configurations()
               if engine_set else proof.builtin_configurations(seed))
    with progress.bar(len(configs), f"checking {len(configs)} configurations") as update:
        rows = proof.verify(configs, count, seed, sympy_count=sympy_count, jobs=jobs, progress=update)
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


@click.command()
@click.argument("ref", metavar="PROBLEM|SHEET|PATH")
@click.option("--count", default=10_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Variants per problem: the public seeds 0..COUNT-1.")
def stress(ref: str, count: int) -> None:
    """Report on a pool of variants before publishing: how many the spec can make, how often each
    quality rule rejects a draw, per asked quantity its range and share printing as 0, class balance,
    degenerate variants and the worst seeds. Exit 1 when a variant breaks a rule that is on."""
    from gradekit.sampling.stress import report, stress_problem
    from gradekit.util.errors import QualityError

    sheet = opt.sheet(ref)
    failed = []
    for entry in sheet.entries:
        result = stress_problem(sheet.id, entry.problem, count)
        click.echo(report(ref, result))
        if result.failures:
            failed.append(f"{entry.problem.id} ({', '.join(result.failures)})")
    if failed:
        raise QualityError(f"variants break quality rules in: {'; '.join(failed)}")
    click.echo(f"all {len(sheet.entries)} problem(s): 0 of {count:,} variants break a rule")


COMMANDS = (verify, stress)
