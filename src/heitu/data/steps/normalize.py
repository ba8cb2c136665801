"""Text normalisation (a transform): mojibake repair, Unicode NFKC, traditional -> simplified
Chinese, control characters and whitespace layout.

The work for one document, in this order (each part can be switched off):

1. ``fix_mojibake`` — ftfy repairs text that was decoded with the wrong charset
   (``'â€œquotedâ€\\x9d'`` -> ``'“quoted”'``). Only ftfy's *encoding* fixes run: curly quotes,
   full-width forms, ligatures, HTML entities and line breaks are left alone (ftfy's defaults
   would straighten quotes and narrow full-width punctuation, which is not a repair).
   A lone C1 control character is taken as cp1252 read as latin-1 (ftfy's ``fix_c1_controls``:
   U+0085 becomes ``…``, U+0093 ``“``). Skipped for ASCII text, for text without any character
   UTF-8 mojibake produces (U+0080-U+04FF, box drawing, U+FFFD: so plain CJK text skips it) and
   for text ``ftfy.badness.is_bad`` finds clean (checked on the windows around those characters).
2. ``strip_control`` (character part) — control (Cc) and format (Cf) characters are removed,
   except ``\\n``, ``\\t`` and the zero-width (non-)joiners U+200C/U+200D (they carry meaning in
   emoji sequences and in Persian/Indic scripts). Removal happens before NFKC so that characters
   brought together by the removal are composed too (the result is idempotent).
3. ``nfkc`` — Unicode NFKC (full-width ``ＡＢＣ１２３`` -> ``ABC123``, ``\\u3000`` -> space,
   ligatures, compatibility forms), *except* for the full-width CJK punctuation in
   ``CJK_PUNCT_KEEP`` (``！（），．：；？～…‥``). Plain NFKC turns ``，`` into ``,`` and ``……``
   into ``......``; Chinese quality signals downstream count lines ending in full-width terminal
   punctuation (``。！？…``) and Chinese prose is written with full-width marks, so those are
   kept. ``。`` and ``、`` are not touched by NFKC anyway. ``keep_cjk_punct=False`` gives plain NFKC.
4. ``t2s`` — traditional -> simplified Chinese with OpenCC (``t2s`` config); off by default.
5. ``strip_control`` (layout part) — ``\\r\\n``, ``\\r``, ``\\v``, ``\\f``, U+0085, U+2028 and
   U+2029 become ``\\n``; runs of two or more spaces/tabs inside a line collapse to one space
   (leading indentation is kept, so code survives); trailing spaces/tabs of each line are
   removed; three or more consecutive blank lines collapse to two; the document is stripped.

The step records ``normalize_changed_v1`` (bool): whether the text was changed.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from heitu.core.errors import UserError
from heitu.data.steps.base import Transform, register, with_columns

CHANGED_COLUMN = "normalize_changed_v1"

CJK_PUNCT_KEEP = "！（），．：；？～…‥"
"""Full-width punctuation that NFKC would narrow to ASCII (or expand, for the ellipses) but that
Chinese prose uses as its own marks; ``nfkc`` keeps these when ``keep_cjk_punct`` is on."""

_KEEP_RE = re.compile(f"([{re.escape(CJK_PUNCT_KEEP)}]+)")
_NEWLINES_RE = re.compile(r"\r\n?|[\v\f\x85\u2028\u2029]")
_INNER_SPACES_RE = re.compile(r"(?<=[^ \t\n])[ \t]{2,}")
_TRAILING_SPACES_RE = re.compile(r"[ \t]+(?=\n)")
_BLANK_LINES_RE = re.compile(r"\n{4,}")  # 4+ newlines = 3+ blank lines -> 2 blank lines
_KEPT_FORMAT_CHARS = {"\n", "\t", "\u200c", "\u200d"}


@lru_cache(maxsize=1)
def _control_re() -> re.Pattern[str]:
    """Every Cc/Cf character except the kept ones. Built once, on first use, from this Python's
    Unicode tables (no Cc/Cf characters exist between U+20000 and U+DFFFF)."""
    planes = [*range(0x20000), *range(0xE0000, sys.maxunicode + 1)]
    chars = [
        chr(cp)
        for cp in planes
        if unicodedata.category(chr(cp)) in ("Cc", "Cf") and chr(cp) not in _KEPT_FORMAT_CHARS
    ]
    # Cc includes \r, \v, \f, \x85: those are mapped to \n before the removal runs.
    ranges: list[str] = []
    start = prev = None
    for ch in chars:
        cp = ord(ch)
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            ranges.append(_range(start, prev))
            start = prev = cp
    if start is not None:
        ranges.append(_range(start, prev))
    return re.compile("[" + "".join(ranges) + "]+")


def _range(a: int, b: int) -> str:
    return re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"


@lru_cache(maxsize=1)
def _ftfy():
    import ftfy
    import ftfy.badness

    config = ftfy.TextFixerConfig(
        unescape_html=False,
        remove_terminal_escapes=False,
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=True,
        decode_inconsistent_utf8=True,
        fix_c1_controls=True,
        fix_latin_ligatures=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        fix_surrogates=True,
        remove_control_chars=False,
        normalization=None,
        explain=False,
    )
    return ftfy.fix_text, ftfy.badness.is_bad, config


@lru_cache(maxsize=1)
def _opencc_t2s():
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - opencc is a core dependency
        raise UserError(
            "normalize with t2s: true needs the Python package 'opencc'. Install it with: pip install opencc"
        ) from exc
    return opencc.OpenCC("t2s")


def fix_mojibake(text: str) -> str:
    """Repair wrong-charset decoding with ftfy's encoding fixes only (cheap checks first)."""
    if text.isascii() or _MOJIBAKE_SUSPECT.search(text) is None:
        return text
    fix_text, is_bad, config = _ftfy()
    # ftfy's badness patterns are a few characters long and always hold a suspect character, so
    # checking only the windows around suspect characters gives the same answer, faster on long
    # text. is_bad misses lone C1 controls (which fix_c1_controls handles): check both.
    if not _HAS_C1.search(text) and not is_bad(" \n ".join(_SUSPECT_WINDOWS.findall(text))):
        return text
    return fix_text(text, config)


_HAS_C1 = re.compile("[\x80-\x9f]")
# UTF-8 bytes read as a single-byte charset (latin-1, cp125x, MacRoman, cp437) always give some
# character in this set (the decoded lead or continuation bytes): text without one (ASCII + CJK,
# the bulk of Chinese text) is not mojibake ftfy could fix, and skips its slower badness check.
_MOJIBAKE_SUSPECT = re.compile("[\u0080-\u04ff\u2500-\u25ff\ufffd]")
_SUSPECT_WINDOWS = re.compile("(?s).{0,4}[\u0080-\u04ff\u2500-\u25ff\ufffd]+.{0,4}")


def nfkc(text: str, keep_cjk_punct: bool = True) -> str:
    """NFKC, leaving the full-width CJK punctuation of ``CJK_PUNCT_KEEP`` as it is."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    if not keep_cjk_punct:
        return unicodedata.normalize("NFKC", text)
    parts = _KEEP_RE.split(text)
    if len(parts) == 1:
        return unicodedata.normalize("NFKC", text)
    # split() with a capture group alternates [other, kept, other, kept, ..., other].
    for i in range(0, len(parts), 2):
        if parts[i]:
            parts[i] = unicodedata.normalize("NFKC", parts[i])
    return "".join(parts)


def remove_control(text: str) -> str:
    """Map line separators to ``\\n`` and remove the other control/format characters."""
    # One scan for the common case, nothing to do (\r, \v, \f, U+0085 are Cc: found by it).
    if _control_re().search(text) is None and "\u2028" not in text and "\u2029" not in text:
        return text
    text = _NEWLINES_RE.sub("\n", text)
    return _control_re().sub("", text)


def tidy_layout(text: str) -> str:
    """Collapse inner space runs, strip trailing spaces per line, at most two blank lines, strip."""
    if "  " in text or "\t" in text:
        text = _INNER_SPACES_RE.sub(" ", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_SPACES_RE.sub("", text)
    if "\n\n\n\n" in text:
        text = _BLANK_LINES_RE.sub("\n\n\n", text)
    return text.strip()


class NormalizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nfkc: bool = True
    """Unicode NFKC normalisation (full-width letters/digits to ASCII, compatibility forms)."""

    keep_cjk_punct: bool = True
    """With ``nfkc``: keep full-width CJK punctuation (``！（），．：；？～…‥``) as it is, since
    Chinese signals count lines ending in full-width punctuation. False: plain NFKC."""

    fix_mojibake: bool = True
    """Repair mojibake (text decoded with the wrong charset) with ftfy's encoding fixes."""

    t2s: bool = False
    """Convert traditional Chinese to simplified Chinese with OpenCC (config ``t2s``)."""

    strip_control: bool = True
    """Remove control/format characters (except newline and tab), normalise line breaks to
    ``\\n``, collapse runs of spaces/tabs inside lines, strip trailing spaces per line, collapse
    3+ blank lines to 2 and strip the document."""


class Normalizer:
    """The per-document normalisation, usable outside a pipeline: ``Normalizer(params)(text)``."""

    def __init__(self, params: NormalizeParams | None = None):
        self.params = params or NormalizeParams()
        self._t2s = _opencc_t2s() if self.params.t2s else None

    def __call__(self, text: str) -> str:
        p = self.params
        if p.fix_mojibake:
            text = fix_mojibake(text)
        if p.strip_control:
            text = remove_control(text)
        if p.nfkc:
            text = nfkc(text, p.keep_cjk_punct)
        if self._t2s is not None and not text.isascii():
            text = self._t2s.convert(text)
        if p.strip_control:
            text = tidy_layout(text)
        return text


def normalize_text(text: str, **params: Any) -> str:
    """Normalise one string with the given ``NormalizeParams`` fields (defaults otherwise)."""
    return Normalizer(NormalizeParams(**params))(text)


@register("normalize")
class Normalize(Transform):
    """Rewrites ``text`` (see the module docstring) and adds ``normalize_changed_v1``."""

    Params = NormalizeParams

    def __init__(self, name: str, params: BaseModel | None = None):
        super().__init__(name, params)
        self._normalizer: Normalizer | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The OpenCC converter is a C object: rebuild it after pickling (Ray workers, processes).
        state = self.__dict__.copy()
        state["_normalizer"] = None
        return state

    def output_columns(self) -> list[str]:
        return [CHANGED_COLUMN]

    def transform(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> pa.RecordBatch:
        if self._normalizer is None:
            self._normalizer = Normalizer(self.params)
        fn = self._normalizer
        col = batch.column("text")
        texts = col.to_pylist()
        changed = np.zeros(len(texts), dtype=bool)
        out: list[str | None] = []
        for i, t in enumerate(texts):
            if t is None:
                out.append(t)
                continue
            n = fn(t)
            if n != t:
                changed[i] = True
            out.append(n)
        cols: dict[str, pa.Array | np.ndarray] = {CHANGED_COLUMN: pa.array(changed, type=pa.bool_())}
        if changed.any():
            cols["text"] = pa.array(out, type=col.type)
            cache.clear()
        return with_columns(batch, cols)
