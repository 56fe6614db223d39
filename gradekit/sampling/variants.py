"""Where every variant's randomness comes from: one seed per (sheet, variant, problem).

Public variants hash a plain seed; secret variants are HMAC-SHA256(course secret, sheet,
student, problem), so a student holding only the public tool cannot regenerate a key. All
randomness of a problem instance then flows from one numpy Generator made from that seed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradekit.util.errors import InputFileError

SECRET_BYTES = 32


@dataclass(frozen=True)
class Variant:
    """Which variant of a sheet: a public seed, or a student (with a course secret)."""

    seed: int | None = None
    student: str | None = None

    @property
    def label(self) -> str:
        return f"student {self.student}" if self.student is not None else f"seed {self.seed}"

    def as_json(self) -> dict[str, object]:
        return {"student": self.student} if self.student is not None else {"seed": self.seed}


def _message(*parts: object) -> bytes:
    # JSON of a list is unambiguous (no id can smuggle a separator into another field).
    return json.dumps([str(p) for p in parts], ensure_ascii=False).encode("utf-8")


def problem_seed(sheet_id: str, variant: Variant, problem_id: str, secret: bytes | None = None) -> int:
    """The 128-bit seed of one problem of one variant."""
    if variant.student is not None:
        if secret is None:
            raise InputFileError("a student variant needs the course secret (--secret-file)")
        digest = hmac.new(secret, _message("gradekit-student", sheet_id, variant.student, problem_id),
                          hashlib.sha256).digest()
    else:
        digest = hashlib.sha256(_message("gradekit-public", sheet_id, variant.seed, problem_id)).digest()
    return int.from_bytes(digest[:16], "big")


def generator(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def write_secret(path: Path) -> None:
    """A new random course secret, readable by its owner only; never overwrites one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputFileError("already exists; refusing to overwrite a course secret", source=path) from None
    except OSError as e:
        raise InputFileError(f"cannot create: {e.strerror}", source=path) from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(SECRET_BYTES) + "\n")


def read_secret(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise InputFileError("no such file", source=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"cannot read the course secret: {e}", source=path) from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise InputFileError("not a course secret (expected hex text, as `gradekit keygen` writes)", source=path) from None
    if len(secret) < 16:
        raise InputFileError("course secret is too short (at least 16 bytes)", source=path)
    return secret
