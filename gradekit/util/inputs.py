"""Reading files named on the command line: missing, unreadable and oversize files, said once."""

from __future__ import annotations

from pathlib import Path

from gradekit.util.errors import InputFileError


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, or an InputFileError naming it: missing, unreadable, or over `limit`."""
    try:
        with path.open("rb") as f:
            raw = f.read(limit + 1)  # never more than the limit, however large the file
    except FileNotFoundError:
        raise InputFileError("no such file", source=path) from None
    except IsADirectoryError:
        raise InputFileError("is a folder, not a file", source=path) from None
    except OSError as e:
        raise InputFileError(f"cannot read: {e.strerror}", source=path) from None
    if len(raw) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
        raise InputFileError(f"{what} is larger than {size}", source=path)
    return raw
