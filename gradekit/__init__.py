"""gradekit: backpropagation-by-hand exercises with proven answer keys, and their grader."""

from __future__ import annotations

__version__ = "0.1.0"
