"""Read a student's submission safely: untrusted bytes in, a validated Submission or one-line reason out.

Nothing here evaluates student text: JSON is parsed with hooks that refuse duplicate keys,
bounded in size and nesting, and every value is checked for type before it is used. NaN,
Infinity and overflowing numbers are kept as non-finite floats so that the grader can mark
the one answer that holds them invalid instead of refusing the whole file. Ids and names are
checked and file names escaped here, where they enter (gradekit.util.untrusted has the rules), and
only regular files are ever opened: a named pipe or a device is refused unread.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gradekit.util.errors import SubmissionError
from gradekit.keys.key import FORMAT_VERSION, SUBMISSION_FORMAT
from gradekit.util.untrusted import path_text, quoted, unsafe_reason
from gradekit.sampling.variants import Variant

DEFAULT_MAX_BYTES = 1_000_000
MAX_NESTING = 32  # a template needs 4 (object, object, matrix rows, entries)
# The nesting pre-check reads only brackets and quotes: everything else is deleted first and
# braces become brackets, with bytes.translate, which runs in C.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_ESCAPE = re.compile(rb"\\.", re.S)


@dataclass(frozen=True)
class Submission:
    source: str
    sheet: str
    variant: Variant
    student_id: str
    student_name: str
    answers: Mapping[str, Mapping[str, Any]]  # problem id -> quantity -> raw JSON value
    submitted: float | None = None  # the file's own "submitted" time (POSIX seconds), when it has one
    file_time: float = 0.0  # the file's modification time (POSIX seconds)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # one dict in C for the common case; a clash is looked for only then
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise SubmissionError(f"duplicate key {quoted(k)}")
            seen.add(k)
    return out


def _nesting(text: str) -> int:
    """Deepest bracket nesting outside strings, checked before parsing so no recursion blows up.

    Escapes go first (so that an escaped quote cannot end a string), then everything but
    brackets and quotes, then what lies between quotes. The brackets left are peeled one level
    per pass ("[]" pairs removed): a submission is empty after a few passes, each one C call.
    """
    raw = text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = _ESCAPE.sub(b"", raw)
    brackets = raw.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE)
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[0::2])
    rest, depth = brackets, 0
    while rest and depth <= MAX_NESTING:
        peeled = rest.replace(b"[]", b"")
        if len(peeled) == len(rest):  # unbalanced (the parser will say where): count exactly
            steps = np.where(np.frombuffer(brackets, dtype=np.uint8) == ord("["), 1, -1)
            return int(np.cumsum(steps).max(initial=0))
        rest, depth = peeled, depth + 1
    return depth


def decode(raw: bytes) -> str:
    if not raw.strip():
        raise SubmissionError("the file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark (some editors add one) is harmless: accepted
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubmissionError(f"not UTF-8 text (byte {e.start} is {raw[e.start]:#04x}); save the file as UTF-8") from None


def _json_int(text: str) -> int | float:
    """An integer literal as int, or as +-inf past float range (as 1e400 reads), so that a huge
    number makes only its own answer invalid and never overflows (or trips Python's 4300-digit
    limit on int()) later on."""
    return int(text) if len(text) <= 300 else float(text)


def parse_json(text: str) -> Any:
    if _nesting(text) > MAX_NESTING:
        raise SubmissionError(f"JSON nested deeper than {MAX_NESTING} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=float, parse_int=_json_int)
    except SubmissionError:
        raise
    except json.JSONDecodeError as e:
        raise SubmissionError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (RecursionError, ValueError) as e:
        raise SubmissionError(f"invalid JSON: {e}") from None


def _text(value: Any, what: str) -> str:
    """An id or a name, refused when it is not text, too long, or holds an unsafe character (untrusted.py)."""
    if not isinstance(value, str):
        raise SubmissionError(f"{what} must be text, got {_json_type(value)}")
    reason = unsafe_reason(value)
    if reason is not None:
        raise SubmissionError(f"{what} {reason}")
    return value


def _submitted(value: Any) -> float | None:
    """The optional "submitted" field: an ISO 8601 date and time (UTC when it names no zone)."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 40:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    raise SubmissionError('"submitted" must be a date and time such as "2026-03-01T17:30:00Z"')


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _variant(value: Any) -> Variant:
    if not isinstance(value, dict) or len(value) != 1 or not ({"seed", "student"} & value.keys()):
        raise SubmissionError('"variant" must be {"seed": N} or {"student": "id"}, as in the answer template')
    if "seed" in value:
        seed = value["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise SubmissionError('"variant.seed" must be a whole number >= 0')
        return Variant(seed=seed)
    return Variant(student=_text(value["student"], '"variant.student"'))


def from_document(doc: Any, source: str) -> Submission:
    """Validate the top-level structure of a parsed submission."""
    if not isinstance(doc, dict):
        raise SubmissionError(f"expected a JSON object (the answer template), got {_json_type(doc)}")
    if doc.get("format") != SUBMISSION_FORMAT:
        raise SubmissionError(f'"format" must be "{SUBMISSION_FORMAT}" (fill in the answer template gradekit wrote)')
    version = doc.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        shown = repr(version) if type(version) in (int, float) else _json_type(version)  # never echo a long text
        raise SubmissionError(f'"version" must be {FORMAT_VERSION}, got {shown}')
    sheet = _text(doc.get("sheet"), '"sheet"')
    variant = _variant(doc.get("variant"))
    student = doc.get("student", {})
    if not isinstance(student, dict):
        raise SubmissionError('"student" must be an object with "id" and "name"')
    student_id = _text(student.get("id", ""), '"student.id"') if student.get("id") is not None else ""
    name = student.get("name", "")
    student_name = _text(name, '"student.name"') if isinstance(name, str) else ""
    if variant.student is not None:
        if student_id and student_id != variant.student:
            raise SubmissionError(f'"student.id" ({quoted(student_id)}) differs from "variant.student" '
                                  f'({quoted(variant.student)})')
        student_id = variant.student
    answers = doc.get("answers")
    if not isinstance(answers, dict):
        raise SubmissionError('"answers" must be an object of problems, as in the answer template')
    for pid, quantities in answers.items():
        if not isinstance(quantities, dict):
            raise SubmissionError(f'"answers" / {quoted(pid)} must be an object of quantities, got {_json_type(quantities)}')
    return Submission(source, sheet, variant, student_id, student_name, answers, _submitted(doc.get("submitted")))


def file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is (a folder, a named pipe, ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(kind: str) -> SubmissionError:
    return SubmissionError(f"skipped: {kind}, not a submission file (never read)")


def _read(path: Path, max_bytes: int) -> tuple[bytes, float]:
    """The bytes of a regular file and its modification time; anything else is refused unread."""
    info = path.stat()
    kind = file_kind(info.st_mode)
    if kind is not None:
        raise _not_regular(kind) if kind != "a folder" else SubmissionError("is a folder, not a file")
    if info.st_size > max_bytes:
        raise SubmissionError(f"the file is {info.st_size:,} bytes, over the limit of {max_bytes:,}")
    # Non-blocking, so that a file swapped for a named pipe after the stat cannot hang the batch;
    # fstat then checks what was really opened.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as f:
        opened = file_kind(os.fstat(fd).st_mode)
        if opened is not None:
            raise _not_regular(opened)
        return f.read(max_bytes + 1), info.st_mtime  # the file may grow between stat and read


def load(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Submission:
    """A Submission from a file; SubmissionError (one line, no file name) says why not.

    Its source is the file name as reports show it (escaped: untrusted.path_text).
    """
    try:
        raw, mtime = _read(path, max_bytes)
    except FileNotFoundError:
        raise SubmissionError("no such file") from None
    except IsADirectoryError:
        raise SubmissionError("is a folder, not a file") from None
    except OSError as e:
        raise SubmissionError(f"cannot read: {e.strerror}") from None
    if len(raw) > max_bytes:
        raise SubmissionError(f"the file is over the limit of {max_bytes:,} bytes")
    return replace(from_document(parse_json(decode(raw)), path_text(path)), file_time=mtime)
