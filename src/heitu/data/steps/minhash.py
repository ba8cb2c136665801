"""Near-duplicate removal with MinHash LSH (a global step): drops documents whose shingle sets
have a Jaccard similarity of at least ``threshold`` with a kept document.

**Shingles.** The text is lower-cased and every run of punctuation, symbols and whitespace
becomes one space, so copies differing in case, punctuation or line breaks shingle alike. With
``shingle: auto`` each document picks its shingles:

- by characters (spaces ignored) when at least half of its units are Han or kana characters (a
  unit is one CJK character or one run of other non-space characters);
- otherwise by words, except for *short* documents. One substituted word removes up to n of a
  document's L - n + 1 word n-grams and adds as many, so its Jaccard is (L - 2n + 1) / (L + 1):
  below ``hi`` = ceil((2n - 1 + t) / (1 - t)) words (39 at n = 4, t = 0.8) a single edit already
  falls under the threshold, and word shingles cannot see near-copies at all. Such documents are
  shingled by characters too, whose finer grain survives one edit from about 20 words. To keep
  near-copies on both sides of ``hi`` comparable, documents of ``lo`` = floor(t * hi) to ``hi``
  words (31-38) carry both: two sets whose sizes are within a factor t always share a space.
  A candidate pair is verified in the space both documents have, characters first.

Shingles are ``ngram`` consecutive words/characters (a document shorter than that is one
shingle). Defaults, measured with bench/bench_minhash_accuracy.py --ngram-sweep at t=0.8 (the
labelled STS-B/BUSTM pairs, short sentences and so shingled by characters, and 6,000 real-text
documents with 20% edited copies), varying one size with the other at its default: labelled
non-duplicate pairs merge at 2-4 characters (8, 3, 2 pairs) and none from 5, while planted-copy
recall falls from 0.997 (zh) at 5 to 0.989 at 7: so **5 characters**. The word size does not
touch the short labelled pairs; recall of the long English copies is 1.000 at 2-4 words and
falls from 5 (0.996, 0.988 at 6): so **4 words**, the longest (most specific) at full recall.
Each shingle is hashed to 32 bits (FNV-1a over its tokens, then a 64-bit finaliser).

**Signatures.** ``num_perm`` universal hashes ``h -> (a*h + b) mod p``, p = 2^61 - 1, with
``a`` in [1, p), ``b`` in [0, p) drawn from ``seed``; the product is computed exactly in uint64
by splitting ``a`` into 32-bit halves and folding with 2^61 = 1 (mod p) (no wrap-around bias as
in implementations that let ``a*h`` overflow); the signature is the minimum of each over the document's
shingles, computed by a numba kernel over the batch's UTF-8 buffer (no Python per shingle).

**Bands.** The signature is cut into ``bands`` bands of ``rows`` values; two documents become
candidates when any band is identical, i.e. with probability ``P(s) = 1 - (1 - s^rows)^bands``
at Jaccard s. Unless given, (bands, rows) minimise ``w_fp * ∫_0^t P(s) ds + w_fn * ∫_t^1 1 - P(s)
ds`` over ``bands * rows <= num_perm`` (datasketch's ``_optimal_param``). Without ``verify`` the
weights are equal (datasketch's default: t=0.8 gives 9 x 13, which finds a pair at s = t with
probability 0.40). With ``verify`` an LSH false positive costs one exact Jaccard check while a
miss is lost, so misses weigh 0.9 and false positives 0.1: t=0.8 gives 14 x 9, P(0.8) = 0.87,
P(0.85) = 0.975. The index stores only the band hashes (``minhash_bands_v1``, a 64-bit hash of
each band, its number and its shingle space), the shingle count and the text length.

**Plan.** Documents are numbered in source order (``base[_shard] + _row``, from per-shard row
counts). The band table is streamed to a spill folder once, split by band and hash prefix into
partitions of about 2^20 rows, and each partition is sorted by (hash, doc) on its own: runs of
equal hashes are the candidate buckets. Without ``verify`` each bucket joins its documents to
its first one; with ``verify`` (the default) candidate pairs (every pair of a bucket of up to 16
documents; the first member and the neighbour in larger ones) are checked by the exact Jaccard
of their shingle sets, recomputed from the text of the candidate documents only and spilled to
disk, and only pairs at or above ``threshold`` are joined. LSH false positives are thereby
removed, so verification never adds drops. Connected components come from a union-find over
the candidate documents (the root is always the smallest number). Each component keeps one
document by ``keep``: ``first`` (source order), ``longest`` (most characters), ``newest``
(greatest ``date_field``: ``source.date`` or a key of the ``meta`` JSON, compared as ISO-8601
strings; missing dates lose) or ``highest`` (greatest value of the column ``signal`` made by an
earlier step; nulls lose); ties go to source order. The others are dropped with reason
``near_duplicate``, ``dup_of`` = the keeper's id and ``dedup_cluster_v1`` = the component id
(the source-order number of its first document). Same input and spec give the same drops with
any worker count and either executor.

Plan memory holds nothing per input document: one 64k-document batch of the band table, one
sorted partition (at most about 2^20 rows, 16 bytes each) and, per *candidate* document and pair,
about 40 bytes (pairs, union-find, offsets of the spilled shingle sets); verification maps the
spilled sets and releases the pages after every 4,096 pairs. So memory follows the number of
near-duplicate candidates, not the input size (bench/README.md has the figures).
"""

from __future__ import annotations

import contextlib
import functools
import math
import mmap
import tempfile
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from heitu.core.errors import UserError
from heitu.data.steps.base import GlobalStep, register

BANDS_COLUMN = "minhash_bands_v1"
SHINGLES_COLUMN = "minhash_shingles_v1"
LENGTH_COLUMN = "minhash_text_len_v1"
CLUSTER_COLUMN = "dedup_cluster_v1"
REASON = "near_duplicate"

MERSENNE = np.uint64((1 << 61) - 1)
DEFAULT_WORD_NGRAM = 4
DEFAULT_CHAR_NGRAM = 5
FULL_PAIRS_BUCKET = 16  # buckets up to this size give every pair to verification
VERIFIED_FN_WEIGHT = 0.9  # with verification an LSH false positive costs one Jaccard check; a miss is lost

_MODES = {"auto": 0, "word": 1, "char": 2}


class MinHashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.8, gt=0.0, lt=1.0)
    """Jaccard similarity of shingle sets at or above which two documents are near-duplicates."""
    ngram: int | None = Field(default=None, ge=1, le=64)
    """Shingle length in words or characters; default 4 words / 5 characters (see module doc)."""
    shingle: Literal["auto", "word", "char"] = "auto"
    """auto: character shingles for Chinese/Japanese and for documents too short for word
    shingles to survive one edit at the threshold (both near that length), words otherwise."""
    num_perm: int = Field(default=128, ge=2, le=1024)
    """Number of hash permutations in a signature."""
    bands: int | None = Field(default=None, ge=1)
    """LSH bands; default derived from threshold and num_perm (see module doc)."""
    rows: int | None = Field(default=None, ge=1)
    """Signature values per band; default derived with `bands`."""
    verify: bool = True
    """Check candidate pairs by the exact Jaccard of their shingle sets (removes LSH false positives)."""
    keep: Literal["first", "longest", "newest", "highest"] = "first"
    """Which document of a duplicate cluster is kept; ties go to source order."""
    date_field: str = "source.date"
    """For keep=newest: `source.date` or a key of the `meta` JSON holding an ISO-8601 date."""
    signal: str | None = None
    """For keep=highest: a numeric column made by an earlier step (e.g. a quality score)."""
    seed: int = Field(default=1, ge=0)
    """Seed of the permutations (fixed: same seed, same signatures)."""

    @model_validator(mode="after")
    def _check(self) -> MinHashParams:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they are derived from threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.keep == "highest" and not self.signal:
            raise ValueError("keep: highest needs `signal`, the column whose greatest value is kept")
        if self.keep == "newest" and not self.date_field:
            raise ValueError("keep: newest needs `date_field`")
        return self


@functools.lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted false-positive plus
    false-negative area (weights 1 - fn_weight and fn_weight)."""
    s = np.linspace(0.0, 1.0, 2001)
    below, above = s <= threshold, s >= threshold
    best = (np.inf, 1, 1)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - s**r) ** b
            err = (1.0 - fn_weight) * np.trapezoid(np.where(below, p, 0.0), s) \
                + fn_weight * np.trapezoid(np.where(above, 1.0 - p, 0.0), s)
            if err < best[0] - 1e-12:
                best = (err, b, r)
    return best[1], best[2]


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
    return a, b


# ---------------------------------------------------------------------------- numba kernels

@numba.njit(cache=True, inline="always")
def _mix(x):
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@numba.njit(cache=True, inline="always")
def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x3040 <= cp <= 0x30FF) \
        or (0xF900 <= cp <= 0xFAFF) or (0x20000 <= cp <= 0x2FA1F)


@numba.njit(cache=True)
def _scan(data, start, end):
    """(CJK characters, runs of other non-space characters) of one normalised document."""
    cjk = 0
    runs = 0
    in_run = False
    i = start
    while i < end:
        c = data[i]
        if c < 0x80:
            cp = np.int64(c)
            i += 1
        elif c < 0xE0:
            cp = (np.int64(c & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F)
            i += 2
        elif c < 0xF0:
            cp = (np.int64(c & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6) | np.int64(data[i + 2] & 0x3F)
            i += 3
        else:
            cp = (np.int64(c & 0x07) << 18) | (np.int64(data[i + 1] & 0x3F) << 12) \
                | (np.int64(data[i + 2] & 0x3F) << 6) | np.int64(data[i + 3] & 0x3F)
            i += 4
        if cp == 32:
            in_run = False
        elif _is_cjk(cp):
            cjk += 1
            in_run = False
        elif not in_run:
            runs += 1
            in_run = True
    return cjk, runs


@numba.njit(cache=True)
def _spaces(data, start, end, mode, lo, hi):
    """Shingle spaces of one document: bit 1 characters, bit 2 words (both in the margin)."""
    if mode == 2:
        return 1
    if mode == 1:
        return 2
    cjk, runs = _scan(data, start, end)
    if cjk > 0 and cjk >= runs:
        return 1
    if runs < lo:
        return 1
    if runs < hi:
        return 3
    return 2


@numba.njit(cache=True)
def _tokens(data, start, end, char_mode, tok):
    """Token hashes of one normalised document into `tok` (characters or words); returns the count."""
    n = 0
    prime = np.uint64(0x100000001B3)
    if char_mode:
        i = start
        while i < end:
            c = data[i]
            L = 1 if c < 0x80 else (2 if c < 0xE0 else (3 if c < 0xF0 else 4))
            if c != 32:
                h = np.uint64(0xCBF29CE484222325)
                for k in range(L):
                    h = (h ^ np.uint64(data[i + k])) * prime
                tok[n] = h
                n += 1
            i += L
    else:
        i = start
        while i < end:
            while i < end and data[i] == 32:
                i += 1
            if i >= end:
                break
            h = np.uint64(0xCBF29CE484222325)
            while i < end and data[i] != 32:
                h = (h ^ np.uint64(data[i])) * prime
                i += 1
            tok[n] = h
            n += 1
    return n


@numba.njit(cache=True)
def _shingles(tok, ntok, ngram, out):
    """32-bit hashes of the n-grams of tok[:ntok] into `out`; returns their count."""
    if ntok == 0:
        return 0
    n = min(ngram, ntok)
    m = ntok - n + 1
    for j in range(m):
        h = np.uint64(0x9E3779B97F4A7C15)
        for k in range(n):
            h = _mix(h ^ tok[j + k])
        out[j] = h >> np.uint64(32)
    return m


@numba.njit(cache=True)
def _signatures(data, offsets, mode, ngram_word, ngram_char, lo, hi, a, b, bands, rows,
                out_bands, out_nsh, out_spaces):
    """Band hashes per document and shingle space: out_bands[d, s * bands + band] for s = 0
    (characters) and 1 (words); spaces a document does not use are left untouched."""
    nperm = a.shape[0]
    maxlen = 0
    for d in range(offsets.shape[0] - 1):
        maxlen = max(maxlen, offsets[d + 1] - offsets[d])
    tok = np.empty(maxlen + 1, np.uint64)
    sh = np.empty(maxlen + 1, np.uint64)
    sig = np.empty(nperm, np.uint64)
    p = np.uint64((1 << 61) - 1)
    for d in range(offsets.shape[0] - 1):
        spaces = _spaces(data, offsets[d], offsets[d + 1], mode, lo, hi)
        out_spaces[d] = spaces
        for s in range(2):
            if not (spaces >> s) & 1:
                continue
            ntok = _tokens(data, offsets[d], offsets[d + 1], s == 0, tok)
            m = _shingles(tok, ntok, ngram_char if s == 0 else ngram_word, sh)
            out_nsh[d] = max(out_nsh[d], m)
            for k in range(nperm):
                sig[k] = p
            for j in range(m):
                h = sh[j]
                for k in range(nperm):
                    # exact (a*h + b) mod p for a, b < p, h < 2^32, using 2^61 = 1 (mod p)
                    x = (a[k] >> np.uint64(32)) * h
                    y = (a[k] & np.uint64(0xFFFFFFFF)) * h
                    v = (x >> np.uint64(29)) + ((x & np.uint64(0x1FFFFFFF)) << np.uint64(32)) \
                        + (y & p) + (y >> np.uint64(61)) + b[k]
                    v = (v & p) + (v >> np.uint64(61))
                    if v >= p:
                        v -= p
                    sig[k] = min(sig[k], v)
            for bi in range(bands):
                # the band number and the space are hashed in: equal bands of different spaces differ
                h = _mix(np.uint64(bi + 1 + (1 - s) * 65536) * np.uint64(0x9E3779B97F4A7C15))
                for r in range(rows):
                    h = _mix(h ^ sig[bi * rows + r])
                out_bands[d, s * bands + bi] = h


@numba.njit(cache=True)
def _shingle_sets(data, offsets, mode, ngram_word, ngram_char, lo, hi):
    """Sorted unique shingle hashes of each document and space: (flat uint32 values, offsets,
    spaces); set 2*d is document d's character set, 2*d + 1 its word set (empty when unused)."""
    nd = offsets.shape[0] - 1
    maxlen = 0
    for d in range(nd):
        maxlen = max(maxlen, offsets[d + 1] - offsets[d])
    tok = np.empty(maxlen + 1, np.uint64)
    sh = np.empty(maxlen + 1, np.uint64)
    out = np.empty(max(min(offsets[nd] - offsets[0], 1 << 20), 16), np.uint32)  # grown as needed
    off = np.zeros(2 * nd + 1, np.int64)
    spaces_out = np.zeros(nd, np.uint8)
    pos = 0
    for d in range(nd):
        spaces = _spaces(data, offsets[d], offsets[d + 1], mode, lo, hi)
        spaces_out[d] = spaces
        for s in range(2):
            if (spaces >> s) & 1:
                ntok = _tokens(data, offsets[d], offsets[d + 1], s == 0, tok)
                m = _shingles(tok, ntok, ngram_char if s == 0 else ngram_word, sh)
                u = np.unique(sh[:m])
                if pos + u.shape[0] > out.shape[0]:
                    grown = np.empty(max(2 * out.shape[0], pos + u.shape[0]), np.uint32)
                    grown[:pos] = out[:pos]
                    out = grown
                for k in range(u.shape[0]):
                    out[pos + k] = np.uint32(u[k])
                pos += u.shape[0]
            off[2 * d + s + 1] = pos
    return out[:pos].copy(), off, spaces_out  # a copy: the slice would keep the larger buffer alive


@numba.njit(cache=True)
def _jaccard(vals, start, end, i, j):
    a0, a1, b0, b1 = start[i], end[i], start[j], end[j]
    na, nb = a1 - a0, b1 - b0
    if na == 0 or nb == 0:
        return 0.0
    inter = 0
    while a0 < a1 and b0 < b1:
        x, y = vals[a0], vals[b0]
        if x == y:
            inter += 1
            a0 += 1
            b0 += 1
        elif x < y:
            a0 += 1
        else:
            b0 += 1
    return inter / (na + nb - inter)


@numba.njit(cache=True)
def _pair_jaccard(vals, start, end, spaces, x, y):
    """Jaccard of two documents' sets in the space they share, characters first; 0 if none.
    Set 2*k is document k's character set, 2*k + 1 its word set."""
    both = spaces[x] & spaces[y]
    if both & 1:
        return _jaccard(vals, start, end, 2 * x, 2 * y)
    if both & 2:
        return _jaccard(vals, start, end, 2 * x + 1, 2 * y + 1)
    return 0.0


@numba.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _union(parent, x, y):
    rx, ry = _find(parent, x), _find(parent, y)
    if rx < ry:
        parent[ry] = rx
    elif ry < rx:
        parent[rx] = ry


@numba.njit(cache=True)
def _bucket_pairs(hs, docs, full):
    """Candidate pairs from docs sorted by (hash, doc): runs of equal hashes are buckets.
    Star to the bucket's first doc, plus (when `full`) every pair of buckets up to
    FULL_PAIRS_BUCKET and neighbours in larger ones."""
    n = hs.shape[0]
    cap = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and hs[j] == hs[i]:
            j += 1
        k = j - i
        if k > 1:
            cap += (k * (k - 1)) // 2 if (full and k <= FULL_PAIRS_BUCKET) else 2 * (k - 1)
        i = j
    out = np.empty((cap, 2), np.int64)
    m = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and hs[j] == hs[i]:
            j += 1
        k = j - i
        if k > 1:
            if full and k <= FULL_PAIRS_BUCKET:
                for x in range(i, j):
                    for y in range(x + 1, j):
                        out[m, 0] = docs[x]
                        out[m, 1] = docs[y]
                        m += 1
            else:
                for x in range(i + 1, j):
                    out[m, 0] = docs[i]
                    out[m, 1] = docs[x]
                    m += 1
                    if full and x > i + 1:
                        out[m, 0] = docs[x - 1]
                        out[m, 1] = docs[x]
                        m += 1
        i = j
    return out[:m]


@numba.njit(cache=True)
def _verify_and_union(parent, pairs, spaces, vals, start, end, threshold):
    """Union pairs (candidate numbers) whose exact Jaccard >= threshold; pairs already
    connected are skipped (components do not depend on the order pairs come in)."""
    checked = 0
    for t in range(pairs.shape[0]):
        x, y = pairs[t, 0], pairs[t, 1]
        if _find(parent, x) == _find(parent, y):
            continue
        checked += 1
        if _pair_jaccard(vals, start, end, spaces, x, y) >= threshold:
            _union(parent, x, y)
    return checked


@numba.njit(cache=True)
def _union_pairs(parent, pairs):
    for t in range(pairs.shape[0]):
        _union(parent, pairs[t, 0], pairs[t, 1])


@numba.njit(cache=True)
def _roots(parent):
    out = np.empty(parent.shape[0], np.int64)
    for i in range(parent.shape[0]):
        out[i] = _find(parent, i)
    return out


# ---------------------------------------------------------------------------- helpers

_PAIRS_CHUNK = 4_096  # candidate pairs verified before the mapped shingle-set pages are released
_PART_ROWS = 1 << 20  # (hash, doc) rows per spilled band partition sorted in memory (16 MiB)
_BATCH_ROWS = 1 << 16  # staged rows per batch read for band hashes
_TEXT_BATCH_ROWS = 1 << 12  # staged rows per batch read for texts and other values
_REC = np.dtype([("h", "<u8"), ("d", "<i8")])


def normalize_texts(texts: pl.Series) -> pa.Array:
    """Lower case; every run of punctuation, symbols and whitespace -> one space."""
    norm = texts.rechunk().str.to_lowercase().str.replace_all(r"[\s\p{P}\p{S}]+", " ")
    return norm.to_arrow().cast(pa.large_string())


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = pa.concat_arrays([arr]) if arr.offset else arr
    bufs = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    if data.shape[0] == 0:
        data = np.zeros(1, np.uint8)
    return data, offsets


def word_cutoffs(threshold: float, ngram_word: int) -> tuple[int, int]:
    """(lo, hi) word counts of ``shingle: auto``: below ``hi`` words a document is shingled by
    characters, from ``lo`` by words (both in between). ``hi`` is the fewest words at which one
    substituted word still leaves the word-shingle Jaccard >= threshold: it removes up to n of
    L - n + 1 shingles and adds as many, J = (L - 2n + 1) / (L + 1)."""
    hi = math.ceil((2 * ngram_word - 1 + threshold) / (1.0 - threshold) - 1e-9)
    return math.floor(threshold * hi), hi


class _DocNumbers:
    """Source-order document numbers ``base[_shard] + _row`` and back, from per-shard row counts
    (a few bytes per shard, nothing per document)."""

    def __init__(self, files: list):
        top: dict[int, int] = {}
        for batch in _batches(files, ["_shard", "_row"]):
            if batch.num_rows:
                g = pl.from_arrow(batch).group_by("_shard").agg(pl.col("_row").max())
                for shard, row in g.iter_rows():
                    top[shard] = max(top.get(shard, -1), row)
        self.shards = np.array(sorted(top), dtype=np.int64)
        n = np.array([top[k] + 1 for k in self.shards], dtype=np.int64)
        self.bases = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
        self.lookup = np.zeros(int(self.shards.max()) + 1 if len(self.shards) else 1, np.int64)
        self.lookup[self.shards] = self.bases
        self.total = int(n.sum())

    def number(self, shard: np.ndarray, row: np.ndarray) -> np.ndarray:
        return self.lookup[shard.astype(np.int64)] + row.astype(np.int64)

    def keys(self, docs: np.ndarray) -> pl.DataFrame:
        k = np.searchsorted(self.bases, docs, side="right") - 1
        return pl.DataFrame({"_shard": pl.Series(self.shards[k], dtype=pl.Int32),
                             "_row": pl.Series(docs - self.bases[k], dtype=pl.Int64)})


def _scatter(rec: np.ndarray, key: np.ndarray, handles: list) -> None:
    """Append each row of `rec` to the spill file ``handles[key]``, one write per file."""
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(len(handles) + 1))
    for k, fh in enumerate(handles):
        if bounds[k + 1] > bounds[k]:
            rec[order[bounds[k]:bounds[k + 1]]].tofile(fh)


def _batches(files: list, columns: list[str], rows: int | None = None):
    """Record batches of `rows` rows of parquet files. Pre-buffering is off and batches with text
    are small (_TEXT_BATCH_ROWS): measured on 3.3M staged documents, reading text 65,536 rows at
    a time held ~590 MiB, 4,096 at a time ~170 MiB."""
    for f in files:
        yield from pq.ParquetFile(f, pre_buffer=False).iter_batches(batch_size=rows or _BATCH_ROWS, columns=columns)


def _matching(files: list, numbers: _DocNumbers, docs: np.ndarray, columns: list[str], text: bool = False):
    """One pass over the staged files yielding (positions in `docs`, rows) for the rows whose
    document number is in `docs` (sorted): memory follows one batch, not a shard or the input."""
    if not len(docs):
        return
    for batch in _batches(files, ["_shard", "_row", *columns], _TEXT_BATCH_ROWS if text else _BATCH_ROWS):
        d = numbers.number(batch.column("_shard").to_numpy(), batch.column("_row").to_numpy())
        pos = np.minimum(np.searchsorted(docs, d), len(docs) - 1)
        hit = docs[pos] == d
        if hit.any():
            yield pos[hit], batch.filter(pa.array(hit))


# ---------------------------------------------------------------------------- the step

@register("minhash_dedup")
class MinHashDedup(GlobalStep):
    Params = MinHashParams

    def __init__(self, name: str, params: BaseModel | None = None):
        super().__init__(name, params)
        p = self.params
        if p.bands is None:
            self.bands, self.rows = optimal_bands(p.threshold, p.num_perm,
                                                  VERIFIED_FN_WEIGHT if p.verify else 0.5)
        else:
            self.bands, self.rows = p.bands, p.rows
        self._a, self._b = permutations(p.num_perm, p.seed)
        self.ngram_word = p.ngram or DEFAULT_WORD_NGRAM
        self.ngram_char = p.ngram or DEFAULT_CHAR_NGRAM
        self.mode = _MODES[p.shingle]
        self.lo, self.hi = word_cutoffs(p.threshold, self.ngram_word)

    def output_columns(self) -> list[str]:
        return [SHINGLES_COLUMN, CLUSTER_COLUMN]

    def plan_columns(self) -> list[str]:
        cols = [BANDS_COLUMN, SHINGLES_COLUMN, LENGTH_COLUMN]
        if self.params.verify:
            cols.append("text")
        if self.params.keep == "newest":
            cols += ["source", "meta"]
        if self.params.keep == "highest" and self.params.signal not in cols:
            cols.append(self.params.signal)
        return cols

    # -- streaming phase
    def signatures(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Band hashes (n x 2*bands, uint64: the character space, then the word space), the
        shingle count and the spaces (bit 1 characters, bit 2 words) of each text."""
        data, offsets = _buffers(normalize_texts(texts))
        n = len(texts)
        out = np.zeros((n, 2 * self.bands), np.uint64)
        nsh = np.zeros(n, np.int32)
        spaces = np.zeros(n, np.uint8)
        if n:
            _signatures(data, offsets, self.mode, self.ngram_word, self.ngram_char, self.lo, self.hi,
                        self._a, self._b, self.bands, self.rows, out, nsh, spaces)
        return out, nsh, spaces

    def shingle_sets(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted shingle hashes per text and space: (values, offsets, spaces); set 2*i is text
        i's character set, 2*i + 1 its word set."""
        data, offsets = _buffers(normalize_texts(texts))
        return _shingle_sets(data, offsets, self.mode, self.ngram_word, self.ngram_char, self.lo, self.hi)

    def index(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        texts = pl.from_arrow(batch.column("text"))
        bands, nsh, spaces = self.signatures(texts)
        used = np.repeat(np.stack([spaces & 1, spaces >> 1], axis=1).astype(bool), self.bands, axis=1)
        flat = pa.array(bands[used], pa.uint64())
        offs = np.zeros(len(texts) + 1, np.int32)
        np.cumsum(used.sum(axis=1), out=offs[1:])
        return {
            BANDS_COLUMN: pa.ListArray.from_arrays(pa.array(offs), flat),
            SHINGLES_COLUMN: pa.array(nsh, pa.int32()),
            LENGTH_COLUMN: pa.array(texts.str.len_chars().to_numpy().astype(np.int64), pa.int64()),
        }

    # -- plan phase
    def _check_columns(self, index: pl.LazyFrame) -> None:
        try:
            index.collect_schema()
        except pl.exceptions.ColumnNotFoundError as exc:
            if self.params.keep == "highest":
                raise UserError(f"{self.name}: keep=highest reads the column '{self.params.signal}', which no "
                                f"step before it produces ({exc})") from exc
            raise

    def plan(self, index: pl.LazyFrame) -> pl.DataFrame:
        # Memory (see the module doc): nothing is held per input document. The staged files are
        # streamed in batches; band hashes are spilled to disk in partitions sorted one at a
        # time; only candidate pairs, their documents' union-find and (verifying) the offsets of
        # their spilled shingle sets are in memory.
        self._check_columns(index)
        schema = {"_shard": pl.Int32, "_row": pl.Int64, "reason": pl.String, "dup_of": pl.String,
                  CLUSTER_COLUMN: pl.Int64}
        with tempfile.TemporaryDirectory(prefix="minhash-", dir=self.spill_dir) as tmp:
            files = self._staged(index, Path(tmp))
            numbers = _DocNumbers(files)
            pairs = self._candidate_pairs(files, numbers, Path(tmp))
            cand = np.unique(pairs)
            local = np.searchsorted(cand, pairs)
            parent = np.arange(len(cand), dtype=np.int64)
            if len(local):
                if self.params.verify:
                    self._verify(files, numbers, cand, local, parent, Path(tmp))
                else:
                    _union_pairs(parent, local)
            roots = _roots(parent)
            dup = np.flatnonzero(roots != np.arange(len(cand)))
            if len(dup) == 0:
                return pl.DataFrame(schema=schema)
            in_cluster = np.unique(np.concatenate([dup, roots[dup]]))
            docs = cand[in_cluster]
            members = numbers.keys(docs).with_columns(
                pl.Series("_doc", docs), pl.Series("_comp", cand[roots[in_cluster]]),
                pl.Series("id", self._values(files, numbers, docs, ["id"], pl.col("id")), dtype=pl.String))
            keeper = self._keepers(files, numbers, members)
        return (members.join(keeper, on="_comp").filter(pl.col("_doc") != pl.col("_keeper_doc"))
                .sort("_doc")
                .select(pl.col("_shard").cast(pl.Int32), pl.col("_row").cast(pl.Int64),
                        pl.lit(REASON).alias("reason"), pl.col("_keeper_id").alias("dup_of"),
                        pl.col("_comp").cast(pl.Int64).alias(CLUSTER_COLUMN)))

    def _staged(self, index: pl.LazyFrame, tmp: Path) -> list:
        """The parquet files holding the index: the runner's staged files, or (an index given as
        a frame) the frame written once to the spill folder."""
        if self.staged_files:
            return list(self.staged_files)
        path = tmp / "index.parquet"
        index.sink_parquet(path, row_group_size=_BATCH_ROWS, compression="lz4")
        return [path]

    @staticmethod
    def _values(files: list, numbers: _DocNumbers, docs: np.ndarray, columns: list[str], expr: pl.Expr) -> list:
        """`expr` over `columns` of the staged rows of `docs` (sorted), in `docs` order."""
        out: list = [None] * len(docs)
        for pos, rows in _matching(files, numbers, docs, columns, text=True):
            for k, v in zip(pos.tolist(), pl.from_arrow(rows).select(expr.alias("_v"))["_v"].to_list()):
                out[k] = v
        return out

    def _candidate_pairs(self, files: list, numbers: _DocNumbers, tmp: Path) -> np.ndarray:
        """Candidate pairs (doc numbers, first < second, unique) from equal band hashes.

        The staged index files are read in batches into one (hash, doc) spill file per band. A
        band file larger than _PART_ROWS rows is split, a chunk at a time, by hash prefix into
        partitions of about half that. Each partition is then sorted by (hash, doc) on its own:
        runs of equal hashes are the buckets (equal hashes share a prefix, so a bucket never
        straddles partitions)."""
        band_files = [tmp / f"band-{b:03d}.bin" for b in range(self.bands)]
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(open(f, "wb")) for f in band_files]
            for batch in _batches(files, ["_shard", "_row", BANDS_COLUMN, SHINGLES_COLUMN]):
                batch = batch.filter(pc.greater(batch.column(SHINGLES_COLUMN), 0))
                lists = batch.column(BANDS_COLUMN)
                offs = lists.offsets.to_numpy()
                vals = lists.values.to_numpy().astype(np.uint64, copy=False)
                if lists.offset or offs[0]:
                    vals = vals[offs[0]:offs[-1]]
                    offs = offs - offs[0]
                lengths = np.diff(offs)
                rec = np.empty(len(vals), _REC)
                rec["h"] = vals
                rec["d"] = np.repeat(numbers.number(batch.column("_shard").to_numpy(),
                                                    batch.column("_row").to_numpy()), lengths)
                _scatter(rec, (np.arange(len(vals)) - np.repeat(offs[:-1], lengths)) % self.bands, handles)
        # a pair (a, b) is kept as one int64 a * n + b: half the memory of two columns and a flat sort
        n = max(numbers.total, 1)
        found = [np.zeros(0, np.int64)]
        for path in band_files:
            for part in self._partitions(path):
                rec = np.fromfile(part, _REC)
                part.unlink()
                order = np.lexsort((rec["d"], rec["h"]))
                pairs = _bucket_pairs(rec["h"][order], rec["d"][order], self.params.verify)
                del rec, order
                found.append(pairs[:, 0] * n + pairs[:, 1])
                if sum(len(f) for f in found) > 4 * _PART_ROWS:  # fold repeats (the same pair in many bands)
                    found = [np.unique(np.concatenate(found))]
        keys = np.unique(np.concatenate(found))
        return np.stack([keys // n, keys % n], axis=1)

    @staticmethod
    def _partitions(path: Path) -> list[Path]:
        """Split a band spill file by hash prefix into files of about _PART_ROWS / 2 rows."""
        rows = path.stat().st_size // _REC.itemsize
        if rows <= _PART_ROWS:
            return [path]
        bits = math.ceil(math.log2(2 * rows / _PART_ROWS))
        shift = np.uint64(64 - bits)
        parts = [path.with_name(f"{path.stem}-p{k:05d}.bin") for k in range(1 << bits)]
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(open(f, "wb")) for f in parts]
            src = stack.enter_context(open(path, "rb"))
            while len(rec := np.fromfile(src, _REC, count=_PART_ROWS)):
                _scatter(rec, (rec["h"] >> shift).astype(np.int64), handles)
        path.unlink()
        return parts

    def _verify(self, files: list, numbers: _DocNumbers, cand: np.ndarray, pairs: np.ndarray,
                parent: np.ndarray, tmp: Path) -> None:
        # Only candidate documents are re-shingled, as one pass over the staged files meets
        # them. Their shingle sets are written to a spill file; only their offsets stay in
        # memory. Pairs are then checked in chunks against a read-only mapping of that file,
        # whose pages are released after each chunk.
        path = tmp / "shingles.u32"
        start = np.zeros(2 * len(cand), np.int64)
        end = np.zeros(2 * len(cand), np.int64)
        spaces = np.zeros(len(cand), np.uint8)
        base = 0
        with open(path, "wb") as fh:
            for pos, rows in _matching(files, numbers, cand, ["text"], text=True):
                vals, off, sp = self.shingle_sets(pl.from_arrow(rows.column("text")))
                vals.tofile(fh)
                sets = (2 * pos[:, None] + np.arange(2)).reshape(-1)  # set 2k: characters, 2k+1: words
                start[sets] = off[:-1] + base
                end[sets] = off[1:] + base
                spaces[pos] = sp
                base += int(off[-1])
                del vals
        if base == 0:  # no shingles at all: nothing can be verified as similar
            return
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            vals = np.frombuffer(mm, np.uint32)
            for first in range(0, len(pairs), _PAIRS_CHUNK):
                _verify_and_union(parent, pairs[first:first + _PAIRS_CHUNK], spaces, vals, start, end,
                                  self.params.threshold)
                mm.madvise(mmap.MADV_DONTNEED)
            del vals

    def _keepers(self, files: list, numbers: _DocNumbers, members: pl.DataFrame) -> pl.DataFrame:
        keep = self.params.keep
        if keep == "first":
            ranked = members.with_columns(pl.lit(0).alias("_key"))
        else:
            if keep == "longest":
                cols, expr = [LENGTH_COLUMN], pl.col(LENGTH_COLUMN)
            elif keep == "highest":
                cols, expr = [self.params.signal], pl.col(self.params.signal).cast(pl.Float64)
            elif self.params.date_field == "source.date":
                cols, expr = ["source"], pl.col("source").struct.field("date")
            else:
                field = self.params.date_field.removeprefix("meta.")
                cols, expr = ["meta"], pl.col("meta").str.json_path_match(f"$.{field}")
            docs = members["_doc"].to_numpy()
            ranked = members.with_columns(pl.Series("_key", self._values(files, numbers, docs, cols, expr)))
        best = (ranked.sort(["_comp", "_key", "_doc"], descending=[False, True, False], nulls_last=True)
                .group_by("_comp", maintain_order=True).first())
        return best.select("_comp", pl.col("_doc").alias("_keeper_doc"), pl.col("id").alias("_keeper_id"))


def dedup_command(
    input: str | list[str],
    output: str | Path,
    threshold: float = 0.8,
    ngram: int | None = None,
    workers: int = 1,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    resume: bool = False,
    show_progress: bool = True,
    register: bool = True,
    **params: Any,
):
    """`heitu data dedup`: a one-step pipeline (minhash_dedup) over the inputs into `output`."""
    from heitu.data.pipeline import PipelineSpec, StepSpec, build_steps
    from heitu.data.run import run_pipeline

    step_params: dict[str, Any] = {"threshold": threshold, **params}
    if ngram is not None:
        step_params["ngram"] = ngram
    spec = PipelineSpec(name="minhash-dedup", steps=[StepSpec(type="minhash_dedup", params=step_params)])
    build_steps(spec, where="heitu data dedup")  # bad parameters: a UserError naming them, before any work
    inputs = [input] if isinstance(input, str) else list(input)
    return run_pipeline(spec, inputs, output, workers=workers, executor=executor, ray_address=ray_address,
                        resume=resume, show_progress=show_progress, register=register)
