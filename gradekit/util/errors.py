"""The one exception family of gradekit; the CLI turns each into a one-line message and an exit code.

Exit codes (documented in README.md):
  0  success
  1  the job ran but found a problem (a proof disagreed, a submission could not be graded)
  2  bad input: usage, a broken spec or sheet, a missing or unreadable file, an unsatisfiable spec
  3  a needed external tool is missing (pdflatex)
"""

from __future__ import annotations

from pathlib import Path

from gradekit.util.untrusted import escape


class GradekitError(Exception):
    """Base of every error gradekit reports to a user."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None):
        self.message = message
        self.source = escape(str(source)) if source is not None else None  # a file name may hold anything
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """`file: field: problem`, leaving out the parts that are unknown."""
        parts = [p for p in (self.source, self.field) if p]
        text = " ".join(self.message.split())  # one line, whatever the message held
        return ": ".join([*parts, text])


class OptionsError(GradekitError):
    """Command-line options that do not go together (a roster without a secret, ...)."""


class SpecError(GradekitError):
    """A problem or sheet spec is broken (unknown field, wrong type, bad shape, bad value)."""


class UnsatisfiableSpecError(GradekitError):
    """The sampler could not find a well-posed instance within its attempt budget."""


class InputFileError(GradekitError):
    """A file named on the command line is missing or cannot be read."""


class SubmissionError(GradekitError):
    """A submission cannot be graded; reported per file, never fatal to a batch."""

    exit_code = 1


class ToolMissingError(GradekitError):
    """An external program gradekit needs (pdflatex) is not installed."""

    exit_code = 3


class VerificationError(GradekitError):
    """The independent checks disagreed with the engine."""

    exit_code = 1


class QualityError(GradekitError):
    """A pool of variants breaks a quality rule (`gradekit stress`)."""

    exit_code = 1
