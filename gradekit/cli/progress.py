"""Progress bars for commands that take a while: click's bar on a terminal, nothing otherwise.

A script, a pipe or a CI log gets no bar and no label (click would still print its label when
the output is not a terminal), so output that is parsed stays exactly the command's own.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")


def shown() -> bool:
    """Whether progress is shown: standard error is a terminal."""
    return sys.stderr.isatty()


@contextmanager
def bar(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """A function to call with each step's count of items done."""
    if not shown():
        yield lambda done: None
        return
    import click

    with click.progressbar(length=length, label=label, file=sys.stderr) as progress:
        yield progress.update


class Tracked(Sequence[T]):
    """A sequence that moves a progress bar as it is iterated: the writers of exports walk their
    variants once, so the bar follows them without knowing about it."""

    def __init__(self, items: Sequence[T], update: Callable[[int], None]):
        self.items, self.update = items, update

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's signature
        return self.items[index]

    def __iter__(self) -> Iterator[T]:
        for item in self.items:
            yield item
            self.update(1)
