"""Find the data folders (templates/, problems/) whether installed, editable, or run from a clone."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gradekit.util.errors import InputFileError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # gradekit/, above util/


@cache
def data_dir(name: str) -> Path:
    """The folder `name`: inside the package in a wheel, at the repository top in a clone."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise InputFileError(f"gradekit's built-in '{name}' folder is missing from the installation", source=_PACKAGE_DIR)


def templates_dir() -> Path:
    return data_dir("templates")


def problems_dir() -> Path:
    return data_dir("problems")
