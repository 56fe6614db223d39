"""What the LaTeX tests share: tools that must exist under CI, a PDF's text, a course folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradekit.cli import main


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required under CI (install Debian's TeX packages and poppler-utils)")
        pytest.skip(f"{tool} is not installed")


def pdf_text(pdf: Path) -> str:
    """The PDF's text, NFC-composed (pdftotext gives a letter and its accent for accents TeX builds)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return unicodedata.normalize("NFC", text)


def course(tmp_path: Path, roster_csv: str) -> tuple[CliRunner, Path, Path]:
    """pdflatex and pdftotext present, a course secret and a roster: (runner, secret, roster)."""
    require("pdflatex")
    require("pdftotext")
    runner = CliRunner()
    secret = tmp_path / "course.key"
    runner.invoke(main, ["keygen", str(secret)])
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_csv, encoding="utf-8")
    return runner, secret, roster
