"""The command-line interface: click commands over library functions."""

from gradekit.cli.commands import main

__all__ = ["main"]
