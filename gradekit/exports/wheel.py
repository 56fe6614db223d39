"""A wheel of the running gradekit, made from its own files, for installing it elsewhere (Gradescope).

Why not `python -m build`: the autograder must carry the very gradekit that made its keys, and an
instructor usually runs gradekit installed from a wheel, with no source tree to build from; a
build would also need its backend (hatchling) from the network. gradekit is pure Python, so the
wheel is its package folder (templates/ and problems/ inside it, as pyproject.toml's
force-include puts them) plus the standard metadata (PEP 427 layout, RECORD with SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gradekit
from gradekit.util.errors import InputFileError
from gradekit.util.resources import data_dir

NAME = "gradekit"
ZIP_DATE = (2000, 1, 1, 0, 0, 0)  # fixed: the same sources give a byte-identical wheel
DATA_FOLDERS = ("templates", "problems")


@dataclass(frozen=True)
class Wheel:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Metadata:
    version: str
    summary: str
    requires_python: str
    requires: tuple[str, ...]
    scripts: tuple[tuple[str, str], ...]  # (command, "module:function")


def _package_dir() -> Path:
    return Path(gradekit.__file__).resolve().parent


def metadata() -> Metadata:
    """gradekit's metadata: from pyproject.toml in a source tree, else from the installed distribution."""
    pyproject = _package_dir().parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == NAME:
            return Metadata(gradekit.__version__, project.get("description", ""),
                            project.get("requires-python", ""), tuple(project.get("dependencies", [])),
                            tuple(project.get("scripts", {}).items()))
    from importlib import metadata as im

    try:
        dist = im.distribution(NAME)
    except im.PackageNotFoundError:
        raise InputFileError("cannot find gradekit's metadata (no pyproject.toml, not installed)",
                             source=_package_dir()) from None
    meta = dist.metadata
    requires = tuple(r for r in (dist.requires or []) if "extra ==" not in r)
    scripts = tuple((ep.name, ep.value) for ep in dist.entry_points if ep.group == "console_scripts")
    return Metadata(dist.version, meta.get("Summary", ""), meta.get("Requires-Python", ""), requires, scripts)


def package_files() -> dict[str, bytes]:
    """Every file of the package by its path in the wheel (no caches, no compiled files)."""
    root = _package_dir()
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo"):
            files[f"{NAME}/{rel.as_posix()}"] = path.read_bytes()
    for name in DATA_FOLDERS:
        folder = data_dir(name)
        if root in folder.parents:
            continue  # already inside the package (an installed wheel)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{NAME}/{name}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    return files


def _metadata_text(meta: Metadata) -> bytes:
    """Core metadata 2.1: one `Field: value` line each (every value is one line of text)."""
    fields = [("Metadata-Version", "2.1"), ("Name", NAME), ("Version", meta.version)]
    fields += [("Summary", meta.summary)] if meta.summary else []
    fields += [("Requires-Python", meta.requires_python)] if meta.requires_python else []
    fields += [("Requires-Dist", r) for r in meta.requires]
    return "".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in fields).encode("utf-8")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def build() -> Wheel:
    """The wheel of the running gradekit (pure Python: py3-none-any)."""
    meta = metadata()
    info = f"{NAME}-{meta.version}.dist-info"
    files = package_files()
    files[f"{info}/METADATA"] = _metadata_text(meta)
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: gradekit\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    if meta.scripts:
        lines = "".join(f"{name} = {target}\n" for name, target in meta.scripts)
        files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode("utf-8")
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o100644 << 16
            archive.writestr(entry, data)
    return Wheel(f"{NAME}-{meta.version}-py3-none-any.whl", buffer.getvalue())
