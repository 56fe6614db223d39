"""Shared fixtures (a helper to write spec files) and the hypothesis profiles.

Tests never depend on luck: by default (and so in CI) hypothesis runs the `fixed` profile,
which draws the same examples on every run and machine (derandomized, no example database).
`python -m pytest --hypothesis-profile explore` draws new random examples on every run, to
look for trouble; a failure it finds prints the seed to replay it (README: "Testing").
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("fixed")  # --hypothesis-profile NAME, handled by hypothesis' plugin, loads another


@pytest.fixture
def write_toml(tmp_path: Path):
    """Write dedented TOML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "spec.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is marked `e2e`, so `-m "not e2e"` leaves them out."""
    for item in items:
        if E2E in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
