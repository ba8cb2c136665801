"""The heitu-quality-v1 scorecard of a dataset version (definitions: docs/quality-standard.md).

`compute_scorecard(out_dir, manifest)` reads the dataset output folder with bounded memory:
every full-dataset metric is a polars lazy scan collected with the streaming engine (only
the columns it needs; per-document values are reduced to sums, counts and quantiles), and
the perplexity/diversity sample is chosen by the xxh64 hash of each id in a single pass over
the id column (a fixed-size heap), then its texts are fetched with a streaming `is_in` filter.

The result is JSON-serialisable and reproducible: no timestamps, every float rounded to 6
significant digits, every list sorted, and `computed_with` names every input to the grades.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import xxhash

from heitu.core.errors import UserError

STANDARD = "heitu-quality-v1"
TOKENIZER = "heitu-wscjk-v1"
SAMPLE_SEED = 0
GRADES = ("A", "B", "C", "D", "E")

# heitu-wscjk-v1: one token per CJK character (Han, Hiragana, Katakana, Hangul), and one token
# per maximal run of other non-whitespace characters (i.e. whitespace-separated words with
# CJK characters split out). Unicode whitespace (Rust regex \s) separates.
CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
CJK_RE = f"[{CJK}]"
WORD_RE = rf"[^\s{CJK}]+"
_PY_TOKEN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f]|[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f]+")

# grade bands: metric value -> grade, thresholds in docs/quality-standard.md
BANDS: dict[str, dict[str, Any]] = {
    "scale": {"metric": "tokens", "higher_is_better": True, "bounds": [1e10, 1e9, 1e8, 1e7]},
    "cleanliness": {"metric": "boilerplate_share", "higher_is_better": False, "bounds": [0.01, 0.03, 0.10, 0.25]},
    "duplication": {"metric": "residual_exact_dup_rate", "higher_is_better": False,
                    "bounds": [0.001, 0.01, 0.05, 0.20]},
    "safety": {"metric": "flagged_keyword_share", "higher_is_better": False, "bounds": [0.001, 0.005, 0.02, 0.05]},
    "language": {"metric": "purity", "higher_is_better": True, "bounds": [0.99, 0.97, 0.90, 0.80]},
    "informativeness": {"metric": "short_doc_share", "higher_is_better": False, "bounds": [0.01, 0.05, 0.15, 0.30]},
}
SHORT_DOC_TOKENS = 50  # Gopher's minimum document length, in heitu-wscjk-v1 tokens
BOILERPLATE_RULES = {  # kept document counts as boilerplate-signalled if any available rule holds
    "zh_kw_ad_density_v1": 0.0,              # > 0: an ad/contact phrase
    "zh_dup_line_char_frac_v1": 0.1,         # > 0.1: a tenth of the characters in repeated lines
    "gopher_rep_dup_line_char_frac_v1": 0.1,
    "fineweb_short_line_ratio_v1": 0.5,      # > 0.5: mostly short (menu-like) lines
}
SAFETY_KW = ("sensitive", "porn", "gambling")  # categories counted in flagged_keyword_share
OVERALL_RULE = ("worst grade among the graded quality dimensions (cleanliness, duplication, safety, "
                "language, informativeness, provenance); scale and diversity are reported but do not "
                "enter the overall grade; null when none is graded")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _r(x: Any) -> Any:
    """Round floats to 6 significant digits (stable JSON across platforms); NaN/inf -> None."""
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return None
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _r(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_r(v) for v in x]
    return x


def grade(value: float | None, bounds: list[float], higher_is_better: bool) -> str | None:
    """A..E: A when value is at or beyond bounds[0], B beyond bounds[1], ..., E otherwise."""
    if value is None:
        return None
    for g, b in zip(GRADES, bounds):
        if (value >= b) if higher_is_better else (value <= b):
            return g
    return "E"


def _worst(*gs: str | None) -> str | None:
    present = [g for g in gs if g]
    return max(present) if present else None


def count_tokens(text: str) -> int:
    """heitu-wscjk-v1 token count of one text (the same definition as the polars expressions)."""
    return len(_PY_TOKEN_RE.findall(text))


def tokenize(text: str) -> list[str]:
    return _PY_TOKEN_RE.findall(text)


def _files(out_dir: Path, sub: str) -> list[Path]:
    return sorted((out_dir / sub).glob("*.parquet")) if sub else []


def _scan(files: list[Path]) -> pl.LazyFrame:
    # files of one folder can differ in columns (stages add signals): diagonal concat
    return pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")


def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.collect(engine="streaming")


def _schema(files: list[Path]) -> set[str]:
    names: set[str] = set()
    for f in files:
        names.update(pq.read_schema(f).names)
    return names


def _steps(manifest: dict) -> list[dict]:
    return manifest.get("spec", {}).get("steps", [])


def _step_counts(manifest: dict) -> dict[str, dict]:
    return {s["name"]: s for s in manifest.get("counts", {}).get("steps", [])}


def intended_languages(manifest: dict) -> list[str] | None:
    """Languages a recipe's select rules ask for (`lang_v1 = 'en'`, `lang_v1 IN ('zh', ...)`)."""
    for s in _steps(manifest):
        for rule in (s.get("params") or {}).get("rules", []) or []:
            expr = rule.get("keep", "")
            m = re.search(r"lang_v1\s*(?:=|==|IN)\s*\(?([^)]*?)\)?(?:\s+AND|\s+OR|$)", expr, re.IGNORECASE)
            if m:
                langs = re.findall(r"'([^']+)'", m.group(1))
                if langs:
                    return langs
    return None


# ---------------------------------------------------------------------------------------------


def compute_scorecard(out_dir: Path, manifest: dict, *, reference_lm: Path | None = None, sample: int = 2000,
                      intended_lang: list[str] | str | None = None) -> dict:
    out_dir = Path(out_dir)
    data_files = _files(out_dir, "data")
    reject_files = sorted((out_dir / "rejects").glob("*/*.parquet"))
    error_files = sorted((out_dir / "errors").glob("*.jsonl"))
    counts = manifest.get("counts", {})
    cols = _schema(data_files)
    if data_files and "text" not in cols:
        raise UserError(f"{out_dir}/data holds no text column: it is not a heitu dataset output")

    # ---- one streaming pass over the kept documents -------------------------------------
    base = _doc_stats(data_files, cols)
    n = base["docs"]

    sample_ids, sample_texts = _sample(data_files, sample)
    lm_info: dict[str, Any] = {"path": None, "checksum": None, "order": None}
    ppl = None
    if reference_lm is not None:
        from heitu.data.quality.reference_lm import ReferenceLM

        lm = ReferenceLM.load(Path(reference_lm))
        lm_info = {"path": Path(reference_lm).name, "checksum": lm.checksum, "order": lm.order}
        ppl = lm.perplexity(sample_texts) if sample_texts else []

    dims: dict[str, dict] = {}
    dims["scale"] = _scale(base, counts)
    dims["cleanliness"] = _cleanliness(base, manifest, error_files)
    dims["duplication"] = _duplication(out_dir, data_files, cols, manifest, n)
    dims["safety"] = _safety(base, cols, n, manifest)
    dims["language"] = _language(base, cols, n, manifest, intended_lang)
    dims["informativeness"] = _informativeness(base, cols, ppl, lm_info, len(sample_texts))
    dims["diversity"] = _diversity(data_files, cols, n, sample_texts)
    dims["provenance"] = _provenance(base, reject_files, counts, error_files, n)

    quality = ("cleanliness", "duplication", "safety", "language", "informativeness", "provenance")
    overall = _worst(*(dims[d]["grade"] for d in quality))

    read_files = data_files + reject_files + error_files
    checksums = {o["path"]: o["sha256"] for o in manifest.get("outputs", [])}
    files = []
    for f in read_files:
        rel = f.relative_to(out_dir).as_posix()
        files.append({"path": rel, "sha256": checksums.get(rel)})
    from heitu import __version__

    card = {
        "standard": STANDARD,
        "dataset": manifest.get("version"),
        "computed_with": {
            "heitu_version": __version__,
            "dataset_heitu_version": manifest.get("heitu_version"),
            "spec_hash": manifest.get("spec_hash"),
            "tokenizer": TOKENIZER,
            "reference_lm": lm_info,
            "sample": {"size": sample, "drawn": len(sample_ids), "seed": SAMPLE_SEED,
                       "method": "the `size` kept documents with the smallest xxh64(id, seed); ties by id"},
            "grade_bands": BANDS,
            "files": files,
        },
        "dimensions": dims,
        "overall": {"grade": overall, "rule": OVERALL_RULE},
    }
    return _r(card)


# ---------------------------------------------------------------------------------------------


def _doc_stats(data_files: list[Path], cols: set[str]) -> dict:
    """Everything that reduces the kept documents to a handful of numbers, in one streaming pass."""
    if not data_files:
        return {"docs": 0, "row": {}, "len_q": {}}
    text = pl.col("text").fill_null("")
    cjk = text.str.count_matches(CJK_RE)
    words = text.str.count_matches(WORD_RE)
    derived = [
        text.str.len_chars().alias("_chars"),
        text.str.len_bytes().alias("_bytes"),
        (cjk + words).alias("_tokens"),
    ]
    bp = [pl.col(c).fill_null(0) > t for c, t in BOILERPLATE_RULES.items() if c in cols]
    derived.append((pl.any_horizontal(bp) if bp else pl.lit(False)).alias("_boiler"))
    if "source" in cols:
        src = pl.col("source")
        url = src.struct.field("url")
        derived += [
            ((url.fill_null("") != "") | (src.struct.field("file").fill_null("") != "")).alias("_has_src"),
            (url.fill_null("") != "").alias("_has_url"),
        ]
    else:
        derived += [pl.lit(False).alias("_has_src"), pl.lit(False).alias("_has_url")]
    if "meta" in cols:
        m = pl.col("meta")
        lic = pl.coalesce(m.str.json_path_match("$.license"), m.str.json_path_match("$.licence"))
        derived.append((lic.fill_null("") != "").alias("_has_lic"))
    else:
        derived.append(pl.lit(False).alias("_has_lic"))
    lf = _scan(data_files).with_columns(derived)
    aggs = [
        pl.len().alias("docs"),
        pl.col("_chars").sum().alias("chars"), pl.col("_bytes").sum().alias("bytes"),
        pl.col("_tokens").sum().alias("tokens"),
        pl.col("_boiler").sum().alias("boiler"),
        pl.col("_has_src").sum().alias("has_src"), pl.col("_has_url").sum().alias("has_url"),
        pl.col("_has_lic").sum().alias("has_lic"),
        (pl.col("_tokens") < SHORT_DOC_TOKENS).sum().alias("short"),
        pl.col("_chars").mean().alias("chars_mean"), pl.col("_tokens").mean().alias("tokens_mean"),
    ]
    for q in QUANTILES:
        aggs.append(pl.col("_chars").quantile(q, "nearest").alias(f"chars_p{int(q * 100)}"))
        aggs.append(pl.col("_tokens").quantile(q, "nearest").alias(f"tokens_p{int(q * 100)}"))
    for c in sorted(cols):
        if c.startswith("pii_") and c.endswith("_count_v1"):
            aggs.append(pl.col(c).fill_null(0).sum().alias(c))
        if c.startswith("zh_kw_") and c.endswith("_density_v1"):
            aggs.append(pl.col(c).fill_null(0).mean().alias(c + "__mean"))
            aggs.append((pl.col(c).fill_null(0) > 0).sum().alias(c + "__any"))
    for c in ("lang_score_v1", "quality_score_v1"):
        if c in cols:
            aggs.append(pl.col(c).cast(pl.Float64).mean().alias(c + "__mean"))
    if "quality_score_v1" in cols:
        for q in QUANTILES:
            aggs.append(pl.col("quality_score_v1").cast(pl.Float64).quantile(q, "nearest").alias(f"qs_p{int(q * 100)}"))
    kw = [pl.col(f"zh_kw_{k}_density_v1").fill_null(0) > 0 for k in SAFETY_KW if f"zh_kw_{k}_density_v1" in cols]
    if kw:
        aggs.append(pl.any_horizontal(kw).sum().alias("kw_flagged"))
    row = _collect(lf.select(aggs)).row(0, named=True)
    res = {"docs": int(row["docs"]), "row": row}
    if "lang_v1" in cols:
        lang = _collect(_scan(data_files).group_by("lang_v1").agg(pl.len().alias("n")))
        res["lang"] = {str(k): int(v) for k, v in lang.iter_rows()}
    return res


def _sample(data_files: list[Path], size: int) -> tuple[list[str], list[str]]:
    """Up to `size` kept documents, those with the smallest xxh64(id) — same dataset, same sample."""
    if not data_files or size <= 0:
        return [], []
    def keyed():
        for f in data_files:
            for b in pq.ParquetFile(f).iter_batches(batch_size=65536, columns=["id"]):
                for i in b.column(0).to_pylist():
                    i = i or ""
                    yield xxhash.xxh64_intdigest(i.encode("utf-8"), seed=SAMPLE_SEED), i

    chosen = heapq.nsmallest(size, keyed())  # a bounded heap of `size` entries
    ids = [i for _, i in chosen]
    texts = _collect(_scan(data_files).select("id", "text").filter(pl.col("id").is_in(ids)))
    # ids may repeat in a dataset: one text per chosen id, the first in file order
    first: dict[str, str] = {}
    for i, t in texts.iter_rows():
        first.setdefault(i, t or "")
    return ids, [first[i] for i in ids if i in first]


def _share(a: float | None, b: float | None) -> float | None:
    return (a / b) if (a is not None and b) else None


def _scale(base: dict, counts: dict) -> dict:
    r = base["row"]
    metrics = {
        "documents": base["docs"], "characters": int(r.get("chars") or 0), "bytes": int(r.get("bytes") or 0),
        "tokens": int(r.get("tokens") or 0), "tokenizer": TOKENIZER,
        "documents_read": counts.get("docs_read"), "retention": _share(base["docs"], counts.get("docs_read")),
    }
    b = BANDS["scale"]
    return {"grade": grade(metrics["tokens"], b["bounds"], True), "metrics": metrics,
            "notes": [(f"graded on kept tokens ({TOKENIZER}); size is not quality, so scale is left out "
                       "of the overall grade")]}


def _cleanliness(base: dict, manifest: dict, error_files: list[Path]) -> dict:
    n = base["docs"]
    counts = manifest.get("counts", {})
    rules: dict[str, dict] = {}
    types = {s["name"]: s["type"] for s in _steps(manifest)}
    for s in counts.get("steps", []):
        if not s["dropped"]:
            continue
        for reason, k in sorted(s["dropped"].items()):
            rules[f"{s['name']}/{reason}"] = {"step_type": types.get(s["name"]), "in": s["in"], "dropped": k,
                                              "pass_rate": _share(s["in"] - k, s["in"])}
    metrics = {
        "rule_pass_rates": rules,
        "boilerplate_share": _share(base["row"].get("boiler", 0), n),
        "boilerplate_signals": {c: f"> {t}" for c, t in BOILERPLATE_RULES.items()},
        "read_error_rate": _share(counts.get("read_errors", 0),
                                  (counts.get("docs_read") or 0) + (counts.get("read_errors") or 0)),
    }
    notes = [("pass_rate = 1 - dropped/in of the step; a selector attributes a document to the first rule "
              "it fails, so later rules' pass rates are over-estimates")]
    if n == 0:
        notes.append("no kept documents")
    return {"grade": grade(metrics["boilerplate_share"], BANDS["cleanliness"]["bounds"], False) if n else None,
            "metrics": metrics, "notes": notes}


def _removed_rate(sc: dict, steps: list[str]) -> float | None:
    dropped = sum(sum(sc.get(s, {}).get("dropped", {}).values()) for s in steps)
    return _share(dropped, sum(sc.get(s, {}).get("in", 0) for s in steps))


def _clusters(out_dir: Path, steps: list[str]) -> dict:
    """Cluster sizes from the rejects' dup_of: dropped copies per kept original, + the original."""
    buckets = {"2": 0, "3-5": 0, "6-10": 0, "11-100": 0, ">100": 0}
    files = [f for s in steps for f in sorted((out_dir / "rejects" / s).glob("*.parquet"))]
    if not files or "dup_of" not in _schema(files):
        return {"clusters": 0, "mean_size": None, "max_size": None, "histogram": buckets}
    sizes = _collect(_scan(files).filter(pl.col("dup_of").is_not_null()).group_by("dup_of")
                     .agg(pl.len().alias("n")).select((pl.col("n") + 1).alias("size")))["size"]
    hist = _collect(pl.LazyFrame({"s": sizes}).select(
        (pl.col("s") == 2).sum().alias("2"), pl.col("s").is_between(3, 5).sum().alias("3-5"),
        pl.col("s").is_between(6, 10).sum().alias("6-10"), pl.col("s").is_between(11, 100).sum().alias("11-100"),
        (pl.col("s") > 100).sum().alias(">100"))).row(0, named=True)
    return {"clusters": len(sizes), "mean_size": float(sizes.mean()) if len(sizes) else None,
            "max_size": int(sizes.max()) if len(sizes) else None, "histogram": {k: int(v) for k, v in hist.items()}}


def _duplication(out_dir: Path, data_files: list[Path], cols: set[str], manifest: dict, n: int) -> dict:
    steps = _steps(manifest)
    sc = _step_counts(manifest)
    notes: list[str] = []
    exact_steps = [s["name"] for s in steps if s["type"] == "exact_dedup"]
    near_steps = [s["name"] for s in steps if "minhash" in s["type"] or "near" in s["type"]]
    exact_removed = clusters = near = near_clusters = None
    if exact_steps:
        exact_removed = _removed_rate(sc, exact_steps)
        clusters = _clusters(out_dir, exact_steps)
    else:
        notes.append("no exact_dedup step: exact_dup_rate_removed not measured")
    if near_steps:
        near = _removed_rate(sc, near_steps)
        near_clusters = _clusters(out_dir, near_steps)
    else:
        notes.append("near-duplicates not measured (no minhash step in the pipeline); the grade is capped at B")
    residual = None
    if data_files and n:
        key = pl.col("exact_text_hash_v1") if "exact_text_hash_v1" in cols else pl.col("text").fill_null("").hash(0)
        r = _collect(_scan(data_files).select(key.alias("_h")).group_by("_h").agg(pl.len().alias("n"))
                     .select((pl.col("n") - 1).sum().alias("extra")))
        residual = _share(int(r["extra"][0] or 0), n)
    metrics = {"exact_dup_rate_removed": exact_removed, "exact_dup_clusters": clusters,
               "near_dup_rate_removed": near, "near_dup_clusters": near_clusters, "near_dup_measured": bool(near_steps),
               "residual_exact_dup_rate": residual,
               "residual_key": "exact_text_hash_v1" if "exact_text_hash_v1" in cols else "hash of text"}
    g = grade(residual, BANDS["duplication"]["bounds"], False)
    if g is not None and not near_steps:
        g = max(g, "B")
    return {"grade": g, "metrics": metrics, "notes": notes}


def _safety(base: dict, cols: set[str], n: int, manifest: dict) -> dict:
    r = base["row"]
    pii = {c[len("pii_"):-len("_count_v1")]: (r[c] / n * 1000 if n else None)
           for c in sorted(cols) if c.startswith("pii_") and c.endswith("_count_v1")}
    kw_density = {c[len("zh_kw_"):-len("_density_v1")]: r.get(c + "__mean")
                  for c in sorted(cols) if c.startswith("zh_kw_") and c.endswith("_density_v1")}
    kw_share = {c[len("zh_kw_"):-len("_density_v1")]: _share(r.get(c + "__any"), n)
                for c in sorted(cols) if c.startswith("zh_kw_") and c.endswith("_density_v1")}
    redacted = any(s["type"] == "pii_redact" for s in _steps(manifest))
    flagged = _share(r.get("kw_flagged"), n) if "kw_flagged" in r else None
    notes = []
    g_kw = grade(flagged, BANDS["safety"]["bounds"], False)
    if flagged is None:
        notes.append("no keyword-density signals (zh_kw_*_density_v1): keyword share not measured")
    if not pii:
        notes.append("no PII counts (pii_*_count_v1): PII not measured")
        g_pii = None
    elif redacted:
        g_pii = "A"
        notes.append("PII found was replaced by placeholders (pii_redact step): hits are counted, not present")
    else:
        total = sum(v for v in pii.values() if v)
        g_pii = grade(total, [0.0, 1.0, 10.0, 100.0], False)
    metrics = {"pii_per_1000_docs": pii, "pii_total_per_1000_docs": sum(v for v in pii.values() if v) if pii else None,
               "pii_redacted": redacted, "keyword_density_mean": kw_density, "keyword_doc_share": kw_share,
               "flagged_keyword_share": flagged, "flagged_categories": list(SAFETY_KW)}
    return {"grade": _worst(g_kw, g_pii) if n else None, "metrics": metrics, "notes": notes}


def _language(base: dict, cols: set[str], n: int, manifest: dict, intended: list[str] | str | None) -> dict:
    if "lang" not in base or not n:
        return {"grade": None, "metrics": {}, "notes": ["no lang_v1 column: language not measured"]}
    mix = base["lang"]
    source = "argument"
    if isinstance(intended, str):
        intended = [intended]
    if not intended:
        intended = intended_languages(manifest)
        source = "recipe"
    if not intended:
        intended = [max(sorted(mix), key=lambda k: mix[k])]
        source = "majority"
    purity = sum(mix.get(l, 0) for l in intended) / n
    metrics = {"mix": {k: v / n for k, v in sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))},
               "intended": intended, "intended_from": source, "purity": purity,
               "mean_lang_score": base["row"].get("lang_score_v1__mean")}
    return {"grade": grade(purity, BANDS["language"]["bounds"], True), "metrics": metrics, "notes": []}


def _informativeness(base: dict, cols: set[str], ppl: list[float] | None, lm_info: dict, drawn: int) -> dict:
    r = base["row"]
    n = base["docs"]
    lens = {
        "chars": {"mean": r.get("chars_mean"), **{f"p{int(q * 100)}": r.get(f"chars_p{int(q * 100)}") for q in QUANTILES}},
        "tokens": {"mean": r.get("tokens_mean"), **{f"p{int(q * 100)}": r.get(f"tokens_p{int(q * 100)}") for q in QUANTILES}},
    }
    notes = []
    if "quality_score_v1" in cols:
        qs = {"mean": r.get("quality_score_v1__mean"), **{f"p{int(q * 100)}": r.get(f"qs_p{int(q * 100)}") for q in QUANTILES}}
    else:
        qs = None
        notes.append("quality_score_v1 not present: learned quality score not measured")
    if ppl is None:
        perplexity = None
        notes.append("no reference LM given: perplexity not measured")
    elif not ppl:
        perplexity = None
    else:
        s = sorted(ppl)
        perplexity = {"median": s[len(s) // 2], "mean": sum(s) / len(s),
                      "p5": s[int(0.05 * (len(s) - 1))], "p95": s[int(0.95 * (len(s) - 1))], "docs": len(s),
                      "reference_lm": lm_info["checksum"]}
    notes.append("perplexity and quality score are not graded: their scale depends on the reference "
                 "corpus/model; compare them between datasets scored with the same checksum")
    metrics = {"length": lens, "short_doc_share": _share(r.get("short"), n), "short_doc_tokens": SHORT_DOC_TOKENS,
               "quality_score": qs, "perplexity": perplexity}
    return {"grade": grade(metrics["short_doc_share"], BANDS["informativeness"]["bounds"], False) if n else None,
            "metrics": metrics, "notes": notes}


def _entropy(counts: list[int]) -> tuple[float | None, float | None]:
    tot = sum(counts)
    if not tot:
        return None, None
    h = -sum(c / tot * math.log2(c / tot) for c in counts if c)
    return h, (h / math.log2(len(counts)) if len(counts) > 1 else 0.0)


def _diversity(data_files: list[Path], cols: set[str], n: int, sample_texts: list[str]) -> dict:
    metrics: dict[str, Any] = {}
    if data_files and n and "source" in cols:
        src = pl.col("source")
        host = src.struct.field("url").str.extract(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#@]+)", 1).str.to_lowercase()
        key = pl.coalesce(host, pl.lit("file:") + src.struct.field("file"), pl.lit("(none)")).alias("_k")
        cnt = _collect(_scan(data_files).select(key).group_by("_k").agg(pl.len().alias("n")))["n"].to_list()
        h, hn = _entropy(sorted(cnt))
        metrics["sources"] = {"distinct": len(cnt), "entropy_bits": h, "normalised_entropy": hn,
                              "top_share": max(cnt) / n if cnt else None,
                              "key": "host of source.url, else source.file"}
    toks = [tokenize(t) for t in sample_texts]
    total = sum(len(t) for t in toks)
    if total:
        vocab = Counter(w for t in toks for w in t)
        bi = {(t[i], t[i + 1]) for t in toks for i in range(len(t) - 1)}
        tri = {(t[i], t[i + 1], t[i + 2]) for t in toks for i in range(len(t) - 2)}
        nb = sum(max(len(t) - 1, 0) for t in toks)
        nt = sum(max(len(t) - 2, 0) for t in toks)
        metrics["sample_vocabulary"] = len(vocab)
        metrics["distinct_1"] = len(vocab) / total
        metrics["distinct_2"] = len(bi) / nb if nb else None
        metrics["distinct_3"] = len(tri) / nt if nt else None
        metrics["sample_tokens"] = total
    return {"grade": None, "metrics": metrics,
            "notes": [("not graded: entropy and distinct-n depend on sample size and domain mix; compare "
                       "between datasets with the same sample size"),
                      f"vocabulary and distinct-n over the sample ({TOKENIZER} tokens)"]}


def _provenance(base: dict, reject_files: list[Path], counts: dict, error_files: list[Path], n: int) -> dict:
    r = base["row"]
    dropped = (counts.get("docs_read") or 0) - (counts.get("docs_kept") or 0)
    with_reason = 0
    rejected = 0
    if reject_files:
        rr = _collect(_scan(reject_files).select(
            pl.len().alias("n"),
            (pl.col("_reason").is_not_null() & (pl.col("_reason").fill_null("") != "")).sum().alias("k")))
        rejected, with_reason = int(rr["n"][0]), int(rr["k"][0])
    # every dropped document must be in rejects/ with a reason: a missing reject row counts as no reason
    denom = max(dropped, rejected)
    share = with_reason / denom if denom > 0 else 1.0
    errs = with_r = 0
    for f in error_files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    errs += 1
                    try:
                        with_r += bool(json.loads(line).get("reason"))
                    except (ValueError, AttributeError):
                        pass
    notes = []
    if dropped == 0:
        notes.append("no document was dropped: dropped_with_reason_share is 1.0 vacuously")
    if rejected != dropped:
        notes.append(f"rejects/ holds {rejected} documents but the manifest counts {dropped} dropped")
    metrics = {
        "source_share": _share(r.get("has_src"), n), "url_share": _share(r.get("has_url"), n),
        "licence_share": _share(r.get("has_lic"), n),
        "dropped": dropped, "dropped_with_reason": with_reason,
        "dropped_with_reason_share": share,
        "read_errors": counts.get("read_errors", 0),
        "read_errors_with_reason_share": (with_r / errs) if errs else 1.0,
    }
    if metrics["dropped_with_reason_share"] < 1.0 or metrics["read_errors_with_reason_share"] < 1.0:
        g = "E"
    elif not n:
        return {"grade": None, "metrics": metrics, "notes": notes + ["no kept documents"]}
    else:
        g = grade(metrics["source_share"], [0.99, 0.9, 0.5, 0.0], True)
    notes.append("licence_share is reported, not graded (licence comes from meta only when the source gives one)")
    return {"grade": g, "metrics": metrics, "notes": notes}
