"""Chinese web-text signals: script ratio, length, line shape, sentence-final punctuation,
character n-gram repetition and keyword densities (``zh_signals``).

All character counts are in Unicode code points. The per-document statistics are computed by
one numba kernel straight over the UTF-8 buffer of the Arrow ``text`` column (no Python string
per document); keyword densities use one Aho-Corasick automaton (pyahocorasick, C) over the
shipped lexicons, built once per process.

Definitions (the ``_v1`` contract; change a definition -> bump the suffix):

``zh_cjk_ratio_v1``
    CJK ideographs / non-whitespace characters (0.0 for an empty document). CJK ideographs are
    the Unicode blocks CJK Unified Ideographs (U+4E00-9FFF), Extension A (U+3400-4DBF),
    Extensions B-F (U+20000-2EBEF), G-H (U+30000-323AF), the two CJK Compatibility Ideographs
    blocks (U+F900-FAFF, U+2F800-2FA1F) and U+3007 (〇). Kana, Hangul, CJK punctuation and
    full-width forms are not ideographs. Whitespace is what ``str.isspace`` accepts.
``zh_char_len_v1``
    Number of non-whitespace characters.
``zh_mean_line_len_v1``
    Lines are split on ``\\n``; a line is non-empty when it has a non-whitespace character, and
    its length is that of the line with leading/trailing whitespace removed. Mean over non-empty
    lines (0.0 when there are none).
``zh_punct_end_lines_frac_v1``
    Share of non-empty lines that end a sentence. Trailing whitespace and closing quotes or
    brackets (see ``_CLOSERS``) are skipped, then the last character must be

    - a full-width/CJK terminal: 。 ！ ？ ｡ ． … ⋯ (``_ZH_TERMINALS``), or
    - an ASCII terminal ``. ! ?`` (``...`` included) in a line that contains at least one CJK
      ideograph.

    The ASCII case exists because NFKC (the ``normalize`` step) folds ！？． to ``!?.`` and
    … to ``...``, and because much Chinese text (e.g. academic abstracts) is typed with ASCII
    punctuation, often right after a number, unit or Latin term ("...为12.045 mg/g.").
    Requiring a CJK ideograph in the line keeps English lines ("Share this...") from counting
    as Chinese sentence ends.
``zh_char_ngram_rep_v1``
    Data-Juicer's ``character_repetition_filter`` statistic (from BigScience ROOTS): over all
    character n-grams of the raw text (n = ``rep_len``, default 10, whitespace included, no
    lower-casing), let the frequencies sorted descending be f1 >= f2 >= ..., U the number of
    distinct n-grams and R the number of distinct n-grams seen more than once; the value is
    sum(f1..fk) / sum(all f) with k = min(floor(sqrt(U)), R); 0.0 when the text is shorter than
    n. n-grams are compared by a 64-bit polynomial hash (collisions are negligible at document
    sizes).
``zh_dup_line_char_frac_v1``
    Gopher's duplicate-line character fraction (Rae et al. 2021; datatrove
    ``dup_line_char_frac``) on non-empty lines stripped of surrounding whitespace: characters in
    lines that repeat an earlier line of the document / characters in all lines (0.0 for a
    document without lines). The n-gram statistic above cannot see long repeated blocks: with
    k = sqrt(U) it gives a line of L characters repeated r times about sqrt(L)/L (a 22-character line
    repeated 20 times scores 0.18), while this fraction gives (r-1)/r.
``zh_kw_{sensitive,porn,gambling,ad}_density_v1``
    Lexicon hits per non-empty line (0.0 when there are none), as in ChineseWebText's
    ``sensitive_word_per_line``. Hits are the leftmost-longest non-overlapping matches of the
    lexicon terms in the lower-cased text (``Automaton.iter_long``); a term listed in several
    categories counts once for each. A term that begins (ends) with an ASCII letter or digit
    only matches where the character before (after) it is not one, so ``porn`` never fires
    inside another word and ``a片`` not inside ``cDNA片段``; CJK edges match anywhere (Chinese
    has no word boundaries). Lexicons: one
    ``<category>.<source>.txt`` file per source in ``heitu/data/lexicons`` (see SOURCES.md).
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from heitu.core.errors import UserError
from heitu.data.steps.base import Annotator, register

KW_CATEGORIES = ("sensitive", "porn", "gambling", "ad")
LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicons"

COLUMNS = (
    "zh_cjk_ratio_v1",
    "zh_char_len_v1",
    "zh_mean_line_len_v1",
    "zh_punct_end_lines_frac_v1",
    "zh_char_ngram_rep_v1",
    "zh_dup_line_char_frac_v1",
    *(f"zh_kw_{c}_density_v1" for c in KW_CATEGORIES),
)

# --------------------------------------------------------------------------------------------
# Character classes (code points), shared by the kernel and by tests.

_ZH_TERMINALS = np.array([0x3002, 0xFF01, 0xFF1F, 0xFF61, 0xFF0E, 0x2026, 0x22EF], dtype=np.uint32)
"""。 ！ ？ ｡ ． … ⋯"""
_ASCII_TERMINALS = np.array([ord("."), ord("!"), ord("?")], dtype=np.uint32)
_CLOSERS = np.array(
    [
        0x201D, 0x2019, 0x300D, 0x300F, 0xFF09, 0x300B, 0x3009, 0x3011, 0x3015, 0xFF3D, 0x3017,
        0xFF02, 0xFF07, ord(")"), ord("]"), ord('"'), ord("'"),
    ],
    dtype=np.uint32,
)
"""” ’ 」 』 ） 》 〉 】 〕 ］ 〗 ＂ ＇ ) ] " '"""


@nb.njit(cache=True, inline="always")
def _is_ws(c: int) -> bool:
    # exactly the code points for which str.isspace() is True
    if c <= 0x20:
        return c == 0x20 or (0x09 <= c <= 0x0D) or (0x1C <= c <= 0x1F)
    if c < 0x85:
        return False
    return (
        c == 0x85 or c == 0xA0 or c == 0x1680 or (0x2000 <= c <= 0x200A) or c == 0x2028
        or c == 0x2029 or c == 0x202F or c == 0x205F or c == 0x3000
    )


@nb.njit(cache=True, inline="always")
def _is_cjk(c: int) -> bool:
    if c < 0x3007:
        return False
    return (
        (0x4E00 <= c <= 0x9FFF) or (0x3400 <= c <= 0x4DBF) or (0x20000 <= c <= 0x2EBEF)
        or (0x30000 <= c <= 0x323AF) or (0xF900 <= c <= 0xFAFF) or (0x2F800 <= c <= 0x2FA1F)
        or c == 0x3007
    )


@nb.njit(cache=True, inline="always")
def _in(c: int, table: np.ndarray) -> bool:
    for t in table:
        if c == t:
            return True
    return False


@nb.njit(cache=True)
def _decode(data: np.ndarray, start: int, end: int, out: np.ndarray) -> int:
    """UTF-8 bytes data[start:end] -> code points in out; returns their number. Malformed
    sequences decode to U+FFFD one byte at a time (Arrow strings are valid UTF-8 anyway)."""
    n = 0
    i = start
    while i < end:
        b = data[i]
        if b < 0x80:
            out[n] = b
            i += 1
        elif b >= 0xC2 and b < 0xE0 and i + 1 < end:
            out[n] = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F)
            i += 2
        elif b >= 0xE0 and b < 0xF0 and i + 2 < end:
            out[n] = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
            i += 3
        elif b >= 0xF0 and b < 0xF5 and i + 3 < end:
            out[n] = (
                ((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                | (data[i + 3] & 0x3F)
            )
            i += 4
        else:
            out[n] = 0xFFFD
            i += 1
        n += 1
    return n


@nb.njit(cache=True)
def _line_ends_sentence(cps: np.ndarray, start: int, last: int, has_cjk: bool, zh_term, ascii_term, closers) -> bool:
    """cps[start:last+1] is a line whose last non-whitespace character is cps[last]."""
    j = last
    while j >= start and _in(cps[j], closers):
        j -= 1
    if j < start:
        return False
    c = cps[j]
    if _in(c, zh_term):
        return True
    return has_cjk and _in(c, ascii_term)


@nb.njit(cache=True)
def _rep_ratio(cps: np.ndarray, n_cp: int, n: int, table_keys: np.ndarray, table_counts: np.ndarray) -> float:
    """Data-Juicer's char_rep_ratio over the n-grams of cps[:n_cp]; n-grams are counted by
    their 64-bit polynomial hash in an open-addressing table (scratch arrays, reused)."""
    m = n_cp - n + 1
    if m <= 0:
        return 0.0
    cap = 16
    bits = 4
    while cap < 2 * m:
        cap *= 2
        bits += 1
    mask = np.uint64(cap - 1)
    shift = np.uint64(64 - bits)
    table_counts[:cap] = 0
    base = np.uint64(0x100000001B3)
    top = np.uint64(1)  # base ** (n - 1)
    for _ in range(n - 1):
        top = top * base
    h = np.uint64(0)
    for i in range(n):
        h = h * base + np.uint64(cps[i]) + np.uint64(1)
    n_distinct = 0
    for i in range(m):
        if i > 0:
            h = (h - (np.uint64(cps[i - 1]) + np.uint64(1)) * top) * base + np.uint64(cps[i + n - 1]) + np.uint64(1)
        slot = (h * np.uint64(0x9E3779B97F4A7C15)) >> shift  # Fibonacci hashing
        while True:
            c = table_counts[slot]
            if c == 0:
                table_keys[slot] = h
                table_counts[slot] = 1
                n_distinct += 1
                break
            if table_keys[slot] == h:
                table_counts[slot] = c + 1
                break
            slot = (slot + np.uint64(1)) & mask
    # frequencies of the n-grams seen more than once, largest first
    n_rep = 0
    for j in range(cap):
        if table_counts[j] > 1:
            n_rep += 1
    k = min(int(np.sqrt(n_distinct)), n_rep)
    if k == 0:
        return 0.0
    reps = np.empty(n_rep, dtype=np.int64)
    r = 0
    for j in range(cap):
        if table_counts[j] > 1:
            reps[r] = table_counts[j]
            r += 1
    reps.sort()
    return reps[n_rep - k:].sum() / m


@nb.njit(cache=True)
def _doc_stats(data, offsets, rep_len, zh_term, ascii_term, closers):
    n_docs = offsets.shape[0] - 1
    n_nonws = np.zeros(n_docs, dtype=np.int64)
    n_cjk = np.zeros(n_docs, dtype=np.int64)
    n_lines = np.zeros(n_docs, dtype=np.int64)
    line_len_sum = np.zeros(n_docs, dtype=np.int64)
    n_punct_end = np.zeros(n_docs, dtype=np.int64)
    rep = np.zeros(n_docs, dtype=np.float64)
    max_bytes = 0
    for d in range(n_docs):
        max_bytes = max(max_bytes, offsets[d + 1] - offsets[d])
    cps = np.empty(max_bytes + 1, dtype=np.uint32)
    cap = 16
    while cap < 2 * (max_bytes + 1):
        cap *= 2
    table_keys = np.empty(cap, dtype=np.uint64)
    table_counts = np.empty(cap, dtype=np.int32)
    dup_line_chars = np.zeros(n_docs, dtype=np.int64)
    line_hash = np.empty(max_bytes + 1, dtype=np.uint64)
    line_len = np.empty(max_bytes + 1, dtype=np.int64)
    for d in range(n_docs):
        n_cp = _decode(data, offsets[d], offsets[d + 1], cps)
        line_start = 0
        first = -1  # first / last non-whitespace position of the current line
        last = -1
        line_cjk = False
        for i in range(n_cp + 1):
            c = cps[i] if i < n_cp else 0x0A
            if c == 0x0A:
                if first >= 0:
                    h = np.uint64(0xCBF29CE484222325)  # FNV-1a over the stripped line
                    for j in range(first, last + 1):
                        h = (h ^ np.uint64(cps[j])) * np.uint64(0x100000001B3)
                    line_hash[n_lines[d]] = h
                    line_len[n_lines[d]] = last - first + 1
                    n_lines[d] += 1
                    line_len_sum[d] += last - first + 1
                    if _line_ends_sentence(cps, line_start, last, line_cjk, zh_term, ascii_term, closers):
                        n_punct_end[d] += 1
                line_start = i + 1
                first = -1
                last = -1
                line_cjk = False
            elif not _is_ws(c):
                n_nonws[d] += 1
                if _is_cjk(c):
                    n_cjk[d] += 1
                    line_cjk = True
                if first < 0:
                    first = i
                last = i
        rep[d] = _rep_ratio(cps, n_cp, rep_len, table_keys, table_counts)
        nl = n_lines[d]
        if nl > 1:
            order = np.argsort(line_hash[:nl])
            for j in range(1, nl):
                if line_hash[order[j]] == line_hash[order[j - 1]]:
                    dup_line_chars[d] += line_len[order[j]]
    return n_nonws, n_cjk, n_lines, line_len_sum, n_punct_end, rep, dup_line_chars


def _utf8_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(data bytes, int64 offsets of length n+1) of a string array, nulls as empty strings."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        pass
    else:
        arr = arr.cast(pa.large_string())
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def doc_stats(arr: pa.Array, rep_len: int = 10) -> dict[str, np.ndarray]:
    """The non-keyword signals for a string array (also the keyword-density denominators)."""
    data, offsets = _utf8_buffers(arr)
    n_nonws, n_cjk, n_lines, line_len_sum, n_punct, rep, dup_chars = _doc_stats(
        data, offsets, rep_len, _ZH_TERMINALS, _ASCII_TERMINALS, _CLOSERS
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lines = np.maximum(n_lines, 1)
        return {
            "zh_cjk_ratio_v1": (n_cjk / np.maximum(n_nonws, 1)).astype(np.float32),
            "zh_char_len_v1": n_nonws,
            "zh_mean_line_len_v1": (line_len_sum / lines).astype(np.float32),
            "zh_punct_end_lines_frac_v1": (n_punct / lines).astype(np.float32),
            "zh_char_ngram_rep_v1": rep.astype(np.float32),
            "zh_dup_line_char_frac_v1": (dup_chars / np.maximum(line_len_sum, 1)).astype(np.float32),
            "_n_lines": n_lines,
        }


# --------------------------------------------------------------------------------------------
# Keyword lexicons and the Aho-Corasick automaton.

_AUTOMATA: dict[str, Any] = {}
_AUTOMATA_LOCK = threading.Lock()


def _is_ascii_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def read_lexicons(lexicon_dir: Path = LEXICON_DIR) -> dict[str, set[str]]:
    """{category: terms} from ``<category>.<source>.txt`` files (one term per line, NFKC-normalised
    and lower-cased like the text they are matched against; blank lines and lines starting
    with '#' are ignored)."""
    out: dict[str, set[str]] = {c: set() for c in KW_CATEGORIES}
    for path in sorted(Path(lexicon_dir).glob("*.txt")):
        category = path.name.split(".", 1)[0]
        if category not in out:
            raise UserError(
                f"lexicon file {path.name}: unknown category '{category}' "
                f"(file names are <category>.<source>.txt, category one of {', '.join(KW_CATEGORIES)})"
            )
        for line in path.read_text(encoding="utf-8").splitlines():
            term = unicodedata.normalize("NFKC", line.strip()).lower()
            if term and not term.startswith("#"):
                out[category].add(term)
    return out


def get_automaton(lexicon_dir: str | Path | None = None):
    """One automaton per lexicon folder per process; payload = (category bitmask, length,
    check the left edge, check the right edge)."""
    key = str(Path(lexicon_dir).resolve()) if lexicon_dir else str(LEXICON_DIR)
    auto = _AUTOMATA.get(key)
    if auto is not None:
        return auto
    with _AUTOMATA_LOCK:
        auto = _AUTOMATA.get(key)
        if auto is not None:
            return auto
        try:
            import ahocorasick
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise UserError(
                "zh_signals needs pyahocorasick for keyword densities: pip install pyahocorasick"
            ) from exc
        masks: dict[str, int] = {}
        for bit, (category, terms) in enumerate(read_lexicons(Path(key)).items()):
            for term in terms:
                masks[term] = masks.get(term, 0) | (1 << bit)
        auto = ahocorasick.Automaton()
        for term, mask in masks.items():
            auto.add_word(term, (mask, len(term), _is_ascii_word_char(term[0]), _is_ascii_word_char(term[-1])))
        if len(auto):
            auto.make_automaton()
        _AUTOMATA[key] = auto
        return auto


def keyword_hits(texts: list[str], automaton) -> np.ndarray:
    """int32 [n_docs, n_categories] hit counts."""
    n_cat = len(KW_CATEGORIES)
    hits = np.zeros((len(texts), n_cat), dtype=np.int32)
    if not len(automaton):
        return hits
    for d, text in enumerate(texts):
        if not text:
            continue
        low = text.lower()
        for end, (mask, length, check_left, check_right) in automaton.iter_long(low):
            if check_left:
                start = end - length + 1
                if start > 0 and _is_ascii_word_char(low[start - 1]):
                    continue
            if check_right and end + 1 < len(low) and _is_ascii_word_char(low[end + 1]):
                continue
            for b in range(n_cat):
                if mask >> b & 1:
                    hits[d, b] += 1
    return hits


# --------------------------------------------------------------------------------------------


class ZhSignalsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep_len: int = Field(default=10, ge=1, le=64)
    """n of the character n-grams of ``zh_char_ngram_rep_v1`` (Data-Juicer default 10)."""
    keywords: bool = True
    """Compute the keyword densities (False: the four density columns are null)."""
    lexicon_dir: str | None = None
    """Folder of ``<category>.<source>.txt`` lexicons; default: the shipped heitu/data/lexicons."""


@register("zh_signals")
class ZhSignals(Annotator):
    """Chinese web-text quality signals (see the module docstring for exact definitions)."""

    Params = ZhSignalsParams

    def __init__(self, name: str, params: ZhSignalsParams | None = None):
        super().__init__(name, params)
        if self.params.lexicon_dir and not Path(self.params.lexicon_dir).is_dir():
            raise UserError(f"zh_signals: lexicon_dir {self.params.lexicon_dir} is not a folder")

    def output_columns(self) -> list[str]:
        return list(COLUMNS)

    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        p: ZhSignalsParams = self.params
        text = batch.column("text")
        stats = doc_stats(text, p.rep_len)
        n_lines = stats.pop("_n_lines")
        out: dict[str, pa.Array | np.ndarray] = dict(stats)
        if p.keywords:
            texts = cache.get("text_pylist")
            if texts is None or len(texts) != batch.num_rows:
                texts = text.to_pylist()
                cache["text_pylist"] = texts
            hits = keyword_hits(texts, get_automaton(p.lexicon_dir))
            denom = np.maximum(n_lines, 1)
            for b, cat in enumerate(KW_CATEGORIES):
                out[f"zh_kw_{cat}_density_v1"] = (hits[:, b] / denom).astype(np.float32)
        else:
            for cat in KW_CATEGORIES:
                out[f"zh_kw_{cat}_density_v1"] = pa.nulls(batch.num_rows, pa.float32())
        return out
