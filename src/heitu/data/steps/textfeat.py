"""Shared English text features, computed once per batch and kept in the per-batch ``cache``.

The English quality rules (Gopher repetition, Gopher quality, FineWeb; see ``english.py``) all
look at the same *words*. datatrove gets them from spaCy's English tokenizer (``spacy.blank("en")``),
which is why it runs at ~0.3 MB/s per core. Here the same tokenizer is emulated (same prefix /
suffix / infix / URL rules and special cases, ported from spaCy 3.8, MIT licence) but applied
**once per distinct whitespace chunk per process**: a text is split on whitespace (exactly like
spaCy, which never joins across whitespace), each distinct chunk is tokenised once and interned,
and every later occurrence is a dictionary hit. Per-token features (length, alpha, symbol,
sentence punctuation, a polynomial hash of its characters) live in numpy arrays indexed by token
id, so the per-document work (n-gram repetition, counts) runs in numba over int32 token ids.

Public entry points:

- ``word_tokenize(text)``: the words datatrove's ``split_into_words(text, "en")`` returns
  (reference path, used by tests and for spot checks).
- ``batch_words(batch, cache)``: the token ids of every document of a batch, kept in the cache
  as one array per document (``cache["en_words"]``) so they survive row filtering by selectors.
- ``batch_texts(batch, cache)``: the texts as Python strings (``cache["en_texts"]``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

DT_PUNCTUATION = "!/\u2014\u201d:\uff05\uff11\u3008&(\u3001\u2501\\\u3010#%\u300c\u300d\uff0c\u3011\uff1b+^]~\u201c\u300a\u201e\';\u2019{|\u2236\xb4[=-`*\uff0e\uff08\u2013\uff1f\uff01\uff1a$\uff5e\xab\u3009,><\u300b)?\uff09\u3002\u2026@_.\"}\u25ba\xbb\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
DT_TERMINAL_PUNCTUATION = frozenset("!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98\U0001bc9f\U0001da88")
SENT_PUNCT_CHARS = frozenset("!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\U00010a56\U00010a57\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88\uff61\u3002")
_HAS_DIGIT = re.compile("[0-9]").search
# Characters that are a prefix and a suffix on their own and start / end no longer prefix or
# suffix pattern: a chunk starting (ending) with one has exactly that one-character prefix (suffix).
_ONE_CHAR_AFFIX = frozenset(",:;!?()[]{}<>_#*&'\"”“`‘´’‚„»«")
_INFIX_ASCII = frozenset(".+-*^,~:<>=/")


class SpacyEnTokenizer:
    """``spacy.blank("en").tokenizer`` with a faster affix loop: spaCy's own rules (its prefix,
    suffix and infix regexes, URL pattern and special cases, read from spaCy at start-up) driven
    by a Python re-implementation of ``Tokenizer._split_affixes`` / ``_attach_tokens`` with cheap
    exact pre-checks in front of the regexes. Called once per distinct whitespace chunk; the
    tests check it token for token against spaCy itself."""

    def __init__(self) -> None:
        from heitu.core.errors import require

        spacy = require("spacy", extra="en", feature="English word tokenisation (Gopher, C4, FineWeb signals)")
        tok = spacy.blank("en").tokenizer  # rules only: nothing is downloaded
        self._prefix = tok.prefix_search
        self._suffix = tok.suffix_search
        self._infix = tok.infix_finditer
        self._url = tok.url_match
        orth = spacy.symbols.ORTH
        self.specials: dict[str, tuple[str, ...]] = {
            key: tuple(t[orth] for t in toks) for key, toks in tok.rules.items()
        }
        self._patterns: dict[tuple[str, ...], str] | None = None
        self._pattern_lens: list[int] = []

    # Cheap exact pre-checks before the (large) regexes. A prefix starts with a symbol or
    # punctuation, or is one of the currencies "US$", "C$", "A$". A suffix ending in a letter is
    # "'s"-like or a unit, which must follow an ASCII digit. An infix is one of . … + - * ^ , – —
    # ~ : < > = / or a symbol (So). Every URL has a dot.

    def _find_prefix(self, s: str) -> int:
        c = s[:1]
        if c.isalpha() and not s.startswith(("US$", "C$", "A$")):
            return 0
        if c in _ONE_CHAR_AFFIX:
            return 1
        m = self._prefix(s)
        return m.end() - m.start() if m is not None else 0

    def _find_suffix(self, s: str) -> int:
        c = s[-1:]
        if c.isalpha() and s[-2:-1] not in ("'", "’") and not _HAS_DIGIT(s):
            return 0
        if c in _ONE_CHAR_AFFIX:
            return 1
        m = self._suffix(s)
        return m.end() - m.start() if m is not None else 0

    def _find_infix(self, s: str):
        if s.isascii() and not _INFIX_ASCII.intersection(s):
            return ()
        return self._infix(s)

    def _affix_tokenize(self, string: str, specials: dict) -> list[str]:
        """``Tokenizer._split_affixes`` + ``_attach_tokens`` (no cache: datatrove tokenises
        inside ``memory_zone()``, where spaCy's cache is off)."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        prefix = suffix = ""
        while string and len(string) != last_size:
            if string in specials:
                break
            last_size = len(string)
            pre_len = self._find_prefix(string)
            minus_pre = ""
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._find_suffix(string[pre_len:])
            minus_suf = ""
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if string:
            sp = specials.get(string)
            if sp is not None:
                out.extend(sp)
            elif "." in string and self._url(string):
                out.append(string)
            else:
                start = 0
                for m in self._find_infix(string):
                    i0, i1 = m.start(), m.end()
                    if i0 == 0:
                        continue
                    if i0 != start:
                        out.append(string[start:i0])
                    if i0 != i1:
                        out.append(string[i0:i1])
                    start = i1
                if string[start:]:
                    out.append(string[start:])
        out.extend(reversed(suffixes))
        return out

    def _special_patterns(self) -> dict[tuple[str, ...], str]:
        """spaCy's ``_special_matcher``: special cases that the affix rules would split are
        re-joined after tokenisation (e.g. ``Dr.Smith`` -> ``Dr.`` ``Smith``; ``x):`` -> ``):``)."""
        if self._patterns is None:
            pats = {}
            for s in self.specials:
                if self._find_prefix(s) or self._find_suffix(s) or any(True for _ in self._find_infix(s)):
                    pats[tuple(self._affix_tokenize(s, {}))] = s
            self._patterns = pats
            self._pattern_lens = sorted({len(p) for p in pats})
        return self._patterns

    def tokenize_chunk(self, string: str) -> list[str]:
        """Tokens of one whitespace-free chunk."""
        sp = self.specials.get(string)
        if sp is not None:
            return list(sp)
        if string.isalpha() and string.isascii():
            return [string]  # no affix, infix or URL rule can apply to ASCII letters alone
        toks = self._affix_tokenize(string, self.specials)
        if len(toks) < 2:
            return toks
        pats = self._special_patterns()
        matches = []
        for i in range(len(toks)):
            for n in self._pattern_lens:
                if i + n > len(toks):
                    break
                s = pats.get(tuple(toks[i : i + n]))
                if s is not None:
                    matches.append((i, i + n, s))
        if not matches:
            return toks
        # Tokenizer._filter_special_spans: longest first (then leftmost), no overlaps
        matches.sort(key=lambda m: (m[1] - m[0], -m[0]))
        seen: set[int] = set()
        kept = []
        for m in reversed(matches):
            if m[0] not in seen and (m[1] - 1) not in seen:
                kept.append(m)
            seen.update(range(m[0], m[1]))
        out: list[str] = []
        i = 0
        for start, end, s in sorted(kept):
            out.extend(toks[i:start])
            out.extend(self.specials[s])
            i = end
        out.extend(toks[i:])
        return out

    def word_tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for chunk in text.split():
            out.extend(self.tokenize_chunk(chunk))
        return out


@lru_cache(maxsize=1)
def get_tokenizer() -> SpacyEnTokenizer:
    return SpacyEnTokenizer()


def word_tokenize(text: str) -> list[str]:
    """The words of `text` as datatrove's ``split_into_words(text, "en")`` returns them."""
    return get_tokenizer().word_tokenize(text)


_ASCII_P = {ord(c): None for c in map(chr, range(128)) if unicodedata.category(c).startswith("P")}


def _is_punct(tok: str) -> bool:  # spaCy's lexeme attribute IS_PUNCT
    if tok.isascii():
        return not tok.translate(_ASCII_P)
    return all(unicodedata.category(c).startswith("P") for c in tok)


def sentence_count(tokens: list[str]) -> int:
    """Sentences spaCy's ``sentencizer`` finds in a token list (datatrove's C4 sentence count)."""
    if not tokens:
        return 0
    n, seen = 1, False
    for t in tokens:
        in_chars = t in SENT_PUNCT_CHARS
        if seen and not in_chars and not _is_punct(t):
            n += 1
            seen = False
        elif in_chars:
            seen = True
    return n


# --------------------------------------------------------------------------------------------
# Interned chunks and tokens (one vocabulary per process)
# --------------------------------------------------------------------------------------------

F_NONSYM = 1  # has a character outside datatrove's PUNCTUATION_SET (a Gopher "non-symbol word")
F_ALPHA = 2  # has an alphabetic character (str.isalpha)
F_PUNCT = 4  # spaCy IS_PUNCT: every character is Unicode punctuation (P*)
F_SENT = 8  # one of the sentencizer's sentence-final characters

HASH_BASE = 0x9E3779B97F4A7C15  # odd, so multiplication by it is a bijection mod 2**64
DT_PUNCTUATION_SET = frozenset(DT_PUNCTUATION) | DT_TERMINAL_PUNCTUATION


class _Grow:
    """A numpy vector with amortised appends."""

    def __init__(self, dtype, cap: int = 1024):
        self.a = np.empty(cap, dtype=dtype)
        self.n = 0

    def extend(self, values: list) -> None:
        k = len(values)
        if not k:
            return
        if self.n + k > len(self.a):
            cap = max(2 * len(self.a), self.n + k)
            b = np.empty(cap, dtype=self.a.dtype)
            b[: self.n] = self.a[: self.n]
            self.a = b
        self.a[self.n : self.n + k] = values
        self.n += k

    def view(self) -> np.ndarray:
        return self.a[: self.n]


def _sent_summary(flags: list[int], seen: bool) -> tuple[int, bool]:
    """Run the sentencizer state machine over one chunk's tokens: (new sentence starts, state)."""
    n = 0
    for f in flags:
        if seen and not f & F_SENT and not f & F_PUNCT:
            n += 1
            seen = False
        elif f & F_SENT:
            seen = True
    return n, seen


class WordVocab(dict):
    """chunk string -> chunk id. A missing chunk is tokenised once and interned.

    Per chunk: its token ids (CSR ``c_start``/``c_n`` into ``c_toks``) and a summary of the
    sentencizer state machine over it. Per token: length in code points, ``F_*`` flags, a
    polynomial hash of its UTF-8 bytes and ``HASH_BASE ** (bytes)`` (so hashes of
    concatenations combine exactly: ``h(ab) = h(a) * B**len(b) + h(b)``)."""

    def __init__(self, max_chunks: int = 1_000_000):
        super().__init__()
        self.max_chunks = max_chunks
        self.tokenizer = get_tokenizer()
        self.tok_ids: dict[str, int] = {}
        self.tok_strs: list[str] = []
        self._pending_tlen: list[int] = []
        self._pending_tflag: list[int] = []
        self._pending_tstr: list[str] = []
        self._pending_cn: list[int] = []
        self._pending_csent: list[int] = []
        self._pending_ctoks: list[int] = []
        self.t_len = _Grow(np.int32)
        self.t_flag = _Grow(np.uint8)
        self.t_hash = _Grow(np.uint64)
        self.t_pow = _Grow(np.uint64)
        self.c_start = _Grow(np.int64)
        self.c_n = _Grow(np.int32)
        self.c_sent = _Grow(np.int32)  # packed: count0 | exit0<<14 | count1<<15 | exit1<<29
        self.c_toks = _Grow(np.int32)
        # chunk byte hash -> chunk id (open addressing, -1 = empty slot)
        self.ht_keys = np.zeros(1 << 16, np.uint64)
        self.ht_vals = np.full(1 << 16, -1, np.int32)
        self.ht_count = 0

    def _token_id(self, t: str) -> int:
        tid = self.tok_ids.get(t)
        if tid is None:
            tid = len(self.tok_strs)
            self.tok_ids[t] = tid
            self.tok_strs.append(t)
            if t.isalpha():
                f = F_NONSYM | F_ALPHA
            else:
                f = 0
                if not DT_PUNCTUATION_SET.issuperset(t):
                    f |= F_NONSYM
                if any(c.isalpha() for c in t):
                    f |= F_ALPHA
                if _is_punct(t):
                    f |= F_PUNCT
                if t in SENT_PUNCT_CHARS:
                    f |= F_SENT
            self._pending_tlen.append(len(t))
            self._pending_tflag.append(f)
            self._pending_tstr.append(t)
        return tid

    def __missing__(self, chunk: str) -> int:
        ids = [self._token_id(t) for t in self.tokenizer.tokenize_chunk(chunk)]
        cid = len(self)
        self[chunk] = cid
        flags = [self._pending_flag(t) for t in ids]
        n0, e0 = _sent_summary(flags, False)
        n1, e1 = _sent_summary(flags, True)
        n0, n1 = min(n0, 0x3FFF), min(n1, 0x3FFF)
        self._pending_cn.append(len(ids))
        self._pending_csent.append(n0 | (e0 << 14) | (n1 << 15) | (e1 << 29))
        self._pending_ctoks.extend(ids)
        return cid

    def _pending_flag(self, tid: int) -> int:
        n = self.t_flag.n
        return int(self.t_flag.a[tid]) if tid < n else self._pending_tflag[tid - n]

    def sync(self) -> None:
        """Move pending entries into the numpy arrays (call before reading them)."""
        if self._pending_tlen:
            self.t_len.extend(self._pending_tlen)
            self.t_flag.extend(self._pending_tflag)
            enc = [t.encode("utf-8", "surrogatepass") for t in self._pending_tstr]
            offs = np.zeros(len(enc) + 1, np.int64)
            np.cumsum(np.fromiter(map(len, enc), np.int64, len(enc)), out=offs[1:])
            h, pw = _poly_hashes(np.frombuffer(b"".join(enc), np.uint8), offs)
            self.t_hash.extend(h)
            self.t_pow.extend(pw)
            self._pending_tlen, self._pending_tflag, self._pending_tstr = [], [], []
        if self._pending_cn:
            n = np.asarray(self._pending_cn, np.int32)
            start = np.zeros(len(n), np.int64)
            np.cumsum(n[:-1], out=start[1:])
            self.c_start.extend(start + self.c_toks.n)
            self.c_n.extend(n)
            self.c_sent.extend(np.asarray(self._pending_csent, np.int32))
            self.c_toks.extend(np.asarray(self._pending_ctoks, np.int32))
            self._pending_cn, self._pending_csent, self._pending_ctoks = [], [], []

    def scan(self, data: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whitespace chunks of every document (``str.split()``) as chunk ids: a numba pass
        hashes each chunk's bytes and looks it up in ``(ht_keys, ht_vals)``; only chunks never
        seen by this process go through Python (decode, tokenise, intern)."""
        chunk_off, ids, miss_k, starts, ends, hashes = _scan_chunks(data, offs, self.ht_keys, self.ht_vals)
        if len(miss_k):
            _, first = np.unique(hashes, return_index=True)
            blob, char_off = _gather(data, starts[first], ends[first])
            text = blob.tobytes().decode("utf-8", "surrogatepass")
            co = char_off.tolist()
            new_ids = [self[text[co[k]: co[k + 1]]] for k in range(len(first))]
            self._ht_add(hashes[first], np.asarray(new_ids, np.int32))
            _resolve(ids, miss_k, hashes, self.ht_keys, self.ht_vals)
        return chunk_off, ids

    def _ht_add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        need = self.ht_count + len(hashes)
        if 2 * need > len(self.ht_keys):
            cap = len(self.ht_keys)
            while 2 * need > cap:
                cap *= 2
            keys, vals = np.zeros(cap, np.uint64), np.full(cap, -1, np.int32)
            _ht_insert(keys, vals, self.ht_keys[self.ht_vals >= 0], self.ht_vals[self.ht_vals >= 0])
            self.ht_keys, self.ht_vals = keys, vals
        _ht_insert(self.ht_keys, self.ht_vals, hashes, ids)
        self.ht_count = need


_VOCAB: WordVocab | None = None


def get_vocab(allow_reset: bool = False) -> WordVocab:
    """The process-wide vocabulary. With `allow_reset` (only when the caller is about to replace
    every cached word of its batch) a vocabulary grown past its cap is replaced by a fresh one;
    cached token ids are checked against the vocabulary object that produced them."""
    global _VOCAB
    if _VOCAB is None or (allow_reset and len(_VOCAB) > _VOCAB.max_chunks):
        _VOCAB = WordVocab()
    return _VOCAB


# --------------------------------------------------------------------------------------------
# Per-batch features
# --------------------------------------------------------------------------------------------


@dataclass
class BatchWords:
    """The words of every document of a batch as token ids.

    ``tok_ids[tok_off[i]:tok_off[i+1]]`` are document i's words (datatrove's
    ``split_into_words``); the ``t_*`` arrays are the vocabulary's per-token features."""

    tok_off: np.ndarray
    tok_ids: np.ndarray
    t_len: np.ndarray
    t_flag: np.ndarray
    t_hash: np.ndarray
    t_pow: np.ndarray
    vocab: WordVocab

    @property
    def n_words(self) -> np.ndarray:
        return np.diff(self.tok_off)

    def words(self, i: int) -> list[str]:
        strs = self.vocab.tok_strs
        return [strs[t] for t in self.tok_ids[self.tok_off[i] : self.tok_off[i + 1]]]


def text_column(batch: pa.RecordBatch) -> pa.Array:
    col = batch.column("text")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col


def text_bytes(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy UTF-8 bytes of the text column and int64 offsets of each document into them."""
    col = text_column(batch)
    if pa.types.is_string_view(col.type):
        col = col.cast(pa.large_string())
    bufs = col.buffers()
    odt = np.int64 if pa.types.is_large_string(col.type) else np.int32
    offs = np.frombuffer(bufs[1], dtype=odt)[col.offset : col.offset + len(col) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offs


# Cache entries are per-document lists (one element per row), so the runner keeps them aligned
# when a filter drops rows (it filters cached lists/arrays of the batch's length by the mask).


def batch_texts(batch: pa.RecordBatch, cache: dict[str, Any]) -> list[str]:
    """The texts as Python strings (``cache["en_texts"]``)."""
    v = cache.get("en_texts")
    if not isinstance(v, list) or len(v) != batch.num_rows:
        v = [t if t is not None else "" for t in text_column(batch).to_pylist()]
        cache["en_texts"] = v
    return v


def words_from_chunk_ids(vocab: WordVocab, chunk_off: np.ndarray, chunk_ids: np.ndarray) -> BatchWords:
    vocab.sync()
    tok_off, tok_ids = _expand_chunks(chunk_off.astype(np.int64), chunk_ids.astype(np.int64),
                                      vocab.c_start.view(), vocab.c_n.view(), vocab.c_toks.view())
    return BatchWords(tok_off, tok_ids, vocab.t_len.view(), vocab.t_flag.view(), vocab.t_hash.view(),
                      vocab.t_pow.view(), vocab)


def store_words(cache: dict[str, Any], words: BatchWords) -> None:
    """Keep `words` in the cache as one token-id array per document (``cache["en_words"]``)."""
    cache["en_words"] = np.split(words.tok_ids, words.tok_off[1:-1]) if len(words.tok_off) > 1 else []
    cache["en_words_vocab"] = [words.vocab] * (len(words.tok_off) - 1)


def batch_words(batch: pa.RecordBatch, cache: dict[str, Any]) -> BatchWords:
    """Words of each document, computed once per batch (and kept across row filtering)."""
    n = batch.num_rows
    docs, vocabs = cache.get("en_words"), cache.get("en_words_vocab")
    if isinstance(docs, list) and len(docs) == n and isinstance(vocabs, list) and len(vocabs) == n:
        vocab = vocabs[0] if n else get_vocab()
        if vocab is _VOCAB and all(v is vocab for v in vocabs):
            vocab.sync()
            lens = np.fromiter(map(len, docs), dtype=np.int64, count=n)
            tok_off = np.zeros(n + 1, np.int64)
            np.cumsum(lens, out=tok_off[1:])
            tok_ids = np.concatenate(docs) if n else np.zeros(0, np.int32)
            return BatchWords(tok_off, tok_ids.astype(np.int32, copy=False), vocab.t_len.view(),
                              vocab.t_flag.view(), vocab.t_hash.view(), vocab.t_pow.view(), vocab)
    vocab = get_vocab(allow_reset=True)
    data, offs = text_bytes(batch)
    chunk_off, chunk_ids = vocab.scan(data, offs)
    v = words_from_chunk_ids(vocab, chunk_off, chunk_ids)
    store_words(cache, v)
    return v


# --------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------

from numba import njit  # noqa: E402

_B = np.uint64(HASH_BASE)
_SPACE = np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _mix(h):
    x = h ^ (h >> np.uint64(31))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(29))
    return x


# byte -> 0: never starts whitespace, 1: one-byte whitespace, 2: may start a multi-byte one
_WS_CLASS = np.zeros(256, np.uint8)
_WS_CLASS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = 1
_WS_CLASS[[0xC2, 0xE1, 0xE2, 0xE3]] = 2


@njit(cache=True, nogil=True)
def _ws_multi(data, i, end):
    b = data[i]
    if b == 0xC2:
        if i + 1 < end and (data[i + 1] == 0x85 or data[i + 1] == 0xA0):
            return 2
        return 0
    if b == 0xE1:
        if i + 2 < end and data[i + 1] == 0x9A and data[i + 2] == 0x80:
            return 3
        return 0
    if b == 0xE2:
        if i + 2 < end:
            b1 = data[i + 1]
            b2 = data[i + 2]
            if b1 == 0x80 and (0x80 <= b2 <= 0x8A or b2 == 0xA8 or b2 == 0xA9 or b2 == 0xAF):
                return 3
            if b1 == 0x81 and b2 == 0x9F:
                return 3
        return 0
    if i + 2 < end and data[i + 1] == 0x80 and data[i + 2] == 0x80:  # 0xE3: U+3000
        return 3
    return 0


@njit(cache=True, nogil=True, inline="always")
def ws_len(data, i, end):
    """Bytes of the whitespace character (``str.isspace``) starting at data[i], else 0."""
    c = _WS_CLASS[data[i]]
    if c == 0:
        return 0
    if c == 1:
        return 1
    return _ws_multi(data, i, end)


@njit(cache=True, nogil=True, inline="always")
def byte_hash(data, s, e):
    """64-bit FNV-1a of data[s:e], mixed."""
    h = np.uint64(0xCBF29CE484222325)
    for i in range(s, e):
        h = (h ^ np.uint64(data[i])) * np.uint64(0x100000001B3)
    return _mix(h ^ np.uint64(e - s))


@njit(cache=True, nogil=True, inline="always")
def _lookup(keys, vals, h):
    mask = np.uint64(keys.shape[0] - 1)
    slot = h & mask
    while vals[slot] >= 0:
        if keys[slot] == h:
            return vals[slot]
        slot = (slot + np.uint64(1)) & mask
    return -1


@njit(cache=True, nogil=True)
def _grow_i64(a, cap):
    b = np.empty(cap, np.int64)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)
def _scan_chunks(data, offs, keys, vals):
    """One pass over the bytes: whitespace chunks of each document (``str.split()``), each
    hashed (``byte_hash``) and looked up. Returns doc -> chunk offsets, chunk ids (-1 where the
    chunk is not in the table) and, for those misses, their index, byte range and hash."""
    nd = offs.shape[0] - 1
    bound = nd
    for i in range(offs[0], offs[nd]):
        if _WS_CLASS[data[i]] != 0:
            bound += 1
    ids = np.empty(bound, np.int32)
    chunk_off = np.zeros(nd + 1, np.int64)
    cap = 256
    m_k = np.empty(cap, np.int64)
    m_s = np.empty(cap, np.int64)
    m_e = np.empty(cap, np.int64)
    m_h = np.empty(cap, np.uint64)
    nm = 0
    k = 0
    basis = np.uint64(0xCBF29CE484222325)
    prime = np.uint64(0x100000001B3)
    for d in range(nd):
        i = offs[d]
        end = offs[d + 1]
        start = -1
        h = basis
        while True:
            w = 1
            if i < end:
                c = _WS_CLASS[data[i]]
                if c == 0:
                    w = 0
                elif c == 2:
                    w = _ws_multi(data, i, end)
                if w == 0:
                    if start < 0:
                        start = i
                        h = basis
                    h = (h ^ np.uint64(data[i])) * prime
                    i += 1
                    continue
            if start >= 0:
                hh = _mix(h ^ np.uint64(i - start))
                cid = _lookup(keys, vals, hh)
                ids[k] = cid
                if cid < 0:
                    if nm == cap:
                        cap *= 2
                        m_k = _grow_i64(m_k, cap)
                        m_s = _grow_i64(m_s, cap)
                        m_e = _grow_i64(m_e, cap)
                        m_h2 = np.empty(cap, np.uint64)
                        m_h2[:nm] = m_h[:nm]
                        m_h = m_h2
                    m_k[nm] = k
                    m_s[nm] = start
                    m_e[nm] = i
                    m_h[nm] = hh
                    nm += 1
                k += 1
                start = -1
            if i >= end:
                break
            i += w
        chunk_off[d + 1] = k
    return chunk_off, ids[:k], m_k[:nm], m_s[:nm], m_e[:nm], m_h[:nm]


@njit(cache=True, nogil=True)
def _resolve(ids, miss_k, miss_h, keys, vals):
    for j in range(miss_k.shape[0]):
        ids[miss_k[j]] = _lookup(keys, vals, miss_h[j])


@njit(cache=True, nogil=True)
def _gather(data, starts, ends):
    """data[starts[k]:ends[k]] concatenated, and the character offset of each piece."""
    total = 0
    for k in range(starts.shape[0]):
        total += ends[k] - starts[k]
    blob = np.empty(total, np.uint8)
    char_off = np.zeros(starts.shape[0] + 1, np.int64)
    p = 0
    c = 0
    for k in range(starts.shape[0]):
        for i in range(starts[k], ends[k]):
            b = data[i]
            blob[p] = b
            p += 1
            if (b & 0xC0) != 0x80:
                c += 1
        char_off[k + 1] = c
    return blob, char_off


@njit(cache=True, nogil=True)
def _ht_insert(keys, vals, hashes, ids):
    mask = np.uint64(keys.shape[0] - 1)
    for j in range(hashes.shape[0]):
        h = hashes[j]
        slot = h & mask
        while vals[slot] >= 0 and keys[slot] != h:
            slot = (slot + np.uint64(1)) & mask
        keys[slot] = h
        vals[slot] = ids[j]


@njit(cache=True, nogil=True)
def _poly_hashes(buf, offs):
    n = offs.shape[0] - 1
    h = np.zeros(n, np.uint64)
    pw = np.ones(n, np.uint64)
    for k in range(n):
        x = np.uint64(0)
        p = np.uint64(1)
        for i in range(offs[k], offs[k + 1]):
            x = x * _B + np.uint64(buf[i])
            p = p * _B
        h[k] = x
        pw[k] = p
    return h, pw


@njit(cache=True, nogil=True)
def _expand_chunks(chunk_off, chunk_ids, c_start, c_n, c_toks):
    nd = chunk_off.shape[0] - 1
    tok_off = np.zeros(nd + 1, np.int64)
    for d in range(nd):
        s = 0
        for k in range(chunk_off[d], chunk_off[d + 1]):
            s += c_n[chunk_ids[k]]
        tok_off[d + 1] = tok_off[d] + s
    out = np.empty(tok_off[nd], np.int32)
    p = 0
    for k in range(chunk_ids.shape[0]):
        c = chunk_ids[k]
        st = c_start[c]
        for j in range(c_n[c]):
            out[p] = c_toks[st + j]
            p += 1
    return tok_off, out


@njit(cache=True, nogil=True)
def ngram_repetition(tok_off, tok_ids, t_len, t_hash, t_pow, top_ns, dup_ns):
    """Gopher repetition over words, per document (datatrove ``GopherRepetitionFilter``):

    - ``top[d, k]``: for n = top_ns[k], ``len(g) * count(g)`` of the most frequent n-gram g
      (``" ".join`` of n words; ties go to the n-gram seen first, like ``Counter.most_common``);
      0 when the document has fewer than n words.
    - ``dup[d, k]``: for n = dup_ns[k], characters in duplicated n-grams (``"".join`` of n
      words) found by datatrove's ``find_all_duplicate`` scan (a repeat skips n words).

    n-grams are compared by a 64-bit polynomial hash of their exact character string."""
    nd = tok_off.shape[0] - 1
    top = np.zeros((nd, top_ns.shape[0]), np.int64)
    dup = np.zeros((nd, dup_ns.shape[0]), np.int64)
    maxn = 1
    for k in range(top_ns.shape[0]):
        maxn = max(maxn, top_ns[k])
    for k in range(dup_ns.shape[0]):
        maxn = max(maxn, dup_ns[k])
    maxm = 1
    for d in range(nd):
        maxm = max(maxm, tok_off[d + 1] - tok_off[d])
    cap = 16
    while cap < 2 * maxm:
        cap *= 2
    # interleaved slots: [key, generation stamp, count, first position]
    tab = np.zeros((cap, 4), np.uint64)
    pre = np.zeros(maxm + 1, np.int64)
    hs = np.zeros(maxm, np.uint64)
    pw = np.zeros(maxm, np.uint64)
    hc = np.zeros(maxm, np.uint64)  # "".join hash of the n-gram starting at i
    hsp = np.zeros(maxm, np.uint64)  # " ".join hash
    gen = np.uint64(0)
    one = np.uint64(1)
    for d in range(nd):
        s = tok_off[d]
        m = tok_off[d + 1] - s
        if m == 0:
            continue
        for i in range(m):
            t = tok_ids[s + i]
            pre[i + 1] = pre[i] + t_len[t]
            hs[i] = t_hash[t]
            pw[i] = t_pow[t]
            hc[i] = hs[i]
            hsp[i] = hs[i]
        size = 16
        while size < 2 * m:
            size *= 2
        mask = np.uint64(size - 1)
        for n in range(2, maxn + 1):
            if n > m:
                break
            cnt_pos = m - n + 1
            for i in range(cnt_pos):
                hc[i] = hc[i] * pw[i + n - 1] + hs[i + n - 1]
                hsp[i] = (hsp[i] * _B + _SPACE) * pw[i + n - 1] + hs[i + n - 1]
            for k in range(top_ns.shape[0]):
                if top_ns[k] != n:
                    continue
                gen += one
                best_c = np.uint64(0)
                best_f = np.uint64(m + 1)
                for i in range(cnt_pos):
                    h = hsp[i]
                    slot = _mix(h) & mask
                    while True:
                        if tab[slot, 1] != gen:
                            tab[slot, 0] = h
                            tab[slot, 1] = gen
                            tab[slot, 2] = one
                            tab[slot, 3] = np.uint64(i)
                            c = one
                            f = np.uint64(i)
                            break
                        if tab[slot, 0] == h:
                            c = tab[slot, 2] + one
                            tab[slot, 2] = c
                            f = tab[slot, 3]
                            break
                        slot = (slot + one) & mask
                    if c > best_c or (c == best_c and f < best_f):
                        best_c = c
                        best_f = f
                fi = np.int64(best_f)
                top[d, k] = np.int64(best_c) * (pre[fi + n] - pre[fi] + n - 1)
            for k in range(dup_ns.shape[0]):
                if dup_ns[k] != n:
                    continue
                gen += one
                rep = 0
                idx = 0
                while idx < cnt_pos:
                    h = hc[idx]
                    slot = _mix(h) & mask
                    found = False
                    while True:
                        if tab[slot, 1] != gen:
                            tab[slot, 0] = h
                            tab[slot, 1] = gen
                            break
                        if tab[slot, 0] == h:
                            found = True
                            break
                        slot = (slot + one) & mask
                    if found:
                        rep += pre[idx + n] - pre[idx]
                        idx += n
                    else:
                        idx += 1
                dup[d, k] = rep
    return top, dup


@njit(cache=True, nogil=True)
def word_stats(tok_off, tok_ids, t_len, t_flag, stop_ids):
    """Per document: words, non-symbol words, their total length, words with a letter, and the
    number of distinct stop words (``stop_ids``: token id of each stop word, -1 if unseen)."""
    nd = tok_off.shape[0] - 1
    out = np.zeros((nd, 5), np.int64)
    ns = stop_ids.shape[0]
    for d in range(nd):
        nonsym = 0
        nonsym_len = 0
        alpha = 0
        seen = np.zeros(max(ns, 1), np.bool_)
        for p in range(tok_off[d], tok_off[d + 1]):
            t = tok_ids[p]
            f = t_flag[t]
            if f & 1:
                nonsym += 1
                nonsym_len += t_len[t]
            if f & 2:
                alpha += 1
            for j in range(ns):
                if t == stop_ids[j]:
                    seen[j] = True
        nstop = 0
        for j in range(ns):
            if seen[j]:
                nstop += 1
        out[d, 0] = tok_off[d + 1] - tok_off[d]
        out[d, 1] = nonsym
        out[d, 2] = nonsym_len
        out[d, 3] = alpha
        out[d, 4] = nstop
    return out


@njit(cache=True, nogil=True)
def line_sentences(line_off, chunk_ids, c_sent):
    """spaCy sentencizer sentence count of each line, from its chunks' packed state summaries."""
    nl = line_off.shape[0] - 1
    out = np.zeros(nl, np.int64)
    for li in range(nl):
        if line_off[li + 1] == line_off[li]:
            continue
        n = 1
        seen = 0
        for k in range(line_off[li], line_off[li + 1]):
            v = c_sent[chunk_ids[k]]
            if seen:
                n += (v >> 15) & 0x3FFF
                seen = (v >> 29) & 1
            else:
                n += v & 0x3FFF
                seen = (v >> 14) & 1
        out[li] = n
    return out
