"""A Canvas-importable QTI 1.2 package: one quiz per variant, one numerical question per entry.

Written with xml.etree rather than text2qti (the well-kept tool for hand-written quizzes):
text2qti reads its own Markdown-like text, so generated content would have to be escaped into
that language and parsed back; it allows only whole or half points per question (a 2×3
matrix worth 1.11 points has entries worth 0.185); and it writes answer bounds rounded to 4
decimals, which would move the grader's margins. The XML below follows the shape Canvas
exports and imports (an exact answer with a margin: `varequal`, or `vargte`..`varlte`).

Canvas keeps only 4 decimals of a typed answer and turns anything below 1e-4 into 0 (the
limit text2qti enforces for the same reason). A quantity whose margins or entries are too small
for that is asked scaled: "enter the value times 10^k", said in the question, with the
value and margin scaled alike, so the accepted answers are still exactly the grader's.
"""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from gradekit.util.errors import InputFileError
from gradekit.exports import markup
from gradekit.exports.common import Entry, VariantKey, entries, plain_number, shape_words
from gradekit.render.formatting import points as fmt_points
from gradekit.keys.key import ProblemKey
from gradekit.render.documents import Part, problem_view

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CANVAS_NS = "http://canvas.instructure.com/xsd/cccv1p0"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_DECIMALS_FLOOR = 1e-4  # Canvas turns a typed answer smaller than this into 0
# Canvas rounds a typed answer to 4 decimals: what a 4-decimal sheet asks for anyway, so a margin of
# one unit in the 4th decimal (the grader's least, gradekit.engine.margins) still tells right from wrong.
MIN_SCALED_MARGIN = 1e-4
MAX_SCALE = 12
ZIP_DATE = (2000, 1, 1, 0, 0, 0)  # fixed: the same variants give a byte-identical package


def _ident(*parts: object) -> str:
    """A stable identifier for a package part: the same variant always gets the same ids."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode("utf-8")).hexdigest()
    return "gk" + digest[:24]


def _fits(entry: Entry, factor: float) -> bool:
    """Whether Canvas's 4-decimal arithmetic can tell right from wrong for this entry at this scale."""
    margin = entry.margin * factor
    low, high = (entry.value - entry.margin) * factor, (entry.value + entry.margin) * factor
    if margin < MIN_SCALED_MARGIN * (1 - 1e-9):  # 1e-9: a margin of exactly one unit, in binary
        return False
    # A right answer below 1e-4 would become 0, which is only fine when 0 is itself right.
    return low <= 0 <= high or min(abs(low), abs(high)) >= CANVAS_DECIMALS_FLOOR


def scale_exponent(items: Sequence[Entry]) -> int:
    """The smallest k such that every entry, asked times 10^k, survives Canvas's rounding."""
    for k in range(MAX_SCALE + 1):
        if all(_fits(e, 10.0**k) for e in items):
            return k
    return MAX_SCALE


@dataclass(frozen=True)
class Question:
    """One numerical question: an entry of an asked quantity, possibly scaled by 10^scale."""

    ident: str
    title: str
    text: str
    points: float
    exact: str
    low: str
    high: str


def entry_questions(vk: VariantKey, pk: ProblemKey, part: Part, number: int) -> list[Question]:
    """One question per entry of an asked quantity, scaled by 10^k when Canvas needs it."""
    name = part.name
    items = entries(pk, name)
    shape = pk.instance.trace[name].shape
    k = scale_exponent(items)
    factor = 10.0**k
    points = pk.points[name] / len(items)
    out = []
    for e in items:
        where = e.where(shape)
        text = f"<p>Problem {number} ({part.label}): {markup.math(part.tex)}, {shape_words(shape)}"
        text += f": the entry in {where}.</p>" if where else ".</p>"
        if k:
            text += (f"<p>Enter this value <strong>multiplied by {markup.math(f'10^{{{k}}}')}</strong> "
                     f"(for example, {plain_number(1.23 / factor)} is entered as 1.23): Canvas keeps only 4 "
                     "decimals of an answer, too few for this one.</p>")
        value, margin = e.value * factor, e.margin * factor
        suffix = f"[{','.join(str(i + 1) for i in e.index)}]" if e.index else ""
        out.append(Question(_ident(vk.key.sheet.id, vk.key.variant.as_json(), pk.problem.id, name, e.index),
                            f"{number}{part.label} {name}{suffix}", text, points, plain_number(value),
                            plain_number(value - margin), plain_number(value + margin)))
    return out


def _metadata(item: ET.Element, fields: dict[str, str]) -> None:
    meta = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    for label, entry in fields.items():
        field = ET.SubElement(meta, "qtimetadatafield")
        ET.SubElement(field, "fieldlabel").text = label
        ET.SubElement(field, "fieldentry").text = entry


def _material(parent: ET.Element, html: str) -> None:
    ET.SubElement(ET.SubElement(parent, "material"), "mattext", {"texttype": "text/html"}).text = html


def text_item(ident: str, title: str, html: str) -> ET.Element:
    """Canvas's text-only 'question': the problem statement and given values, worth nothing."""
    item = ET.Element("item", {"ident": ident, "title": title})
    _metadata(item, {"question_type": "text_only_question", "points_possible": "0"})
    _material(ET.SubElement(item, "presentation"), html)
    return item


def numerical_item(q: Question) -> ET.Element:
    """A numerical question whose right answers are the exact value or anything within its margin."""
    item = ET.Element("item", {"ident": q.ident, "title": q.title})
    _metadata(item, {"question_type": "numerical_question", "points_possible": plain_number(round(q.points, 6))})
    presentation = ET.SubElement(item, "presentation")
    _material(presentation, q.text)
    response = ET.SubElement(presentation, "response_str", {"ident": "response1", "rcardinality": "Single"})
    ET.SubElement(ET.SubElement(response, "render_fib", {"fibtype": "Decimal"}), "response_label", {"ident": "answer1"})
    processing = ET.SubElement(item, "resprocessing")
    ET.SubElement(ET.SubElement(processing, "outcomes"), "decvar",
                  {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"})
    condition = ET.SubElement(processing, "respcondition", {"continue": "No"})
    either = ET.SubElement(ET.SubElement(condition, "conditionvar"), "or")
    ET.SubElement(either, "varequal", {"respident": "response1"}).text = q.exact
    within = ET.SubElement(either, "and")
    ET.SubElement(within, "vargte", {"respident": "response1"}).text = q.low
    ET.SubElement(within, "varlte", {"respident": "response1"}).text = q.high
    ET.SubElement(condition, "setvar", {"action": "Set", "varname": "SCORE"}).text = "100"
    return item


@dataclass(frozen=True)
class Assessment:
    """One quiz: a variant's problems, as Canvas will show it."""

    ident: str
    title: str
    description: str
    points: float
    roster: bool
    items: tuple[ET.Element, ...]


def assessment(vk: VariantKey) -> Assessment:
    key = vk.key
    items: list[ET.Element] = []
    total = 0.0
    for number, pk in enumerate(key.problems, start=1):
        view = problem_view(number, pk)
        items.append(text_item(_ident(key.sheet.id, key.variant.as_json(), pk.problem.id), f"Problem {number}",
                               markup.problem(view, f"Variant: {vk.label}")))
        for part in view.parts:
            for q in entry_questions(vk, pk, part, number):
                items.append(numerical_item(q))
                total += q.points
    intro = f"<p>{markup.text(key.sheet.instructions)}</p>" if key.sheet.instructions.strip() else ""
    description = f"{intro}<p>One answer per entry of each matrix; {fmt_points(key.total)} points.</p>"
    return Assessment(_ident(key.sheet.id, key.variant.as_json()), f"{key.sheet.title} — {vk.label}",
                      description, total, vk.student is not None, tuple(items))


def assessment_xml(a: Assessment) -> ET.Element:
    root = ET.Element("questestinterop", {"xmlns": QTI_NS})
    test = ET.SubElement(root, "assessment", {"ident": a.ident, "title": a.title})
    meta = ET.SubElement(ET.SubElement(test, "qtimetadata"), "qtimetadatafield")
    ET.SubElement(meta, "fieldlabel").text = "cc_maxattempts"
    ET.SubElement(meta, "fieldentry").text = "1"
    section = ET.SubElement(test, "section", {"ident": "root_section"})
    section.extend(a.items)
    return root


def assessment_meta(a: Assessment) -> ET.Element:
    """Canvas's quiz settings; a roster variant's quiz is visible only to whom it is assigned."""
    root = ET.Element("quiz", {"identifier": a.ident, "xmlns": CANVAS_NS})
    fields = {"title": a.title, "description": a.description, "shuffle_answers": "false",
              "scoring_policy": "keep_highest", "quiz_type": "assignment",
              "points_possible": plain_number(round(a.points, 4)), "show_correct_answers": "true",
              "allowed_attempts": "1", "one_question_at_a_time": "false", "cant_go_back": "false",
              "available": "false", "only_visible_to_overrides": "true" if a.roster else "false"}
    for tag, value in fields.items():
        ET.SubElement(root, tag).text = value
    return root


def manifest(idents: Sequence[str], title: str) -> ET.Element:
    """imsmanifest.xml: each quiz's QTI file, with its Canvas settings as a dependency."""
    root = ET.Element("manifest", {"identifier": _ident("manifest", *idents), "xmlns": MANIFEST_NS})
    metadata = ET.SubElement(root, "metadata")
    ET.SubElement(metadata, "schema").text = "IMS Content"
    ET.SubElement(metadata, "schemaversion").text = "1.1.3"
    ET.SubElement(metadata, "title").text = title
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    for ident in idents:
        meta_id = _ident("meta", ident)
        resource = ET.SubElement(resources, "resource", {"identifier": ident, "type": "imsqti_xmlv1p2"})
        ET.SubElement(resource, "file", {"href": f"{ident}/{ident}.xml"})
        ET.SubElement(resource, "dependency", {"identifierref": meta_id})
        meta = ET.SubElement(resources, "resource", {
            "identifier": meta_id, "type": "associatedcontent/imscc_xmlv1p1/learning-application-resource",
            "href": f"{ident}/assessment_meta.xml"})
        ET.SubElement(meta, "file", {"href": f"{ident}/assessment_meta.xml"})
    return root


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def package_files(variants: Sequence[VariantKey]) -> Iterator[tuple[str, bytes]]:
    """The files of the package by path: per quiz its QTI and Canvas settings, then imsmanifest.xml.

    One quiz at a time, so a roster's package never holds every quiz's XML tree at once.
    """
    idents = []
    for vk in variants:
        a = assessment(vk)
        idents.append(a.ident)
        yield f"{a.ident}/{a.ident}.xml", _xml(assessment_xml(a))
        yield f"{a.ident}/assessment_meta.xml", _xml(assessment_meta(a))
    title = variants[0].key.sheet.title if variants else "gradekit"
    yield "imsmanifest.xml", _xml(manifest(idents, title))


def _write_zip(variants: Sequence[VariantKey], target: BinaryIO) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in package_files(variants):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)


def package(variants: Sequence[VariantKey]) -> bytes:
    """The zip Canvas imports (Settings > Import Course Content > QTI .zip file)."""
    buffer = io.BytesIO()
    _write_zip(variants, buffer)
    return buffer.getvalue()


def write(variants: Sequence[VariantKey], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            _write_zip(variants, f)
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None
