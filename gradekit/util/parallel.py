"""Batch work on every core: a roster's variants, a folder of submissions.

Both are many small independent jobs, so a batch is cut into chunks, the chunks are done in
worker processes (or in this one, for small batches), and the results come back in order.
Each worker is set up once (its key cache, its sheet) by an initializer.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# CPython collects its youngest generation every 700 allocations of container objects. A batch
# allocates hundreds of thousands (parsed JSON, per-quantity results) and keeps many of them, so
# the default rescans them again and again: measured, that was a third of the time of grading and
# of unpickling a batch's results. 10,000 takes nearly all of that back; cyclic garbage is still
# collected, only less often.
BATCH_GC_THRESHOLD = 10_000


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Fewer garbage collections for the duration of a batch (see BATCH_GC_THRESHOLD)."""
    old = gc.get_threshold()
    gc.set_threshold(BATCH_GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def chunks(items: Sequence[T], jobs: int, largest: int | None = None) -> list[list[T]]:
    """items cut into a few chunks per worker (uneven items even out), at most `largest` each."""
    size = max(1, -(-len(items) // max(1, jobs * 4)))
    if largest is not None:
        size = min(size, largest)
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _start_worker(setup: Callable[..., None], args: tuple[Any, ...]) -> None:
    gc.set_threshold(BATCH_GC_THRESHOLD, *gc.get_threshold()[1:])  # a worker's whole life is the batch
    setup(*args)


AHEAD_PER_WORKER = 2  # parts handed out before their results are taken: enough to keep workers busy


def run(work: Callable[[list[T]], R], parts: Sequence[list[T]], jobs: int,
        setup: Callable[..., None], args: tuple[Any, ...] = ()) -> Iterator[R]:
    """work(part) for every part, in order: in `jobs` worker processes (each set up once with
    setup(*args)), or in this process when jobs <= 1.

    Only a few parts per worker are in flight at a time (not all of them, as Executor.map does),
    so results wait for the caller in a bounded queue and a large batch never piles up in memory.
    """
    with relaxed_gc():
        if jobs <= 1 or len(parts) <= 1:
            setup(*args)
            for part in parts:
                yield work(part)
            return
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(setup, args)) as pool:
            pending: deque = deque()
            todo = iter(parts)
            for part in todo:
                pending.append(pool.submit(work, part))
                if len(pending) >= jobs * AHEAD_PER_WORKER:
                    break
            while pending:
                result = pending.popleft().result()
                part = next(todo, None)
                if part is not None:
                    pending.append(pool.submit(work, part))
                yield result
