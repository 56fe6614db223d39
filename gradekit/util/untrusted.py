"""Untrusted text stays data: every string a submission brings in is checked or escaped here, once.

Two rules, applied where the text enters (submission.load, grade.submission_files), so that no
report writer ever sees raw text:

- Identifiers (`student.id`, `variant.student`, `sheet`) and the student's name are *refused*
  (the file is reported ungraded with a one-line reason) when they are longer than
  MAX_TEXT_LENGTH or hold an unsafe character: a C0 or C1 control character (escape sequences,
  carriage returns), DEL, a line or paragraph separator, a bidirectional-text control (which
  can make "txt.exe" read "exe.txt"), or a lone surrogate (which cannot be written as UTF-8).
- Everything else that is shown (file names, the keys of `answers`, any text quoted in a
  reason) is *escaped*: `\\` becomes `\\\\`, an unsafe character becomes a backslash escape
  (`\\n`, `\\t`, `\\r`, `\\x1b` for other ASCII controls, `\\u202e` for other characters), and a
  byte of a file name that is not UTF-8 (Python's surrogateescape) becomes `\\xNN`. Escaped
  text is printable, one line, and valid UTF-8 in every report format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MAX_TEXT_LENGTH = 200

# C0 controls and DEL, C1 controls, the Arabic letter mark, LRM/RLM, line and paragraph
# separators, bidi embeddings and overrides (U+202A-E), bidi isolates (U+2066-9), surrogates.
_UNSAFE_CLASS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
_TO_ESCAPE = re.compile(f"[{_UNSAFE_CLASS}\\\\]")
_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    c = match.group()
    code = ord(c)
    if c in _SHORT:
        return _SHORT[c]
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape(text: str) -> str:
    """Text safe to show anywhere: unsafe characters (and backslashes) as backslash escapes."""
    return _TO_ESCAPE.sub(_escape_one, text) if _TO_ESCAPE.search(text) else text


def path_text(path: Path | str) -> str:
    """A file name as reports show it (escaped; bytes that are not UTF-8 as \\xNN)."""
    return escape(str(path))


def quoted(text: str, limit: int = 60) -> str:
    """Untrusted text for a one-line message: escaped, in double quotes, cut after `limit` characters."""
    shown = escape(text[:limit]).replace('"', '\\"')
    return f'"{shown}"' if len(text) <= limit else f'"{shown}..."'


def unsafe_reason(text: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """Why `text` cannot be an identifier or a name (too long, or which unsafe character where), or None."""
    if len(text) > limit:
        return f"is longer than {limit} characters"
    bad = _UNSAFE.search(text)
    if bad is None:
        return None
    return f"holds {_kind(bad.group())} {escape(bad.group())} at character {bad.start() + 1}"


def _kind(c: str) -> str:
    code = ord(c)
    if code < 0x20 or code == 0x7F:
        return "a control character"
    if code <= 0x9F:
        return "a C1 control character"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    if c in "\u2028\u2029":
        return "a line separator"
    return "a bidirectional-text control"


def is_safe(value: Any) -> bool:
    """True for text that may appear in a report as it is."""
    return isinstance(value, str) and _UNSAFE.search(value) is None
