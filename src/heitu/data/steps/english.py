"""English web quality signals: Gopher repetition, Gopher quality, C4 line filtering, FineWeb.

These reproduce datatrove 0.10.1's ``GopherRepetitionFilter``, ``GopherQualityFilter``,
``C4QualityFilter`` and ``FineWebQualityFilter`` (defaults as in the FineWeb pipeline) but
split each filter into *signals* (columns computed here) and *decisions* (declarative ``select``
rules in the pipeline YAML, e.g. ``recipes/en-web.yaml``). Each signal is exactly the number
datatrove compares with its threshold, computed the same way, so ``signal <op> threshold`` in a
rule reproduces datatrove's decision.

Words are datatrove's (spaCy English tokenizer), emulated and shared through
``textfeat.batch_words`` (``cache["en_words"]``): the Gopher and FineWeb steps tokenise a batch
once. C4 removes lines, so it is a ``Transform`` (``c4_lines``); it rewrites ``text`` and leaves
the words of the new text in the cache for the FineWeb step after it.

Step types: ``gopher_repetition_signals``, ``gopher_quality_signals``, ``c4_lines``,
``fineweb_quality_signals``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from heitu.data.steps import textfeat as tf
from heitu.data.steps.base import Annotator, Transform, register, with_columns

# --------------------------------------------------------------------------------------------
# Gopher repetition (Rae et al. 2021, "Scaling Language Models", table A1)
# --------------------------------------------------------------------------------------------

class GopherRepetitionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_ngrams: list[Annotated[int, Field(ge=2)]] = Field(
        default=[2, 3, 4],
        description="n of the 'top n-gram character fraction' signals "
        "(datatrove top_n_grams default ((2, 0.2), (3, 0.18), (4, 0.16)); thresholds go in the YAML).",
    )
    dup_ngrams: list[Annotated[int, Field(ge=2)]] = Field(
        default=[5, 6, 7, 8, 9, 10],
        description="n of the 'duplicated n-gram character fraction' signals (datatrove dup_n_grams default "
        "((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))).",
    )


@register("gopher_repetition_signals")
class GopherRepetitionSignals(Annotator):
    """Repetition fractions of datatrove's ``GopherRepetitionFilter``.

    Columns (float64; datatrove drops a document when the value is ``>`` its threshold):

    - ``gopher_rep_dup_para_frac_v1``: repeated paragraphs / paragraphs (paragraphs: the
      stripped text split on ``\\n{2,}``; default threshold 0.30)
    - ``gopher_rep_dup_para_char_frac_v1``: characters in repeated paragraphs / len(text) (0.20)
    - ``gopher_rep_dup_line_frac_v1``: repeated lines / lines (text split on ``\\n+``; 0.30)
    - ``gopher_rep_dup_line_char_frac_v1``: characters in repeated lines / len(text) (0.20)
    - ``gopher_rep_top_{n}gram_frac_v1``: len * count of the most frequent word n-gram /
      len(text) (n=2,3,4: 0.20, 0.18, 0.16); 0 when the text has fewer than n words
    - ``gopher_rep_dup_{n}gram_frac_v1``: characters in duplicated word n-grams / len(text)
      (n=5..10: 0.15, 0.14, 0.13, 0.12, 0.11, 0.10)

    An empty text gets 1.0 everywhere (datatrove drops it as "empty").
    """

    Params = GopherRepetitionParams

    def output_columns(self) -> list[str]:
        p = self.params
        return (
            [
                "gopher_rep_dup_para_frac_v1",
                "gopher_rep_dup_para_char_frac_v1",
                "gopher_rep_dup_line_frac_v1",
                "gopher_rep_dup_line_char_frac_v1",
            ]
            + [f"gopher_rep_top_{n}gram_frac_v1" for n in p.top_ngrams]
            + [f"gopher_rep_dup_{n}gram_frac_v1" for n in p.dup_ngrams]
        )

    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, np.ndarray]:
        bw = tf.batch_words(batch, cache)
        data, offs = tf.text_bytes(batch)
        r = _rep_lines(data, offs)
        tlen = r[:, 6].astype(np.float64)
        empty = tlen == 0
        denom = np.where(empty, 1.0, tlen)
        lines4 = np.stack([r[:, 0] / np.maximum(r[:, 1], 1), r[:, 2] / denom,
                           r[:, 3] / np.maximum(r[:, 4], 1), r[:, 5] / denom], axis=1)
        lines4[empty] = 1.0
        p = self.params
        top, dup = tf.ngram_repetition(
            bw.tok_off, bw.tok_ids, bw.t_len, bw.t_hash, bw.t_pow,
            np.asarray(p.top_ngrams, np.int64), np.asarray(p.dup_ngrams, np.int64),
        )
        out: dict[str, np.ndarray] = {
            "gopher_rep_dup_para_frac_v1": lines4[:, 0],
            "gopher_rep_dup_para_char_frac_v1": lines4[:, 1],
            "gopher_rep_dup_line_frac_v1": lines4[:, 2],
            "gopher_rep_dup_line_char_frac_v1": lines4[:, 3],
        }
        for k, ng in enumerate(p.top_ngrams):
            out[f"gopher_rep_top_{ng}gram_frac_v1"] = np.where(empty, 1.0, top[:, k] / denom)
        for k, ng in enumerate(p.dup_ngrams):
            out[f"gopher_rep_dup_{ng}gram_frac_v1"] = np.where(empty, 1.0, dup[:, k] / denom)
        return out


# --------------------------------------------------------------------------------------------
# Gopher quality
# --------------------------------------------------------------------------------------------

_BULLETS = ("•", "-")
_ELLIPSES = ("...", "…")


class GopherQualityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stop_words: list[str] = Field(
        default=["the", "be", "to", "of", "and", "that", "have", "with"],
        description="words counted by gopher_stopword_count_v1 (datatrove STOP_WORDS; case-sensitive; "
        "datatrove default min_stop_words=2)",
        max_length=64,
    )


@register("gopher_quality_signals")
class GopherQualitySignals(Annotator):
    """Signals of datatrove's ``GopherQualityFilter`` (datatrove defaults in brackets; see the
    YAML for the rules):

    - ``gopher_word_count_v1`` (int): words with a non-punctuation character [50 <= x <= 100000]
    - ``gopher_mean_word_length_v1``: their mean length in characters [3 <= x <= 10]
    - ``gopher_hash_word_ratio_v1``: ``text.count("#")`` / words (all words) [<= 0.1]
    - ``gopher_ellipsis_word_ratio_v1``: (count of "..." + count of "…") / words [<= 0.1]
    - ``gopher_bullet_lines_ratio_v1``: lines (``splitlines``) starting with • or - after
      leading whitespace / lines [<= 0.9]
    - ``gopher_ellipsis_lines_ratio_v1``: lines ending with ... or … / lines [<= 0.3]
    - ``gopher_alpha_words_ratio_v1``: words with a letter / words [>= 0.8]
    - ``gopher_stopword_count_v1`` (int): distinct stop words present [>= 2]

    Ratios over zero words or zero lines are 0 (such a document fails the word count)."""

    Params = GopherQualityParams

    def output_columns(self) -> list[str]:
        return [
            "gopher_word_count_v1",
            "gopher_mean_word_length_v1",
            "gopher_hash_word_ratio_v1",
            "gopher_ellipsis_word_ratio_v1",
            "gopher_bullet_lines_ratio_v1",
            "gopher_ellipsis_lines_ratio_v1",
            "gopher_alpha_words_ratio_v1",
            "gopher_stopword_count_v1",
        ]

    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, np.ndarray]:
        bw = tf.batch_words(batch, cache)
        stop_ids = np.array([bw.vocab.tok_ids.get(w, -1) for w in self.params.stop_words], np.int32)
        ws = tf.word_stats(bw.tok_off, bw.tok_ids, bw.t_len, bw.t_flag, stop_ids)
        data, offs = tf.text_bytes(batch)
        q = _quality_lines(data, offs)
        sym = q[:, [0, 1, 3, 4]].astype(np.float64)
        nlines = q[:, 2].astype(np.float64)
        n_words = ws[:, 0].astype(np.float64)
        nonsym = ws[:, 1]
        wden = np.where(n_words == 0, 1.0, n_words)
        lden = np.where(nlines == 0, 1.0, nlines)
        return {
            "gopher_word_count_v1": nonsym,
            "gopher_mean_word_length_v1": np.where(nonsym == 0, 0.0, ws[:, 2] / np.where(nonsym == 0, 1, nonsym)),
            "gopher_hash_word_ratio_v1": sym[:, 0] / wden,
            "gopher_ellipsis_word_ratio_v1": sym[:, 1] / wden,
            "gopher_bullet_lines_ratio_v1": sym[:, 2] / lden,
            "gopher_ellipsis_lines_ratio_v1": sym[:, 3] / lden,
            "gopher_alpha_words_ratio_v1": np.where(n_words == 0, 0.0, ws[:, 3] / wden),
            "gopher_stopword_count_v1": ws[:, 4],
        }


# --------------------------------------------------------------------------------------------
# C4 (Raffel et al. 2020) line filtering
# --------------------------------------------------------------------------------------------

_CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCT = (".", "?", "!", '"', "'")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")



def c4_reference(text: str, p: "C4LinesParams | None" = None) -> tuple[str, list[int], bool, bool, int]:
    """Plain-Python datatrove C4 line filter for one text (the specification ``_c4_kernel``
    implements): (new text, line counts as in C4_COUNT_COLUMNS, lorem ipsum, curly bracket,
    sentences)."""
    p = p or C4LinesParams()
    c = [0] * 7
    lorem = curly = False
    kept: list[str] = []
    sentences = 0
    lines = text.splitlines()
    c[0] = len(lines)
    for line in lines:
        line = line.strip()
        words = line.split()
        if p.max_word_length != -1 and any(len(w) > p.max_word_length for w in words):
            c[2] += 1
            continue
        if p.remove_citations:
            line = _CITATION_RE.sub("", line)
        if p.filter_no_terminal_punct and (not line.endswith(_END_PUNCT) or line.endswith("...")):
            c[3] += 1
            continue
        if len(words) < p.min_words_per_line:
            c[4] += 1
            continue
        line_l = line.lower()
        if "lorem ipsum" in line_l:
            lorem = True
        if p.filter_javascript and "javascript" in line_l:
            c[5] += 1
            continue
        if "{" in line:
            curly = True
        if p.filter_policy and any(s in line_l for s in _POLICY):
            c[6] += 1
            continue
        sentences += tf.sentence_count(tf.word_tokenize(line))
        kept.append(line)
    c[1] = len(kept)
    return "\n".join(kept).strip(), c, lorem, curly, sentences


C4_COUNT_COLUMNS = (
    "c4_lines_v1",
    "c4_lines_kept_v1",
    "c4_lines_dropped_long_word_v1",
    "c4_lines_dropped_no_terminal_punct_v1",
    "c4_lines_dropped_few_words_v1",
    "c4_lines_dropped_javascript_v1",
    "c4_lines_dropped_policy_v1",
)


class C4LinesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remove_citations: bool = Field(True, description="strip [1], [edit], [citation needed] (datatrove default True)")
    filter_no_terminal_punct: bool = Field(
        True, description="drop lines not ending in . ? ! \" ' or ending in ... (datatrove default True)"
    )
    min_words_per_line: int = Field(
        3, description="drop lines with fewer whitespace words (datatrove default 3; -1 off)"
    )
    max_word_length: int = Field(
        1000, description="drop lines with a whitespace word longer than this (datatrove default 1000; -1 off)"
    )
    filter_javascript: bool = Field(True, description="drop lines mentioning 'javascript' (datatrove default True)")
    filter_policy: bool = Field(
        True, description="drop lines with terms-of-use / privacy / cookie phrases (datatrove default True)"
    )


@register("c4_lines")
class C4Lines(Transform):
    """datatrove ``C4QualityFilter`` (``split_paragraph=True``): keeps the lines C4 keeps and
    rewrites ``text`` to ``"\\n".join(kept_lines).strip()`` exactly as datatrove does.

    Document-level C4 decisions are left to rules on these columns:

    - ``c4_num_sentences_v1`` (int): sentences (spaCy sentencizer) in the kept lines
      [datatrove min_num_sentences=5]
    - ``c4_has_lorem_ipsum_v1`` (bool): a line reaching the check contains "lorem ipsum" [drop]
    - ``c4_has_curly_bracket_v1`` (bool): a line reaching the check contains "{" [drop]

    plus line counts: ``c4_lines_v1`` (input lines), ``c4_lines_kept_v1`` and
    ``c4_lines_dropped_{long_word,no_terminal_punct,few_words,javascript,policy}_v1``.
    Checks run in datatrove's order (long word, citations, terminal punctuation, word count,
    lorem ipsum, javascript, curly bracket, policy); datatrove stops at lorem ipsum / a curly
    bracket and drops the document, here the remaining lines are still processed and counted."""

    Params = C4LinesParams

    def output_columns(self) -> list[str]:
        return ["c4_num_sentences_v1", "c4_has_lorem_ipsum_v1", "c4_has_curly_bracket_v1", *C4_COUNT_COLUMNS]

    def transform(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> pa.RecordBatch:
        p = self.params
        col = tf.text_column(batch)
        data, offs = tf.text_bytes(batch)
        out, new_offs, line_starts, doc_lines, counts, flags = _c4_kernel(
            data, offs, _nd_digits(), int(p.remove_citations), int(p.filter_no_terminal_punct),
            p.min_words_per_line, p.max_word_length, int(p.filter_javascript), int(p.filter_policy),
        )
        large = pa.types.is_large_string(col.type) or pa.types.is_large_unicode(col.type)
        odt = np.int64 if large else np.int32
        new_col = pa.Array.from_buffers(
            pa.large_string() if large else pa.string(), len(col),
            [None, pa.py_buffer(new_offs.astype(odt)), pa.py_buffer(out[: new_offs[-1]].copy())],
        )
        if new_col.type != col.type:
            new_col = new_col.cast(col.type)
        # words of the kept lines: each kept line (with its trailing newline) as one unit
        vocab = tf.get_vocab(allow_reset=True)  # every cached word of this batch is replaced below
        line_chunk_off, chunk_ids = vocab.scan(out, line_starts)
        vocab.sync()
        sent = tf.line_sentences(line_chunk_off, chunk_ids, vocab.c_sent.view())
        csum = np.zeros(len(sent) + 1, np.int64)
        np.cumsum(sent, out=csum[1:])
        sentences = csum[doc_lines[1:]] - csum[doc_lines[:-1]]
        cols: dict[str, Any] = {
            "text": new_col,
            "c4_num_sentences_v1": sentences,
            "c4_has_lorem_ipsum_v1": flags[:, 0].astype(np.bool_),
            "c4_has_curly_bracket_v1": flags[:, 1].astype(np.bool_),
        }
        for k, name in enumerate(C4_COUNT_COLUMNS):
            cols[name] = counts[:, k]
        result = with_columns(batch, cols)
        # the text changed: drop every cached feature, then leave the new text's words
        cache.clear()
        tf.store_words(cache, tf.words_from_chunk_ids(vocab, line_chunk_off[doc_lines], chunk_ids))
        return result


@lru_cache(maxsize=1)
def _nd_digits() -> np.ndarray:
    """Code points of Unicode category Nd beyond ASCII (what ``re``'s ``\\d`` matches; all of
    them are below U+20000)."""
    return np.array([c for c in range(0x80, 0x20000) if unicodedata.category(chr(c)) == "Nd"], np.int64)


# --------------------------------------------------------------------------------------------
# FineWeb (Penedo et al. 2024)
# --------------------------------------------------------------------------------------------


class FineWebQualityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stop_chars: list[str] | None = Field(
        None, description="line-final characters counted by fineweb_line_punct_ratio_v1 "
        "(datatrove default: TERMINAL_PUNCTUATION)",
    )
    short_line_length: int = Field(
        30, description="a line of at most this many characters is short (datatrove default 30)"
    )


@register("fineweb_quality_signals")
class FineWebQualitySignals(Annotator):
    """Signals of datatrove's ``FineWebQualityFilter`` over non-blank lines (``text.split("\\n")``,
    lines that are not all whitespace):

    - ``fineweb_line_punct_ratio_v1``: lines ending with terminal punctuation / lines
      [datatrove drops < 0.12; with line_punct_exclude_zero a 0 is kept]
    - ``fineweb_short_line_ratio_v1``: lines of <= 30 characters / lines [drops > 0.67]
    - ``fineweb_char_dup_ratio_v1``: characters in repeated lines / characters other than
      ``\\n`` [drops > 0.01]
    - ``fineweb_list_ratio_v1``: ``\\n`` count / words [drops > 0.3]

    A text without a non-blank line (datatrove: "empty") gets punct ratio 0 and short ratio 1."""

    Params = FineWebQualityParams

    def output_columns(self) -> list[str]:
        return ["fineweb_line_punct_ratio_v1", "fineweb_short_line_ratio_v1", "fineweb_char_dup_ratio_v1",
                "fineweb_list_ratio_v1"]

    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, np.ndarray]:
        bw = tf.batch_words(batch, cache)
        stop = self.params.stop_chars if self.params.stop_chars is not None else tf.DT_TERMINAL_PUNCTUATION
        if any(len(c) != 1 for c in stop):
            raise ValueError("fineweb_quality_signals: stop_chars must be single characters")
        stop_cps = np.array(sorted({ord(c) for c in stop}), np.int64)
        data, offs = tf.text_bytes(batch)
        f = _fineweb_lines(data, offs, stop_cps, self.params.short_line_length)
        n_lines = f[:, 0].astype(np.float64)
        empty = n_lines == 0
        nl = np.where(empty, 1.0, n_lines)
        n_words = bw.n_words
        out = np.zeros((len(f), 4), np.float64)
        out[:, 0] = f[:, 1] / nl
        out[:, 1] = np.where(empty, 1.0, f[:, 2] / nl)
        out[:, 2] = np.where(empty, 0.0, f[:, 3] / np.maximum(f[:, 5] - f[:, 4], 1))
        out[:, 3] = np.where(n_words == 0, 0.0, f[:, 4] / np.maximum(n_words, 1))
        return {
            "fineweb_line_punct_ratio_v1": out[:, 0],
            "fineweb_short_line_ratio_v1": out[:, 1],
            "fineweb_char_dup_ratio_v1": out[:, 2],
            "fineweb_list_ratio_v1": out[:, 3],
        }


# --------------------------------------------------------------------------------------------
# numba kernels over the UTF-8 bytes of a batch (exact equivalents of the Python expressions
# quoted in each docstring; tests/test_english_signals.py checks them against those)
# --------------------------------------------------------------------------------------------

from numba import njit  # noqa: E402

from heitu.data.steps.textfeat import byte_hash, ws_len  # noqa: E402


@njit(cache=True, nogil=True, inline="always")
def _nchars(data, s, e):
    n = 0
    for i in range(s, e):
        if (data[i] & 0xC0) != 0x80:
            n += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def _last_char_start(data, s, e):
    i = e - 1
    while i > s and (data[i] & 0xC0) == 0x80:
        i -= 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _rstrip(data, s, e):
    while e > s:
        j = _last_char_start(data, s, e)
        if ws_len(data, j, e) == e - j:
            e = j
        else:
            break
    return e


@njit(cache=True, nogil=True, inline="always")
def _lstrip(data, s, e):
    while s < e:
        w = ws_len(data, s, e)
        if w == 0:
            break
        s += w
    return s


@njit(cache=True, nogil=True, inline="always")
def _seen_before(keys, stamp, mask, gen, h):
    """Insert h into the table generation `gen`; True if it was already there."""
    slot = h & mask
    while stamp[slot] == gen:
        if keys[slot] == h:
            return True
        slot = (slot + np.uint64(1)) & mask
    stamp[slot] = gen
    keys[slot] = h
    return False


@njit(cache=True, nogil=True)
def _newline_counts(data, offs):
    """Number of "\\n" bytes in each document (sizes the per-document line hash tables)."""
    nd = offs.shape[0] - 1
    nls = np.zeros(nd, np.int64)
    for d in range(nd):
        c = 0
        for i in range(offs[d], offs[d + 1]):
            if data[i] == 10:
                c += 1
        nls[d] = c
    return nls


@njit(cache=True, nogil=True)
def _pow2_at_least(n):
    cap = 16
    while cap < n:
        cap *= 2
    return cap


@njit(cache=True, nogil=True)
def _rep_lines(data, offs):
    """Per document: [repeated paragraphs, paragraphs, chars in repeated paragraphs, repeated
    lines, lines, chars in repeated lines, len(text)] where paragraphs =
    ``re.split(r"\\n{2,}", text.strip())`` and lines = ``re.split("\\n+", text)``."""
    nd = offs.shape[0] - 1
    out = np.zeros((nd, 7), np.int64)
    nls = _newline_counts(data, offs)
    cap = _pow2_at_least(2 * (nls.max() + 2 if nd else 2))
    keys = np.zeros(cap, np.uint64)
    stamp = np.zeros(cap, np.int64)
    gen = 0
    for d in range(nd):
        s0 = offs[d]
        e0 = offs[d + 1]
        out[d, 6] = _nchars(data, s0, e0)
        mask = np.uint64(_pow2_at_least(2 * (nls[d] + 2)) - 1)
        for mode in range(2):
            if mode == 0:  # paragraphs: strip, split on runs of >= 2 newlines
                s = _lstrip(data, s0, e0)
                e = _rstrip(data, s, e0)
                k = 2
            else:  # lines: split on runs of >= 1 newline
                s = s0
                e = e0
                k = 1
            gen += 1
            n_el = 0
            n_dup = 0
            dup_chars = 0
            seg = s
            i = s
            while True:
                # find the next separator run of >= k newlines, or the end
                if i < e and data[i] == 10:
                    j = i
                    while j < e and data[j] == 10:
                        j += 1
                    if j - i >= k:
                        n_el += 1
                        if _seen_before(keys, stamp, mask, gen, byte_hash(data, seg, i)):
                            n_dup += 1
                            dup_chars += _nchars(data, seg, i)
                        seg = j
                    i = j
                    continue
                if i >= e:
                    n_el += 1
                    if _seen_before(keys, stamp, mask, gen, byte_hash(data, seg, e)):
                        n_dup += 1
                        dup_chars += _nchars(data, seg, e)
                    break
                i += 1
            out[d, 3 * mode] = n_dup
            out[d, 3 * mode + 1] = n_el
            out[d, 3 * mode + 2] = dup_chars
    return out


@njit(cache=True, nogil=True, inline="always")
def _line_break_len(data, i, end):
    """Bytes of the ``str.splitlines`` boundary at data[i] (\\r\\n counts as one), else 0."""
    b = data[i]
    if b == 10 or b == 11 or b == 12 or b == 28 or b == 29 or b == 30:
        return 1
    if b == 13:
        return 2 if i + 1 < end and data[i + 1] == 10 else 1
    if b == 0xC2:
        return 2 if i + 1 < end and data[i + 1] == 0x85 else 0
    if b == 0xE2:
        return 3 if i + 2 < end and data[i + 1] == 0x80 and (data[i + 2] == 0xA8 or data[i + 2] == 0xA9) else 0
    return 0


@njit(cache=True, nogil=True, inline="always")
def _ends_with_ellipsis(data, s, e):
    if e - s >= 3 and data[e - 1] == 46 and data[e - 2] == 46 and data[e - 3] == 46:
        return True
    return e - s >= 3 and data[e - 3] == 0xE2 and data[e - 2] == 0x80 and data[e - 1] == 0xA6


@njit(cache=True, nogil=True)
def _quality_lines(data, offs):
    """Per document: [text.count("#"), text.count("...") + text.count("…"), lines of
    ``text.splitlines()``, of which starting with • or - after lstrip, of which ending with
    ... or … after rstrip]."""
    nd = offs.shape[0] - 1
    out = np.zeros((nd, 5), np.int64)
    for d in range(nd):
        s0 = offs[d]
        e0 = offs[d + 1]
        hashes = 0
        dots = 0
        i = s0
        while i < e0:
            b = data[i]
            if b == 35:
                hashes += 1
            elif b == 46 and i + 2 < e0 and data[i + 1] == 46 and data[i + 2] == 46:
                dots += 1
                i += 3
                continue
            elif b == 0xE2 and i + 2 < e0 and data[i + 1] == 0x80 and data[i + 2] == 0xA6:
                dots += 1
            i += 1
        lines = 0
        bullets = 0
        ell = 0
        ls = s0
        i = s0
        while i <= e0:
            w = _line_break_len(data, i, e0) if i < e0 else -1
            if w == 0:
                i += 1
                continue
            if w > 0 or i > ls:  # a line ends here (the text's last line only if non-empty)
                lines += 1
                a = _lstrip(data, ls, i)
                if a < i and (data[a] == 45 or (  # "-" or "•"
                        a + 2 < i and data[a] == 0xE2 and data[a + 1] == 0x80 and data[a + 2] == 0xA2)):
                    bullets += 1
                z = _rstrip(data, ls, i)
                if _ends_with_ellipsis(data, ls, z):
                    ell += 1
            if w < 0:
                break
            i += w
            ls = i
        out[d, 0] = hashes
        out[d, 1] = dots
        out[d, 2] = lines
        out[d, 3] = bullets
        out[d, 4] = ell
    return out


@njit(cache=True, nogil=True, inline="always")
def _decode_at(data, i):
    b = np.int64(data[i])
    if b < 0x80:
        return b
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
    return (((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F))


@njit(cache=True, nogil=True)
def _fineweb_lines(data, offs, stop_cps, short_len):
    """Per document, over ``[x for x in text.split("\\n") if x.strip()]``: [lines, lines whose
    last character is in `stop_cps` (sorted code points), lines of <= short_len characters,
    characters in repeated lines, text.count("\\n"), len(text)]."""
    nd = offs.shape[0] - 1
    out = np.zeros((nd, 6), np.int64)
    nls = _newline_counts(data, offs)
    cap = _pow2_at_least(2 * (max(1, nls.max()) + 2 if nd else 3))
    keys = np.zeros(cap, np.uint64)
    stamp = np.zeros(cap, np.int64)
    gen = 0
    for d in range(nd):
        s0 = offs[d]
        e0 = offs[d + 1]
        nl = nls[d]
        mask = np.uint64(_pow2_at_least(2 * (nl + 2)) - 1)
        gen += 1
        n = 0
        punct = 0
        short = 0
        dup = 0
        ls = s0
        for i in range(s0, e0 + 1):
            if i < e0 and data[i] != 10:
                continue
            if _lstrip(data, ls, i) < i:  # non-blank line data[ls:i]
                n += 1
                j = _last_char_start(data, ls, i)
                cp = _decode_at(data, j)
                k = np.searchsorted(stop_cps, cp)
                if k < stop_cps.shape[0] and stop_cps[k] == cp:
                    punct += 1
                nc = _nchars(data, ls, i)
                if nc <= short_len:
                    short += 1
                if _seen_before(keys, stamp, mask, gen, byte_hash(data, ls, i)):
                    dup += nc
            ls = i + 1
        out[d, 0] = n
        out[d, 1] = punct
        out[d, 2] = short
        out[d, 3] = dup
        out[d, 4] = nl
        out[d, 5] = _nchars(data, s0, e0)
    return out


@njit(cache=True, nogil=True, inline="always")
def _is_digit(data, i, e, nd_digits):
    """(is a ``\\d`` character, its byte length) at data[i]."""
    b = data[i]
    if b < 0x80:
        return 48 <= b <= 57, 1
    j = i + 1
    while j < e and (data[j] & 0xC0) == 0x80:
        j += 1
    cp = _decode_at(data, i)
    k = np.searchsorted(nd_digits, cp)
    return k < nd_digits.shape[0] and nd_digits[k] == cp, j - i


@njit(cache=True, nogil=True, inline="always")
def _match_at(buf, i, e, lit):
    if e - i < lit.shape[0]:
        return False
    for k in range(lit.shape[0]):
        if buf[i + k] != lit[k]:
            return False
    return True


_EDIT = np.frombuffer(b"[edit]", np.uint8).copy()
_CITATION = np.frombuffer(b"[citation needed]", np.uint8).copy()
_LOREM = np.frombuffer(b"lorem ipsum", np.uint8).copy()
_JS = np.frombuffer(b"javascript", np.uint8).copy()
_TERMS = np.frombuffer(b"terms of use", np.uint8).copy()
_PRIVACY = np.frombuffer(b"privacy policy", np.uint8).copy()
_COOKIE = np.frombuffer(b"cookie policy", np.uint8).copy()
_USES_C = np.frombuffer(b"uses cookies", np.uint8).copy()
_USE_OF_C = np.frombuffer(b"use of cookies", np.uint8).copy()
_USE_C = np.frombuffer(b"use cookies", np.uint8).copy()


@njit(cache=True, nogil=True)
def _c4_kernel(data, offs, nd_digits, cite, no_punct, min_words, max_wl, js, policy):
    """datatrove ``C4QualityFilter.filter`` over every document (see ``C4Lines``).

    Returns the new texts (bytes + offsets), the start offset of every kept line in those bytes
    (plus the end), document -> kept line offsets, per-document line counts and
    [lorem ipsum, curly bracket] flags."""
    nd = offs.shape[0] - 1
    out = np.empty(max(offs[nd] - offs[0], 1), np.uint8)
    new_offs = np.zeros(nd + 1, np.int64)
    counts = np.zeros((nd, 7), np.int64)
    flags = np.zeros((nd, 2), np.uint8)
    n_lines_total = 0
    for d in range(nd):
        for i in range(offs[d], offs[d + 1]):
            if data[i] == 10:
                n_lines_total += 1
    line_starts = np.zeros(n_lines_total + nd + 1, np.int64)
    doc_lines = np.zeros(nd + 1, np.int64)
    low = np.empty(max(offs[nd] - offs[0], 1), np.uint8)
    nk = 0  # kept lines so far
    pos = 0  # write position in out
    for d in range(nd):
        s0 = offs[d]
        e0 = offs[d + 1]
        doc_start = pos
        first_kept = True
        ls = s0
        i = s0
        while i <= e0:
            w = _line_break_len(data, i, e0) if i < e0 else -1
            if w == 0:
                i += 1
                continue
            if w > 0 or i > ls:
                counts[d, 0] += 1
                a = _lstrip(data, ls, i)
                z = _rstrip(data, a, i)
                # words (pre-citation) and the longest one
                n_words = 0
                longest = 0
                j = a
                cur = 0
                while j < z:
                    ww = ws_len(data, j, z)
                    if ww:
                        if cur > longest:
                            longest = cur
                        cur = 0
                        j += ww
                        continue
                    b = data[j]
                    if cur == 0:
                        n_words += 1
                    if (b & 0xC0) != 0x80:
                        cur += 1
                    j += 1
                if cur > longest:
                    longest = cur
                dropped = False
                if max_wl != -1 and longest > max_wl:
                    counts[d, 2] += 1
                    dropped = True
                if not dropped:
                    # write the (citation-free) line at out[q:r]; a "\n" first unless first kept line
                    q = pos if first_kept else pos + 1
                    r = q
                    j = a
                    while j < z:
                        b = data[j]
                        if cite and b == 91:
                            k = j + 1
                            while k < z:
                                isd, ln = _is_digit(data, k, z, nd_digits)
                                if not isd:
                                    break
                                k += ln
                            if k < z and data[k] == 93:
                                j = k + 1
                                continue
                            if _match_at(data, j, z, _EDIT):
                                j += _EDIT.shape[0]
                                continue
                            if _match_at(data, j, z, _CITATION):
                                j += _CITATION.shape[0]
                                continue
                        out[r] = b
                        r += 1
                        j += 1
                    last = out[r - 1] if r > q else 0
                    if no_punct and (not (last == 46 or last == 63 or last == 33 or last == 34 or last == 39)
                                     or (r - q >= 3 and out[r - 2] == 46 and out[r - 3] == 46 and last == 46)):
                        counts[d, 3] += 1
                        dropped = True
                    elif n_words < min_words:
                        counts[d, 4] += 1
                        dropped = True
                    else:
                        # lower-cased copy (ASCII letters and KELVIN SIGN: the only characters
                        # str.lower() maps into ASCII that could complete these phrases)
                        m = 0
                        curly = False
                        j = q
                        while j < r:
                            b = out[j]
                            if 65 <= b <= 90:
                                low[m] = b + 32
                            elif b == 0xE2 and j + 2 < r and out[j + 1] == 0x84 and out[j + 2] == 0xAA:
                                low[m] = 107
                                m += 1
                                j += 3
                                continue
                            else:
                                low[m] = b
                                if b == 123:
                                    curly = True
                            m += 1
                            j += 1
                        lorem = False
                        has_js = False
                        has_policy = False
                        for t in range(m):
                            c = low[t]
                            if c == 108 and _match_at(low, t, m, _LOREM):
                                lorem = True
                            elif c == 106 and _match_at(low, t, m, _JS):
                                has_js = True
                            elif c == 116 and _match_at(low, t, m, _TERMS):
                                has_policy = True
                            elif c == 112 and _match_at(low, t, m, _PRIVACY):
                                has_policy = True
                            elif c == 99 and _match_at(low, t, m, _COOKIE):
                                has_policy = True
                            elif c == 117 and (_match_at(low, t, m, _USES_C) or _match_at(low, t, m, _USE_OF_C)
                                               or _match_at(low, t, m, _USE_C)):
                                has_policy = True
                        if lorem:
                            flags[d, 0] = 1
                        if js and has_js:
                            counts[d, 5] += 1
                            dropped = True
                        else:
                            if curly:
                                flags[d, 1] = 1
                            if policy and has_policy:
                                counts[d, 6] += 1
                                dropped = True
                    if not dropped:
                        if not first_kept:
                            out[pos] = 10
                        line_starts[nk] = pos
                        nk += 1
                        pos = r
                        first_kept = False
                        counts[d, 1] += 1
            if w < 0:
                break
            i += w
            ls = i
        # "\n".join(kept).strip(): only the first line can start, the last end, with whitespace
        a = _lstrip(out, doc_start, pos)
        if a > doc_start:
            for j in range(a, pos):
                out[doc_start + j - a] = out[j]
            pos -= a - doc_start
            for t in range(doc_lines[d], nk):
                line_starts[t] = max(doc_start, line_starts[t] - (a - doc_start))
        pos = _rstrip(out, doc_start, pos)
        new_offs[d + 1] = pos
        doc_lines[d + 1] = nk
    line_starts[nk] = pos
    return out, new_offs, line_starts[: nk + 1], doc_lines, counts, flags
