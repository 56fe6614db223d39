"""The command-line interface: click commands over library functions (entry point gradekit.cli:main)."""

from gradekit.cli.app import main

__all__ = ["main"]
