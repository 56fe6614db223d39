"""Which characters each TeX engine of the sheets can print, and which engine a document needs.

pdflatex (T1 Latin Modern) sets the characters of fonts.LATEX_CHARS: Western and Central
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

# Non-ASCII characters pdflatex can set with the sheets' preamble (T1 fontenc, utf8 inputenc,
# lmodern; TS1 symbols come with the LaTeX kernel). Measured on Debian's TeX Live 2022: every
# code point for which utf8.def defines a mapping, each then typeset without an error
# (tests/test_latex_compile.py compiles them all again). Anything else would stop pdflatex
# with "Unicode character ... not set up for use with LaTeX". It is a fixed table, not a probe
# of the local TeX, so the same input gives the same .tex on every machine.
_LATEX_CHAR_RANGES = (
    (0x00A0, 0x0125), (0x0128, 0x0137), (0x0139, 0x013E), (0x0141, 0x0148), (0x014A, 0x0165),
    (0x0168, 0x017E), (0x0192, 0x0192), (0x01C4, 0x01D4), (0x01E2, 0x01E3), (0x01E6, 0x01EB),
    (0x01F0, 0x01F0), (0x01F4, 0x01F5), (0x0218, 0x021B), (0x0232, 0x0233), (0x0237, 0x0237),
    (0x02C6, 0x02C7), (0x02D8, 0x02D9), (0x02DB, 0x02DD), (0x1E02, 0x1E03), (0x1E0D, 0x1E0D),
    (0x1E1E, 0x1E21), (0x1E25, 0x1E25), (0x1E30, 0x1E31), (0x1E37, 0x1E37), (0x1E43, 0x1E43),
    (0x1E45, 0x1E45), (0x1E47, 0x1E47), (0x1E5B, 0x1E5B), (0x1E63, 0x1E63), (0x1E6D, 0x1E6D),
    (0x1E8E, 0x1E91), (0x1E9E, 0x1E9E), (0x1EF2, 0x1EF3), (0x2010, 0x2016), (0x2018, 0x201A),
    (0x201C, 0x201E), (0x2020, 0x2022), (0x2026, 0x2026), (0x2030, 0x2031), (0x2039, 0x203B),
    (0x203D, 0x203D), (0x2044, 0x2044), (0x204E, 0x204E), (0x2052, 0x2052), (0x20A1, 0x20A1),
    (0x20A4, 0x20A4), (0x20A6, 0x20A6), (0x20A9, 0x20A9), (0x20AB, 0x20AC), (0x20B1, 0x20B1),
    (0x2103, 0x2103), (0x2116, 0x2117), (0x211E, 0x211E), (0x2120, 0x2120), (0x2122, 0x2122),
    (0x2126, 0x2127), (0x212E, 0x212E), (0x2190, 0x2193),
)
LATEX_CHARS = frozenset(chr(c) for lo, hi in _LATEX_CHAR_RANGES for c in range(lo, hi + 1))


def clean_text(text: str) -> str:
    """Text as it should be shown: NFC-composed, control characters as spaces, invisible
    format characters (zero-width, bidi overrides, soft hyphens) dropped."""
    text = str(text)
    if text.isascii() and text.isprintable():  # the common case, and nothing to do
        return text
    out = []
    for ch in unicodedata.normalize("NFC", text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category != "Cf":
            out.append(ch)
    return "".join(out)

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
    return text.isascii() or all(" " <= ch <= "~" or ch in LATEX_CHARS for ch in clean_text(text))


def fallback_fonts(texts: Iterable[str] | None = None) -> list[str]:
    """The fallback fonts a LuaLaTeX document of these texts needs (all of them for None)."""
    used = None if texts is None else {ord(ch) for text in texts for ch in text if ord(ch) > 0x7F}
    out = []
    for font, ranges in FALLBACK_FONTS:
        if ranges is None or used is None or any(lo <= c <= hi for c in used for lo, hi in ranges):
            out.append(font)
    return out
