"""The dataset report: one self-contained HTML page for a dataset version.

``build_report(out_dir, manifest, scorecard)`` returns a page that works offline (inline CSS,
charts as inline SVG generated here, no scripts, no fonts or files fetched). It shows the
scorecard grades, length histograms, every signal's distribution with the thresholds of the
``select`` rules that use it, a drop waterfall per step and reason, the language mix, the top
sources, duplicate cluster sizes, PII and keyword rates, and a few escaped rejected examples
per reason.

Everything is computed by streaming parquet record batches (pyarrow ``iter_batches``) into
fixed-bin histograms and bounded counters, so memory stays flat with the number of documents:

* a signal's population is the ledger of the stage that computes it (every document that
  reached the step, kept or not), so the threshold line shows what the rule cut;
* lengths come from the text of kept documents (``data/``) and rejected ones (``rejects/``);
* sources, languages and duplicate clusters use counters capped at ``_COUNTER_CAP`` entries
  (beyond that the long tail is pruned, which can only undercount rare keys).
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 65_536
_COUNTER_CAP = 200_000
_N_BINS = 40
_EXAMPLES_PER_REASON = 3
_EXAMPLE_CHARS = 360
_SIGNAL_RE = re.compile(r"_v\d+$")
_HASH_RE = re.compile(r"(^|_)hash_v\d+$|minhash|signature")  # ids, not measurements
_RULE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|<>|=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*$")
_URL_HOST_RE = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>[^/:?#]+)"

# colours: kept / dropped / neutral, and one per grade
C_KEEP = "#2f7d6d"
C_DROP = "#d1495b"
C_MUTED = "#b8bec6"
C_INK = "#1f2933"
GRADE_COLORS = {"A": "#1b9e4b", "B": "#7cb342", "C": "#f2b705", "D": "#f57c00", "E": "#d1495b"}


# --------------------------------------------------------------------------- reading

def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _schema_names(path: Path) -> list[str]:
    return pq.read_schema(path).names


def _batches(files: Iterable[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of the given columns; a file lacking some of them yields the rest."""
    for f in files:
        pf = pq.ParquetFile(f)
        cols = [c for c in columns if c in pf.schema_arrow.names]
        if not cols:
            continue
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=cols)


# heitu-wscjk-v1 tokens (as the scorecard counts them): one per CJK character, one per maximal
# run of other non-whitespace characters
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_TOKEN_RE = rf"[{_CJK}]|[^\s{_CJK}]+"


def _token_counts(text: pa.Array) -> np.ndarray:
    import polars as pl

    s = pl.Series(values=text).fill_null("")
    return s.str.count_matches(_TOKEN_RE).to_numpy().astype(np.float64)


def _stage_of(path: Path) -> int:
    m = re.match(r"s(\d+)-", path.name)
    return int(m.group(1)) if m else 0


class _BoundedCounter:
    """A Counter that prunes its long tail beyond ``cap`` keys (counts of kept keys stay exact
    from the moment they are kept)."""

    def __init__(self, cap: int = _COUNTER_CAP):
        self.cap, self.c, self.pruned = cap, Counter(), False

    def update_arrow(self, arr: pa.Array) -> None:
        vc = pc.value_counts(arr)
        for k, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
            if k is not None:
                self.c[k] += n
        if len(self.c) > self.cap:
            self.c = Counter(dict(self.c.most_common(self.cap // 2)))
            self.pruned = True


def _source_keys(src: pa.Array) -> pa.Array:
    """Host of source.url (without ``www.``), else source.file."""
    if isinstance(src, pa.ChunkedArray):
        src = src.combine_chunks()
    names = [src.type.field(i).name for i in range(src.type.num_fields)]
    url = src.field(names.index("url")) if "url" in names else pa.nulls(len(src), pa.string())
    file = src.field(names.index("file")) if "file" in names else pa.nulls(len(src), pa.string())
    host = pc.struct_field(pc.extract_regex(url.cast(pa.string()), _URL_HOST_RE), [0]) \
        if len(url) and url.null_count < len(url) else pa.nulls(len(src), pa.string())
    host = pc.replace_substring_regex(pc.utf8_lower(host), r"^www\.", "")
    return pc.coalesce(host, file.cast(pa.string()))


# --------------------------------------------------------------------------- rules

@dataclass
class Threshold:
    column: str
    op: str
    value: float
    step: str
    reason: str

    def passes(self, x: np.ndarray) -> np.ndarray:
        v = self.value
        return {">=": x >= v, "<=": x <= v, ">": x > v, "<": x < v, "=": x == v, "==": x == v,
                "!=": x != v, "<>": x != v}[self.op]


def parse_thresholds(manifest: dict) -> list[Threshold]:
    """Simple ``col OP number`` clauses of every select rule (a conjunction is split on AND;
    rules with OR are skipped, since no single line shows them)."""
    out: list[Threshold] = []
    for step in manifest.get("spec", {}).get("steps", []):
        for rule in (step.get("params") or {}).get("rules") or []:
            expr = str(rule.get("keep", ""))
            if re.search(r"\bOR\b", expr, re.IGNORECASE):
                continue
            for clause in re.split(r"\bAND\b", expr, flags=re.IGNORECASE):
                m = _RULE_RE.match(clause)
                if m:
                    out.append(Threshold(m.group(1), m.group(2), float(m.group(3)),
                                         step.get("name") or step.get("type", "?"), str(rule.get("reason", ""))))
    return out


def _rule_columns(manifest: dict) -> dict[tuple[str, str], list[str]]:
    """(step, reason) -> identifiers its keep expression mentions."""
    out = {}
    for step in manifest.get("spec", {}).get("steps", []):
        for rule in (step.get("params") or {}).get("rules") or []:
            ids = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", str(rule.get("keep", ""))))
            out[(step.get("name") or step.get("type"), str(rule.get("reason")))] = [
                i for i in ids if i.upper() not in {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE"}]
    return out


# --------------------------------------------------------------------------- statistics

@dataclass
class Hist:
    edges: np.ndarray
    log_x: bool
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # series -> counts

    def add(self, series: str, x: np.ndarray) -> None:
        x = x[np.isfinite(x)]
        if self.log_x:
            x = np.maximum(x, self.edges[0])
        x = np.clip(x, self.edges[0], self.edges[-1])
        h, _ = np.histogram(x, bins=self.edges)
        self.counts[series] = self.counts.get(series, np.zeros(len(self.edges) - 1, np.int64)) + h

    def quantile(self, q: float, series: str | None = None) -> tuple[float, float] | None:
        """The bin [lo, hi) holding the q-quantile (histograms do not know more)."""
        c = sum(self.counts.values()) if series is None else self.counts.get(series)
        if c is None or c.sum() == 0:
            return None
        cum = np.cumsum(c) / c.sum()
        i = min(int(np.searchsorted(cum, q)), len(c) - 1)
        return float(self.edges[i]), float(self.edges[i + 1])


def _qfmt(b: tuple[float, float] | None, fmt=None) -> str:
    fmt = fmt or _fmt
    if b is None:
        return "–"
    lo, hi = max(b[0], 0.0) if b[0] < 0 < b[1] else b[0], b[1]
    return f"{fmt(lo)}–{fmt(hi)}"


@dataclass
class SignalStats:
    name: str
    stage: int
    n: int = 0
    nulls: int = 0
    nonzero: int = 0
    total: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    is_int: bool = False
    is_bool: bool = False
    hist: Hist | None = None
    fail: dict[int, int] = field(default_factory=dict)  # threshold index -> docs failing it


def _numeric(arr) -> np.ndarray:
    if pa.types.is_boolean(arr.type):
        arr = arr.cast(pa.int8())
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _is_signal_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _choose_edges(st: SignalStats, thresholds: list[Threshold]) -> tuple[np.ndarray, bool]:
    lo, hi = st.lo, st.hi
    for t in thresholds:
        lo, hi = min(lo, t.value), max(hi, t.value)
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    if st.is_int and hi - lo <= _N_BINS:
        return np.arange(math.floor(lo), math.floor(hi) + 2, dtype=np.float64) - 0.5, False
    if lo >= 0 and hi <= 1:
        return np.linspace(0.0, 1.0, _N_BINS + 1), False
    if lo >= 0 and hi > 200 and (st.is_int or hi / max(st.total / max(st.n, 1), 1e-9) > 20):
        top = math.ceil(math.log10(hi + 1) * 8) / 8
        return np.concatenate([[0.0], np.logspace(0, max(top, 1.0), _N_BINS)]), True
    if hi <= lo:
        hi = lo + 1
    pad = (hi - lo) * 0.02
    return np.linspace(lo - pad if lo < 0 else max(0.0, lo - pad) if lo > 0 else 0.0, hi + pad, _N_BINS + 1), False


@dataclass
class Collected:
    signals: dict[str, SignalStats]
    thresholds: list[Threshold]
    length: Hist
    tokens: Hist
    words: Hist | None
    words_col: str | None
    langs_all: _BoundedCounter
    langs_kept: _BoundedCounter
    sources_all: _BoundedCounter
    sources_kept: _BoundedCounter
    dup_clusters: dict[str, _BoundedCounter]
    dup_examples: dict[str, dict[str, str]]
    examples: dict[tuple[str, str], list[dict]]
    kept_docs: int
    rejected_docs: int
    kept_chars: int


def _collect(out_dir: Path, manifest: dict) -> Collected:
    data_files = _files(out_dir / "data")
    rej_root = out_dir / "rejects"
    rej_steps = sorted(p.name for p in rej_root.iterdir() if p.is_dir()) if rej_root.is_dir() else []
    rej_files = {s: _files(rej_root / s) for s in rej_steps}
    ledger_files = _files(out_dir / "ledger")
    thresholds = parse_thresholds(manifest)

    # signal columns and the stage whose ledger first carries each
    pop_files: dict[str, list[Path]] = {}
    types: dict[str, pa.DataType] = {}
    first_stage: dict[str, int] = {}
    sources = ledger_files or (data_files + [f for fs in rej_files.values() for f in fs])
    for f in sources:
        sch = pq.read_schema(f)
        stage = _stage_of(f) if ledger_files else 0
        for fld in sch:
            if _SIGNAL_RE.search(fld.name) and not _HASH_RE.search(fld.name) and _is_signal_type(fld.type):
                types.setdefault(fld.name, fld.type)
                first_stage[fld.name] = min(first_stage.get(fld.name, stage), stage)
    for f in sources:
        names = set(_schema_names(f))
        stage = _stage_of(f) if ledger_files else 0
        for c, s in first_stage.items():
            if s == stage and c in names:
                pop_files.setdefault(c, []).append(f)
    signals = {c: SignalStats(c, first_stage[c], is_int=not pa.types.is_floating(types[c]),
                              is_bool=pa.types.is_boolean(types[c])) for c in sorted(types)}

    # pass 1: count, min, max, sum, non-zero per signal (grouped by the file set they read)
    by_files: dict[tuple, list[str]] = {}
    for c in signals:
        by_files.setdefault(tuple(pop_files.get(c, [])), []).append(c)
    for files, cols in by_files.items():
        for b in _batches(files, cols):
            for c in cols:
                if c not in b.schema.names:
                    continue
                col = b.column(c)
                st = signals[c]
                st.nulls += col.null_count
                x = _numeric(col.drop_null())
                x = x[np.isfinite(x)]
                if x.size:
                    st.n += x.size
                    st.nonzero += int(np.count_nonzero(x))
                    st.total += float(x.sum())
                    st.lo, st.hi = min(st.lo, float(x.min())), max(st.hi, float(x.max()))
    # pass 2: fixed-bin histograms and exact per-threshold failure counts
    th_by_col: dict[str, list[tuple[int, Threshold]]] = {}
    for i, t in enumerate(thresholds):
        th_by_col.setdefault(t.column, []).append((i, t))
    for c, st in signals.items():
        edges, log_x = _choose_edges(st, [t for _, t in th_by_col.get(c, [])])
        st.hist = Hist(edges, log_x)
    for files, cols in by_files.items():
        for b in _batches(files, cols):
            for c in cols:
                if c not in b.schema.names:
                    continue
                x = _numeric(b.column(c).drop_null())
                signals[c].hist.add("all", x)
                for i, t in th_by_col.get(c, []):
                    signals[c].fail[i] = signals[c].fail.get(i, 0) + int((~t.passes(x)).sum())

    # lengths (characters, words if a word-count column exists), languages, sources: kept docs
    length = Hist(np.concatenate([[0.0], np.logspace(0, 6, 49)]), True)
    kept_schema = set(_schema_names(data_files[0])) if data_files else set()
    words_col = next((c for c in sorted(kept_schema) if re.search(r"(^|_)word_count_v\d+$", c)), None)
    words = Hist(np.concatenate([[0.0], np.logspace(0, 6, 49)]), True) if words_col else None
    tokens = Hist(np.concatenate([[0.0], np.logspace(0, 6, 49)]), True)
    langs_all, langs_kept = _BoundedCounter(), _BoundedCounter()
    sources_all, sources_kept = _BoundedCounter(), _BoundedCounter()
    kept_docs = kept_chars = 0
    want = ["text", "source", "lang_v1"] + ([words_col] if words_col else [])
    for b in _batches(data_files, want):
        kept_docs += b.num_rows
        if "text" in b.schema.names:
            n = _numeric(pc.utf8_length(b.column("text")).fill_null(0))
            kept_chars += int(n.sum())
            length.add("kept", n)
            tokens.add("kept", _token_counts(b.column("text")))
        if words_col and words_col in b.schema.names:
            words.add("kept", _numeric(b.column(words_col).drop_null()))
        if "lang_v1" in b.schema.names:
            langs_kept.update_arrow(b.column("lang_v1"))
        if "source" in b.schema.names:
            sources_kept.update_arrow(_source_keys(b.column("source")))

    # all documents read: stage-0 ledger (else kept + rejected)
    all_files = [f for f in ledger_files if _stage_of(f) == 0] or (data_files + [f for fs in rej_files.values() for f in fs])
    for b in _batches(all_files, ["source", "lang_v1"]):
        if "lang_v1" in b.schema.names:
            langs_all.update_arrow(b.column("lang_v1"))
        if "source" in b.schema.names:
            sources_all.update_arrow(_source_keys(b.column("source")))

    # rejects: lengths, examples per reason, duplicate clusters
    rule_cols = _rule_columns(manifest)
    examples: dict[tuple[str, str], list[dict]] = {}
    dup_clusters: dict[str, _BoundedCounter] = {}
    dup_examples: dict[str, dict[str, str]] = {}
    rejected_docs = 0
    for s, files in rej_files.items():
        names = set().union(*(set(_schema_names(f)) for f in files)) if files else set()
        extra = sorted({c for (st, _r), cs in rule_cols.items() if st == s for c in cs if c in names})
        has_dup = "dup_of" in names
        for b in _batches(files, ["id", "text", "source", "_reason", "dup_of"] + extra):
            rejected_docs += b.num_rows
            if "text" in b.schema.names:
                length.add("rejected", _numeric(pc.utf8_length(b.column("text")).fill_null(0)))
                tokens.add("rejected", _token_counts(b.column("text")))
            if has_dup and "dup_of" in b.schema.names:
                dup_clusters.setdefault(s, _BoundedCounter()).update_arrow(b.column("dup_of"))
            if "_reason" not in b.schema.names:
                continue
            reasons = b.column("_reason")
            for r in pc.unique(reasons).to_pylist():
                got = examples.setdefault((s, r), [])
                if len(got) >= _EXAMPLES_PER_REASON:
                    continue
                idx = pc.indices_nonzero(pc.equal(reasons, r)).to_pylist()[: _EXAMPLES_PER_REASON - len(got)]
                rows = b.take(pa.array(idx)).to_pylist()
                cols = rule_cols.get((s, r), [])
                for row in rows:
                    got.append({"id": row.get("id"), "text": row.get("text") or "",
                                "source": row.get("source") or {}, "dup_of": row.get("dup_of"),
                                "signals": {c: row[c] for c in cols if c in row}})
    # one rejected text for each of the largest duplicate clusters
    for s, ctr in dup_clusters.items():
        top = {k for k, _ in ctr.c.most_common(8)}
        found: dict[str, str] = {}
        for b in _batches(rej_files[s], ["dup_of", "text"]):
            if len(found) == len(top) or "text" not in b.schema.names:
                break
            mask = pc.is_in(b.column("dup_of"), value_set=pa.array(sorted(top - set(found)), pa.string()))
            for row in b.filter(mask).to_pylist():
                found.setdefault(row["dup_of"], row["text"] or "")
        dup_examples[s] = found

    return Collected(signals, thresholds, length, tokens, words, words_col, langs_all, langs_kept, sources_all,
                     sources_kept, dup_clusters, dup_examples, examples, kept_docs, rejected_docs, kept_chars)


# --------------------------------------------------------------------------- SVG

def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) >= 1000:
            return f"{int(v):,}"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        return f"{v:.4g}"
    return str(v)


def _si(v: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return s + unit
    return f"{v:g}" if v == int(v) else f"{v:.3g}"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step) + 1)]


def svg_histogram(hist: Hist, series: list[tuple[str, str, str]], *, title: str, thresholds=(),
                  width: int = 560, height: int = 210, css_class: str = "chart") -> str:
    """Stacked fixed-bin histogram. series: (key, label, colour). thresholds: (value, label, fails_left)."""
    ml, mr, mt, mb = 48, 14, 16, 34
    pw, ph = width - ml - mr, height - mt - mb
    counts = [hist.counts.get(k, np.zeros(len(hist.edges) - 1, np.int64)) for k, _, _ in series]
    total = np.sum(counts, axis=0) if counts else np.zeros(len(hist.edges) - 1)
    edges = hist.edges
    nz = np.nonzero(total)[0]
    if hist.log_x and nz.size:  # trim empty decades
        lo_i, hi_i = max(nz[0] - 1, 0), min(nz[-1] + 2, len(edges) - 1)
        for v, _, _ in thresholds:
            j = int(np.searchsorted(edges, v))
            lo_i, hi_i = min(lo_i, max(j - 1, 0)), max(hi_i, min(j + 1, len(edges) - 1))
        edges = edges[lo_i:hi_i + 1]
        counts = [c[lo_i:hi_i] for c in counts]
        total = total[lo_i:hi_i]

    def xmap(v: float) -> float:
        if hist.log_x:
            a, b = math.log10(max(edges[0], 0.5) + 0.5), math.log10(edges[-1] + 0.5)
            return ml + (math.log10(max(v, 0) + 0.5) - a) / max(b - a, 1e-9) * pw
        return ml + (v - edges[0]) / max(edges[-1] - edges[0], 1e-12) * pw

    ymax = float(total.max()) if total.size and total.max() > 0 else 1.0
    srt = np.sort(total)[::-1]
    log_y = srt.size > 1 and srt[1] > 0 and srt[0] / srt[1] > 20
    ymap = (lambda c: ph * math.log10(1 + c) / math.log10(1 + ymax)) if log_y else (lambda c: ph * c / ymax)
    out = [(f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'),
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fafbfc"/>']
    # y grid
    yt = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000] if log_y else _nice_ticks(0, ymax, 4)
    for t in yt:
        if t > ymax * 1.0001:
            continue
        y = mt + ph - ymap(t)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>'
                   f'<text x="{ml - 5}" y="{y + 3:.1f}" text-anchor="end" class="tick">{_si(t)}</text>')
    # bars (stacked)
    base = np.zeros(len(edges) - 1)
    for (key, label, colour), c in zip(series, counts):
        for i in range(len(c)):
            if c[i] <= 0:
                continue
            x0, x1 = xmap(edges[i]), xmap(edges[i + 1])
            y0, y1 = ymap(base[i]), ymap(base[i] + c[i])
            out.append(f'<rect x="{x0 + 0.5:.1f}" y="{mt + ph - y1:.1f}" width="{max(x1 - x0 - 1, 0.8):.1f}" '
                       f'height="{max(y1 - y0, 0.8):.1f}" fill="{colour}"><title>{_e(label)}: '
                       f'{_fmt(edges[i])} – {_fmt(edges[i + 1])}: {int(c[i]):,}</title></rect>')
        base = base + c
    # x ticks
    if hist.log_x:
        xt = [10 ** k for k in range(8) if edges[0] <= 10 ** k <= edges[-1]]
    else:
        xt = _nice_ticks(float(edges[0]), float(edges[-1]), 6)
    for t in xt:
        x = xmap(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#9aa5b1"/>'
                   f'<text x="{x:.1f}" y="{mt + ph + 16}" text-anchor="middle" class="tick">{_si(t)}</text>')
    out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="#9aa5b1"/>')
    if log_y:
        out.append(f'<text x="{ml}" y="{mt - 4}" class="tick">count (log scale)</text>')
    # thresholds
    for k, (v, label, fails_left) in enumerate(thresholds):
        x = min(max(xmap(v), ml), ml + pw)
        shade_x, shade_w = (ml, x - ml) if fails_left else (x, ml + pw - x)
        out.append(f'<rect x="{shade_x:.1f}" y="{mt}" width="{max(shade_w, 0):.1f}" height="{ph}" '
                   f'fill="{C_DROP}" fill-opacity="0.07"/>')
        out.append(f'<line class="threshold" data-threshold="{v:g}" x1="{x:.1f}" x2="{x:.1f}" y1="{mt - 2}" '
                   f'y2="{mt + ph}" stroke="{C_DROP}" stroke-width="2" stroke-dasharray="5 3"/>')
        anchor = "end" if (x > ml + pw * 0.7) else "start"
        tx = x - 4 if anchor == "end" else x + 4
        out.append(f'<text x="{tx:.1f}" y="{mt + 12 + 13 * k}" text-anchor="{anchor}" class="thr">{_e(label)}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 3}" text-anchor="middle" class="axis">{_e(title)}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_hbars(rows: list[tuple[str, list[tuple[float, str, str]]]], *, width: int = 560, label_w: int = 215,
              css_class: str = "chart", value_fmt=None) -> str:
    """Horizontal stacked bars. rows: (label, [(value, colour, tooltip), ...])."""
    bar_h, gap, mt = 16, 6, 6
    height = mt * 2 + len(rows) * (bar_h + gap)
    vmax = max((sum(v for v, _, _ in segs) for _, segs in rows), default=1) or 1
    pw = width - label_w - 70
    out = [(f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">')]
    for i, (label, segs) in enumerate(rows):
        y = mt + i * (bar_h + gap)
        short = label if len(label) <= 32 else label[:20] + "…" + label[-10:]
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" class="lbl">{_e(short)}'
                   f'<title>{_e(label)}</title></text>')
        x = label_w
        for v, colour, tip in segs:
            w = pw * v / vmax
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" rx="2" '
                           f'fill="{colour}"><title>{_e(tip)}</title></rect>')
            x += w
        tot = sum(v for v, _, _ in segs)
        out.append(f'<text x="{x + 5:.1f}" y="{y + bar_h - 4}" class="val">'
                   f'{_e(value_fmt(tot) if value_fmt else _si(tot))}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_waterfall(rows: list[tuple[str, int, int, str]], *, width: int = 1100, label_w: int = 300) -> str:
    """rows: (label, start, end, kind) with kind in total/drop; bars float between start and end."""
    bar_h, gap, mt = 18, 5, 8
    height = mt * 2 + len(rows) * (bar_h + gap)
    vmax = max((max(s, e) for _, s, e, _ in rows), default=1) or 1
    pw = width - label_w - 150
    out = [(f'<svg class="chart waterfall" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">')]
    for i, (label, s, e, kind) in enumerate(rows):
        y = mt + i * (bar_h + gap)
        x0, x1 = label_w + pw * min(s, e) / vmax, label_w + pw * max(s, e) / vmax
        colour = C_KEEP if kind == "total" else C_DROP
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end" class="lbl">{_e(label)}</text>')
        if i and kind == "drop":
            out.append(f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{y - gap}" y2="{y}" stroke="#9aa5b1"/>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" height="{bar_h}" rx="2" '
                   f'fill="{colour}"/>')
        n = abs(s - e) if kind == "drop" else e
        pct = f" ({100 * n / rows[0][2]:.1f}%)" if rows and rows[0][2] else ""
        txt = (f"−{n:,}{pct}" if kind == "drop" else f"{n:,}{pct if i else ''}")
        out.append(f'<text x="{x1 + 6:.1f}" y="{y + bar_h - 5}" class="val">{_e(txt)}</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- HTML

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:#1f2933;background:#f3f4f6}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 2px}h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid #dde1e6}
h3{font-size:14px;margin:0 0 6px}
.sub{color:#52606d;font-size:13px}.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:14px 16px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-top:16px}
.kpi .v{font-size:22px;font-weight:650}.kpi .k{color:#52606d;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.grades{display:grid;grid-template-columns:180px 1fr;gap:14px;margin-top:14px}
.overall{align-self:start;padding:24px 10px;display:flex;flex-direction:column;align-items:center;justify-content:center}
.badge{display:inline-flex;align-items:center;justify-content:center;width:30px;height:30px;border-radius:6px;color:#fff;font-weight:700;font-size:16px}
.badge.big{width:84px;height:84px;font-size:50px;border-radius:14px}
.badge.na{background:#9aa5b1;font-size:11px}
.dims{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px}
.dim h3{display:flex;align-items:center;gap:8px;text-transform:capitalize}
.dim table{width:100%}.dim .note{margin-top:6px}tr.headline td{font-weight:650}
.dim td:first-child{color:#3e4c59}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;text-align:left;border-bottom:1px solid #eef0f2;vertical-align:top}
th{color:#52606d;font-weight:600;font-size:12px}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}
figure{margin:0}figure.signal .meta{font-size:12px;color:#52606d;margin-top:2px}
svg.chart{display:block;max-width:100%;height:auto}
svg .tick{font-size:10px;fill:#616e7c}svg .axis{font-size:11px;fill:#3e4c59}svg .lbl{font-size:11.5px;fill:#1f2933}
svg .val{font-size:11px;fill:#3e4c59}svg .thr{font-size:11px;fill:#c0392b;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.legend{font-size:12px;color:#52606d}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
.ex{border-left:3px solid #d1495b;background:#fff;padding:8px 12px;margin:6px 0;border-radius:0 6px 6px 0}
.ex .hd{font-size:12px;color:#52606d;margin-bottom:3px}
.ex pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12.5px;max-height:9.5em;overflow:hidden}
.reason{margin:14px 0 4px;font-weight:600}.pill{display:inline-block;background:#fde8ea;color:#a4243b;border-radius:10px;padding:0 8px;font-size:12px}
.note{font-size:12px;color:#7b8794}
"""


def _grade_badge(g: Any, big: bool = False) -> str:
    cls = "badge big" if big else "badge"
    if g in GRADE_COLORS:
        return f'<span class="{cls} grade" data-grade="{_e(g)}" style="background:{GRADE_COLORS[g]}">{_e(g)}</span>'
    return f'<span class="{cls} grade na" data-grade="">n/a</span>'


def _metric_rows(metrics: dict, prefix: str = "") -> list[str]:
    rows = []
    for k, v in (metrics or {}).items():
        if isinstance(v, dict):
            rows += _metric_rows(v, f"{prefix}{k}.")
        elif isinstance(v, (list, tuple)):
            rows.append(f"<tr><td>{_e(prefix + str(k))}</td><td class=n>{_e(', '.join(_fmt(x) for x in v[:6]))}</td></tr>")
        else:
            rows.append(f"<tr><td>{_e(prefix + str(k))}</td><td class=n>{_e(_fmt(v))}</td></tr>")
    return rows


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _dim_rows(name: str, d: dict, bands: dict) -> list[str]:
    """The graded metric first, then the other scalar metrics; small dicts of scalars inline."""
    metrics = d.get("metrics") or {}
    head = (bands.get(name) or {}).get("metric")
    rows = []
    keys = ([head] if head in metrics else []) + [k for k in metrics if k != head]
    for k in keys:
        v = metrics[k]
        if _scalar(v):
            val = _fmt(v)
        elif isinstance(v, dict) and all(_scalar(x) for x in v.values()) and 0 < len(v) <= 6:
            val = ", ".join(f"{a}: {_fmt(b)}" for a, b in v.items())
        elif isinstance(v, list) and all(_scalar(x) for x in v) and len(v) <= 6:
            val = ", ".join(_fmt(x) for x in v)
        else:
            continue
        cls = ' class="headline"' if k == head else ""
        rows.append(f'<tr{cls}><td>{_e(str(k).replace("_", " "))}</td><td class=n>{_e(_trunc(val, 60))}</td></tr>')
    return rows


def _section_scorecard(scorecard: dict | None) -> str:
    if not scorecard:
        return ('<section id="scorecard"><h2>Scorecard</h2><p class="note">No scorecard was computed for '
                'this dataset.</p></section>')
    overall = (scorecard.get("overall") or {})
    dims = scorecard.get("dimensions") or {}
    bands = (scorecard.get("computed_with") or {}).get("grade_bands") or {}
    cards = []
    for name, d in dims.items():
        d = d or {}
        rows = _dim_rows(name, d, bands)
        notes = "".join(f'<div class="note">{_e(n)}</div>' for n in (d.get("notes") or [])[:2] if isinstance(n, str))
        cards.append(f'<div class="card dim" data-dimension="{_e(name)}"><h3>{_grade_badge(d.get("grade"))}'
                     f'{_e(str(name).replace("_", " "))}</h3><table>{"".join(rows[:8])}</table>{notes}</div>')
    rule = overall.get("rule")
    std = scorecard.get("standard")
    return (f'<section id="scorecard"><h2>Scorecard</h2><div class="grades">'
            f'<div class="card overall" data-dimension="overall">{_grade_badge(overall.get("grade"), big=True)}'
            f'<div class="sub" style="margin-top:8px">overall grade</div>'
            f'{f"<div class=note>{_e(std)}</div>" if std else ""}</div>'
            f'<div class="dims">{"".join(cards)}</div></div>'
            f'{f"<p class=note>Overall: {_e(rule)}.</p>" if isinstance(rule, str) else ""}</section>')


def _is_rate_signal(st: SignalStats) -> bool:
    """PII counts and flags are shown as rates, not histograms."""
    return (st.name.startswith("pii_") and st.name.endswith("_count_v1")) or st.is_bool


def _thr_label(t: Threshold) -> str:
    return f"{t.reason}: keep {t.op} {t.value:g}"


def build_report(out_dir: Path, manifest: dict, scorecard: dict | None = None) -> str:
    """One self-contained HTML page describing the dataset version in ``out_dir``."""
    out_dir = Path(out_dir)
    if scorecard is None:
        try:  # the scorecard module may not exist in every build
            from heitu.data.quality.scorecard import compute_scorecard  # type: ignore

            scorecard = compute_scorecard(out_dir, manifest)
        except ImportError:
            scorecard = None
    col = _collect(out_dir, manifest)
    counts = manifest.get("counts", {})
    read = int(counts.get("docs_read", 0))
    kept = int(counts.get("docs_kept", col.kept_docs))
    version = manifest.get("version", out_dir.name)
    name = manifest.get("name") or manifest.get("spec", {}).get("name", "")
    parts: list[str] = []

    # ---- header + KPIs
    keep_rate = f"{100 * kept / read:.1f}%" if read else "–"
    avg_chars = f"{col.kept_chars / col.kept_docs:,.0f}" if col.kept_docs else "–"
    kpis = [("documents read", f"{read:,}"), ("kept", f"{kept:,}"), ("keep rate", keep_rate),
            ("read errors", f"{int(counts.get('read_errors', 0)):,}"), ("kept characters", _si(col.kept_chars)),
            ("mean chars / doc", avg_chars)]
    kpi_html = "".join(f'<div class="card kpi"><div class=v>{_e(v)}</div><div class=k>{_e(k)}</div></div>'
                       for k, v in kpis)
    parts.append(
        f'<header><h1>Dataset report · {_e(name)}</h1><div class="sub mono">{_e(version)} · heitu '
        f'{_e(manifest.get("heitu_version", "?"))} · created {_e(manifest.get("created_at", "?"))} · '
        f'{len(manifest.get("inputs", []))} input file(s) · executor {_e((manifest.get("executor") or {}).get("kind", "?"))}'
        f' · spec {_e(str(manifest.get("spec_hash", ""))[:12])}</div>'
        f'<div class="kpis">{kpi_html}</div></header>')
    parts.append(_section_scorecard(scorecard))

    # ---- waterfall
    rows: list[tuple[str, int, int, str]] = [("documents read", 0, read, "total")]
    remaining = read
    errs = int(counts.get("read_errors", 0))
    table = []
    for step in counts.get("steps", []):
        dropped = step.get("dropped", {}) or {}
        table.append(f'<tr data-step="{_e(step["name"])}"><td class=mono>{_e(step["name"])}</td>'
                     f'<td class=n>{step.get("in", 0):,}</td><td class=n>{step.get("out", 0):,}</td>'
                     f'<td class=n>{step.get("in", 0) - step.get("out", 0):,}</td><td>'
                     + ", ".join(f'<span class="pill">{_e(r)} {n:,}</span>' for r, n in
                                 sorted(dropped.items(), key=lambda kv: -kv[1])) + "</td></tr>")
        for r, n in sorted(dropped.items(), key=lambda kv: -kv[1]):
            rows.append((f"{step['name']} · {r}", remaining, remaining - n, "drop"))
            remaining -= n
    rows.append(("kept", 0, kept, "total"))
    parts.append(
        '<section id="waterfall"><h2>Where documents went</h2><div class="card">'
        + svg_waterfall(rows) +
        '<table style="margin-top:10px;width:100%"><tr><th>step</th><th class=n>in</th><th class=n>out</th>'
        '<th class=n>dropped</th><th>reasons</th></tr>' + "".join(table) + "</table>"
        + (f'<p class="note">{errs:,} record(s) could not be read (errors/).</p>' if errs else "")
        + "</div></section>")

    # ---- lengths
    len_series = [("kept", "kept", C_KEEP), ("rejected", "rejected", C_MUTED)]
    q = col.length.quantile
    len_meta = " · ".join(f"{k} in {_qfmt(v, _si)}" for k, v in (("p10", q(0.1, "kept")), ("median", q(0.5, "kept")),
                                                          ("p90", q(0.9, "kept"))) if v is not None)
    figs = ['<figure class="card length" data-kind="chars"><h3>Characters per document</h3>'
            + svg_histogram(col.length, len_series, title="characters (log scale)")
            + f'<div class="legend"><i style="background:{C_KEEP}"></i>kept<i style="background:{C_MUTED}">'
              f'</i>rejected</div><div class="meta note">kept: {_e(len_meta)}</div></figure>']
    tq = col.tokens.quantile
    tok_meta = " · ".join(f"{k} in {_qfmt(v, _si)}" for k, v in (("p10", tq(0.1, "kept")), ("median", tq(0.5, "kept")),
                                                          ("p90", tq(0.9, "kept"))) if v is not None)
    figs.append('<figure class="card length" data-kind="tokens"><h3>Tokens per document '
                '<span class="note">(heitu-wscjk-v1: a CJK character or a whitespace word)</span></h3>'
                + svg_histogram(col.tokens, len_series, title="tokens (log scale)")
                + f'<div class="legend"><i style="background:{C_KEEP}"></i>kept<i style="background:{C_MUTED}">'
                  f'</i>rejected</div><div class="meta note">kept: {_e(tok_meta)}</div></figure>')
    if col.words is not None:
        figs.append(f'<figure class="card length" data-kind="words"><h3>Words per kept document '
                    f'(<code>{_e(col.words_col)}</code>)</h3>'
                    + svg_histogram(col.words, [("kept", "kept", C_KEEP)], title="words (log scale)") + "</figure>")
    parts.append('<section id="lengths"><h2>Document length</h2><div class="grid2">' + "".join(figs) + "</div></section>")

    # ---- signals
    th_idx = {id(t): i for i, t in enumerate(col.thresholds)}
    figs = []
    rule_order = list(dict.fromkeys(t.column for t in col.thresholds))
    shown = [c for c in rule_order if c in col.signals] + [
        c for c in col.signals if c not in rule_order and not _is_rate_signal(col.signals[c])]
    for c in shown:
        st = col.signals[c]
        if st.hist is None or st.n == 0:
            continue
        ths = [t for t in col.thresholds if t.column == c]
        thr = [(t.value, _thr_label(t), t.op in (">=", ">")) for t in ths]
        fails = [f'<b>{_e(t.reason)}</b> ({_e(t.step)}): {st.fail.get(th_idx[id(t)], 0):,} of {st.n:,} fail '
                 f'({100 * st.fail.get(th_idx[id(t)], 0) / max(st.n, 1):.1f}%)' for t in ths]
        med = st.hist.quantile(0.5)
        meta = (f"n={st.n:,} · mean {_fmt(st.total / st.n)} · median in {_qfmt(med)} · "
                f"range {_fmt(st.lo)}–{_fmt(st.hi)}" + (f" · no value {st.nulls:,} (dropped before the step, or null)" if st.nulls else ""))
        colour = "#4c78a8" if ths else "#7f8ea3"
        figs.append(
            f'<figure class="card signal" data-signal="{_e(c)}" data-thresholds="{len(ths)}"><h3 class=mono>{_e(c)}</h3>'
            + svg_histogram(st.hist, [("all", "documents", colour)], title=f"{c} · stage {st.stage} documents",
                            thresholds=thr)
            + f'<div class="meta">{_e(meta)}</div>'
            + "".join(f'<div class="meta">{f}</div>' for f in fails) + "</figure>")
    parts.append('<section id="signals"><h2>Signals and thresholds</h2><p class="note">Each signal over every '
                 'document that reached the step computing it (kept or not). Dashed red lines are the '
                 '<code>select</code> rules\' thresholds; the shaded side is dropped. A document fails the '
                 'first rule it breaks, so "fail" counts overlap across rules.</p><div class="grid2">'
                 + "".join(figs) + "</div></section>")

    # ---- languages and sources
    def _mix(all_c: _BoundedCounter, kept_c: _BoundedCounter, top: int) -> str:
        items = all_c.c.most_common(top) if all_c.c else kept_c.c.most_common(top)
        rows = []
        for k, n in items:
            kn = min(kept_c.c.get(k, 0), n) if all_c.c else n
            rows.append((str(k), [(kn, C_KEEP, f"{k}: {kn:,} kept"), (n - kn, C_MUTED, f"{k}: {n - kn:,} dropped")]))
        rest = sum(all_c.c.values()) - sum(n for _, n in items)
        if rest > 0:
            rk = sum(kept_c.c.values()) - sum(min(kept_c.c.get(k, 0), n) for k, n in items)
            rows.append((f"other ({len(all_c.c) - len(items):,}{'+' if all_c.pruned else ''})",
                         [(max(rk, 0), C_KEEP, "kept"), (max(rest - rk, 0), C_MUTED, "dropped")]))
        if not rows:
            return '<p class="note">not available</p>'
        return svg_hbars(rows)
    legend = (f'<div class="legend"><i style="background:{C_KEEP}"></i>kept<i style="background:{C_MUTED}"></i>'
              f'dropped</div>')
    parts.append(
        '<section id="mix"><h2>Languages and sources</h2><div class="grid2">'
        f'<figure class="card" id="languages"><h3>Language (<code>lang_v1</code>)</h3>{_mix(col.langs_all, col.langs_kept, 12)}{legend}</figure>'
        f'<figure class="card" id="sources"><h3>Top sources (URL host, else input file)</h3>{_mix(col.sources_all, col.sources_kept, 15)}{legend}</figure>'
        "</div></section>")

    # ---- duplicates
    dup_html = []
    buckets = [(2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, 999), (1000, 10 ** 12)]
    for s, ctr in col.dup_clusters.items():
        sizes = np.array(list(ctr.c.values()), dtype=np.int64) + 1
        if sizes.size == 0:
            continue
        rows = []
        for a, b in buckets:
            n = int(((sizes >= a) & (sizes <= b)).sum())
            lbl = f"size {a}" if a == b else (f"size {a}–{b}" if b < 10 ** 12 else f"size ≥ {a}")
            rows.append((lbl, [(n, "#8e6bbf", f"{n:,} clusters")]))
        top = "".join(
            f'<tr><td class=mono>{_e(k)}</td><td class=n>{n + 1:,}</td><td>{_e(_trunc(col.dup_examples.get(s, {}).get(k, ""), 90))}</td></tr>'
            for k, n in ctr.c.most_common(8))
        dup_html.append(
            f'<div class="card" data-step="{_e(s)}"><h3>{_e(s)}: {len(sizes):,} clusters, '
            f'{int(sizes.sum() - len(sizes)):,} documents dropped as copies</h3><div class="grid2"><div>'
            + svg_hbars(rows, label_w=110) + '</div><div><table style="width:100%"><tr><th>kept original</th>'
            '<th class=n>size</th><th>text</th></tr>' + top + "</table></div></div></div>")
    parts.append('<section id="duplicates"><h2>Duplicate clusters</h2>'
                 + ("".join(dup_html) or '<p class="note">No duplicates were dropped.</p>') + "</section>")

    # ---- PII and keywords
    pii = [st for c, st in col.signals.items() if c.startswith("pii_") and c.endswith("_count_v1")]
    kw = [st for c, st in col.signals.items() if c.startswith("zh_kw_") and "density" in c]
    rate_html = []
    if pii:
        rows = "".join(f'<tr><td class=mono>{_e(st.name)}</td><td class=n>{st.nonzero:,}</td>'
                       f'<td class=n>{100 * st.nonzero / max(st.n, 1):.2f}%</td><td class=n>{int(st.total):,}</td></tr>'
                       for st in pii)
        rate_html.append('<div class="card"><h3>PII found (and redacted)</h3><table style="width:100%"><tr><th>signal</th>'
                         '<th class=n>docs with any</th><th class=n>rate</th><th class=n>occurrences</th></tr>'
                         + rows + "</table></div>")
    if kw:
        rows = []
        for st in kw:
            ths = [(i, t) for i, t in enumerate(col.thresholds) if t.column == st.name]
            over = ", ".join(f"{st.fail.get(i, 0):,} ({100 * st.fail.get(i, 0) / max(st.n, 1):.2f}%) beyond {t.value:g}"
                             for i, t in ths) or "–"
            rows.append(f'<tr><td class=mono>{_e(st.name)}</td><td class=n>{st.nonzero:,}</td>'
                        f'<td class=n>{100 * st.nonzero / max(st.n, 1):.2f}%</td><td class=n>{_fmt(st.total / max(st.n, 1))}</td>'
                        f'<td class=n>{_e(over)}</td></tr>')
        rate_html.append('<div class="card"><h3>Keyword lexicon hits</h3><table style="width:100%"><tr><th>signal</th>'
                         '<th class=n>docs with any</th><th class=n>rate</th><th class=n>mean density</th>'
                         '<th class=n>over threshold</th></tr>' + "".join(rows) + "</table></div>")
    flags = [st for st in col.signals.values() if st.is_bool and st.n]
    if flags:
        rows = "".join(f'<tr><td class=mono>{_e(st.name)}</td><td class=n>{st.nonzero:,} of {st.n:,}</td>'
                       f'<td class=n>{100 * st.nonzero / max(st.n, 1):.2f}%</td></tr>' for st in flags)
        rate_html.append('<div class="card"><h3>Flags</h3><table style="width:100%"><tr><th>signal</th>'
                         '<th class=n>true</th><th class=n>rate</th></tr>' + rows + "</table></div>")
    if rate_html:
        parts.append('<section id="rates"><h2>PII and keywords</h2><div class="grid2">' + "".join(rate_html)
                     + "</div></section>")

    # ---- examples
    ex_html = []
    order = [(s["name"], r) for s in counts.get("steps", []) for r in sorted((s.get("dropped") or {}),
                                                                              key=lambda r: -s["dropped"][r])]
    order += [k for k in col.examples if k not in order]
    for key in order:
        exs = col.examples.get(key)
        if not exs:
            continue
        s, r = key
        items = []
        for ex in exs:
            src = ex["source"] or {}
            where = src.get("url") or f'{src.get("file", "?")}:{src.get("offset", "?")}'
            sig = " · ".join(f"{k}={_fmt(v)}" for k, v in ex["signals"].items())
            dup = f' · duplicate of <span class=mono>{_e(ex["dup_of"])}</span>' if ex.get("dup_of") else ""
            items.append(f'<div class="ex"><div class="hd"><span class=mono>{_e(ex["id"])}</span> · {_e(where)}'
                         f'{" · " + _e(sig) if sig else ""}{dup}</div><pre>{_e(_trunc(ex["text"], _EXAMPLE_CHARS))}</pre></div>')
        ex_html.append(f'<div class="examples" data-step="{_e(s)}" data-reason="{_e(r)}"><div class="reason">'
                       f'<span class=mono>{_e(s)}</span> · <span class="pill">{_e(r)}</span></div>{"".join(items)}</div>')
    parts.append('<section id="examples"><h2>Rejected examples</h2><p class="note">The first few documents '
                 f'dropped for each reason, truncated to {_EXAMPLE_CHARS} characters.</p>'
                 + ("".join(ex_html) or '<p class="note">Nothing was rejected.</p>') + "</section>")

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<footer class="note" style="margin-top:30px">Generated by heitu {_e(manifest.get("heitu_version", ""))} '
                 f'at {now} from {_e(str(out_dir))}.</footer>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(name)} {_e(version)} · heitu dataset report</title>"
            f"<link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")


def _trunc(s: str, n: int) -> str:
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "…"


def write_report(out_dir: Path, manifest: dict, scorecard: dict | None, path: Path) -> Path:
    path = Path(path)
    path.write_text(build_report(out_dir, manifest, scorecard), encoding="utf-8")
    return path
