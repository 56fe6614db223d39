"""Which characters each TeX engine of the sheets can print, and which engine a document needs.

pdflatex (T1 Latin Modern) sets the characters of formatting.LATEX_CHARS: Western and Central
European Latin. Any other name (Vietnamese, Greek, Cyrillic, Chinese, Japanese, Korean, Arabic,
Hebrew, ...) makes the document a LuaLaTeX one, whose fonts (templates/latex/fonts.tex.j2: Latin
Modern, then Debian's Noto Serif, Noto Sans CJK, Noto Naskh Arabic, Noto Serif Hebrew, Noto Sans
as fallbacks) cover UNICODE_RANGES. Both are fixed tables, not probes of the local fonts, so the
same input gives the same .tex on every machine; tests/test_unicode_names.py compiles them again.
A character outside the table of the document's engine is printed as a visible marker, and the
command that wrote it warns.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable

PDFLATEX, LUALATEX = "pdflatex", "lualatex"
ENGINES = (PDFLATEX, LUALATEX)

# Measured on Debian 12 (fonts-lmodern 2.005, fonts-noto-core 20201225, fonts-noto-cjk 20220127)
# with fc-query: every assigned character of the Latin, IPA, combining-mark, Greek, Cyrillic,
# Hebrew, Arabic, Hangul, general-punctuation, currency, letterlike, CJK-punctuation, kana, CJK
# (with extension A), Hangul-syllable and half/fullwidth blocks that one of those fonts has.
# The gaps are characters none has (Coptic letters in the Greek block, a few Arabic marks, ...).
UNICODE_RANGES = (
    (0x0020, 0x007E), (0x00A0, 0x03E1), (0x03F0, 0x052F), (0x0591, 0x05EA), (0x05F0, 0x061B),
    (0x061E, 0x06FF), (0x0750, 0x077F), (0x1100, 0x11FF), (0x1E00, 0x205F), (0x20A0, 0x20BF),
    (0x2100, 0x214F), (0x3000, 0x30FF), (0x3131, 0x318E), (0x3400, 0x4DB5), (0x4E00, 0x9FEF),
    (0xAC00, 0xD7A3), (0xFF01, 0xFFEE),
)
_UNPRINTABLE = ("Cn", "Co", "Cs")  # unassigned, private use, surrogates: no font has them

# LuaLaTeX's fallback fonts after Latin Modern, in order, with the characters each is loaded
# for (None: always, they are small). A document loads only those its text needs: the CJK font
# alone doubles a compile's time.
FALLBACK_FONTS: tuple[tuple[str, tuple[tuple[int, int], ...] | None], ...] = (
    ("NotoSerif:mode=harf;", None),  # Greek, Cyrillic, Latin that Latin Modern lacks
    ("NotoSansCJKsc:mode=harf;", ((0x1100, 0x11FF), (0x3000, 0x30FF), (0x3131, 0x318E), (0x3400, 0x4DBF),
                                  (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF01, 0xFFEE))),
    ("NotoNaskhArabic:mode=harf;script=arab;", ((0x0600, 0x06FF), (0x0750, 0x077F))),
    ("NotoSerifHebrew:mode=harf;script=hebr;", ((0x0591, 0x05FF),)),
    ("NotoSans:mode=harf;", None),  # punctuation and symbols
)


@lru_cache(maxsize=8192)
def lualatex_has(ch: str) -> bool:
    """Whether the LuaLaTeX sheets' fonts have a glyph for this character."""
    c = ord(ch)
    return unicodedata.category(ch) not in _UNPRINTABLE and any(lo <= c <= hi for lo, hi in UNICODE_RANGES)


def pdflatex_has(ch: str) -> bool:
    from gradekit.formatting import LATEX_CHARS

    return " " <= ch <= "~" or ch in LATEX_CHARS


def has(ch: str, engine: str) -> bool:
    return lualatex_has(ch) if engine == LUALATEX else pdflatex_has(ch)


def is_rtl(ch: str) -> bool:
    """A right-to-left letter (Hebrew, Arabic)."""
    return unicodedata.bidirectional(ch) in ("R", "AL")


def engine_for(texts: Iterable[str]) -> str:
    """pdflatex when it can set every character of these texts as typed, else LuaLaTeX."""
    return PDFLATEX if all(_pdflatex_sets(text) for text in texts) else LUALATEX


@lru_cache(maxsize=4096)  # titles and statements repeat on every sheet
def _pdflatex_sets(text: str) -> bool:
    from gradekit.formatting import LATEX_CHARS, clean_text

    return text.isascii() or all(" " <= ch <= "~" or ch in LATEX_CHARS for ch in clean_text(text))


def fallback_fonts(texts: Iterable[str] | None = None) -> list[str]:
    """The fallback fonts a LuaLaTeX document of these texts needs (all of them for None)."""
    used = None if texts is None else {ord(ch) for text in texts for ch in text if ord(ch) > 0x7F}
    out = []
    for font, ranges in FALLBACK_FONTS:
        if ranges is None or used is None or any(lo <= c <= hi for c in used for lo, hi in ranges):
            out.append(font)
    return out


def missing(text: str, engine: str) -> list[str]:
    """The characters of a text that the engine's fonts lack (shown as a marker), in order, once each."""
    from gradekit.formatting import clean_text, tex_escape_chars

    seen: list[str] = []
    for ch in tex_escape_chars(clean_text(text), engine):
        if ch not in seen:
            seen.append(ch)
    return seen


def describe(chars: list[str]) -> str:
    """'U+1F600 (GRINNING FACE)' for each character, for a warning."""
    return ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})" for c in chars)
