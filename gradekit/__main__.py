"""`python -m gradekit` runs the command-line interface."""

from gradekit.cli import main

main()
