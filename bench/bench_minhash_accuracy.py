"""Near-duplicate detection accuracy and speed of heitu's `minhash_dedup`, against datatrove.

Ground truth (../shared/data/dedup): a pair is a duplicate when its STS-B similarity score is
>= 4.0 (en dev, zh valid: "mostly/completely equivalent") or its BUSTM label is 1 (same
meaning). Each data set is one corpus of all its sentences (text, text_b of every pair, in
file order); a method predicts "duplicate" for a pair when it puts both sentences in one
cluster (so sentences repeated across pairs can join clusters, as in a real dedup run).
Precision/recall/F1 over pairs, for thresholds 0.5 .. 0.95. Rows:

- ``heitu``: minhash_dedup with its defaults: bands x rows derived with misses weighted 0.9
  (verification removes the false positives) and exact-Jaccard verification;
- ``heitu-noverify``: the same shingles, no verification, the standard LSH bands for t
  (datasketch's equal-weight derivation: 9 x 13 at 0.8);
- ``jaccard``: the oracle the LSH approximates: exact Jaccard of the same shingle sets >= t;
- ``datatrove``: datatrove 0.10 MinHash (stages 1-3; clusters read from its .clusters files)
  with n_grams = heitu's word n-gram (4), its own tokenizer per language (spaCy English,
  jieba-backed Chinese);
- ``data-juicer``: Data-Juicer 1.6.1 ``document_minhash_deduplicator`` signatures (its own
  ``compute_hash``) and its LSH clustering (the loop of its ``process``, run without the HF
  dataset around it): tokenization ``space`` with window 4 for English, ``character`` with
  window 5 for Chinese, num_permutations 128.

The anchors cannot verify, so by default they get the standard LSH for the threshold (what
Data-Juicer derives itself from ``jaccard_threshold``); ``--anchor-bands heitu`` hands them
heitu's recall-weighted bands instead.

Speed (``--speed N``): N documents made from real text in ../shared/data (random runs of
csldcp abstract sentences and English web sentences; 20% are edited copies of earlier ones), one process: heitu's index (signatures) over 2,000-document batches and its plan;
datatrove's four stages (``--speed-datatrove``) on the same jsonl.

    python bench/bench_minhash_accuracy.py                 # accuracy tables (heitu + oracle)
    python bench/bench_minhash_accuracy.py --datatrove --datajuicer   # + the anchors' rows
    python bench/bench_minhash_accuracy.py --datatrove --datajuicer --anchor-bands heitu
    python bench/bench_minhash_accuracy.py --ngram-sweep   # F1 at t=0.8 for n = 1..7 + planted edits
    python bench/bench_minhash_accuracy.py --speed 100000 [--speed-datatrove] [--datajuicer]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ANCHOR = REPO / "bench" / ".anchors" / "datatrove" / "bin" / "python"
THRESHOLDS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]

sys.path.insert(0, str(REPO / "src"))
from heitu.data.pipeline import PipelineSpec, StepSpec, build_steps
from heitu.data.steps.minhash import optimal_bands


def load_sets() -> dict[str, tuple[list[str], np.ndarray, str]]:
    """name -> (sentences [a0, b0, a1, b1, ...], truth per pair, language)."""
    out = {}
    for name, file, lang, truth in [
        ("stsb-en", "stsb_en_dev_pairs.jsonl", "en", lambda r: r["score"] >= 4.0),
        ("stsb-zh", "stsb_zh_valid_pairs.jsonl", "zh", lambda r: r["score"] >= 4.0),
        ("bustm-zh", "fewclue_bustm_fewshot_pairs.jsonl", "zh", lambda r: r["label"] == 1),
    ]:
        rows = [json.loads(l) for l in open(SHARED / "dedup" / file, encoding="utf-8")]
        texts = [t for r in rows for t in (r["text"], r["text_b"])]
        out[name] = (texts, np.array([truth(r) for r in rows]), lang)
    return out


def make_step(**params):
    (step,) = build_steps(PipelineSpec(name="b", steps=[StepSpec(type="minhash_dedup", params=params)]))
    return step


def heitu_clusters(step, texts: list[str]) -> np.ndarray:
    """Cluster id per document: index + plan as the pipeline runs them."""
    n = len(texts)
    batch = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(n)], "text": texts})
    frame = pl.DataFrame({"_shard": pl.Series(np.zeros(n, np.int32)), "_row": pl.Series(np.arange(n)),
                          "id": [str(i) for i in range(n)], "text": texts})
    for k, v in step.index(batch, {}).items():
        frame = frame.with_columns(pl.from_arrow(v).alias(k))
    drops = step.plan(frame.lazy().select(["_shard", "_row", "id", *step.plan_columns()]))
    comp = np.arange(n)
    comp[drops["_row"].to_numpy()] = drops["dedup_cluster_v1"].to_numpy()
    return comp


def jaccard_pairs(step, texts: list[str]) -> np.ndarray:
    """Exact Jaccard of each pair's shingle sets, in the space both share (the plan's own kernel)."""
    from heitu.data.steps.minhash import _pair_jaccard

    vals, off, spaces = step.shingle_sets(pl.Series(texts))
    start, end = off[:-1], off[1:]
    return np.array([_pair_jaccard(vals, start, end, spaces, 2 * p, 2 * p + 1) for p in range(len(texts) // 2)])


def prf(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pair_pred(comp: np.ndarray) -> np.ndarray:
    return comp[0::2] == comp[1::2]


# --------------------------------------------------------------------------- datatrove

DT_SCRIPT = r'''
import json, struct, sys, time, glob, os
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupSignature, MinhashDedupBuckets,
                                              MinhashDedupCluster, MinhashDedupFilter)
from datatrove.utils.hashing import HashConfig
args = json.loads(sys.argv[1])
work = args["work"]
cfg = MinhashConfig(n_grams=args["ngram"], num_buckets=args["bands"], hashes_per_bucket=args["rows"],
                    hash_config=HashConfig(precision=64))
lang = args["lang"]
t0 = time.time()
def run(steps, tasks=1):
    LocalPipelineExecutor(pipeline=steps, tasks=tasks, workers=1, logging_dir=f"{work}/logs/{time.time_ns()}").run()
run([JsonlReader(args["input"]), MinhashDedupSignature(f"{work}/sigs", config=cfg, language=lang)])
run([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)], tasks=cfg.num_buckets)
run([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=cfg, save_cluster_id=True)])
if args.get("filter"):
    run([JsonlReader(args["input"]), MinhashDedupFilter(f"{work}/remove"), JsonlWriter(f"{work}/out")])
secs = time.time() - t0
clusters = {}
path = f"{work}/remove/000000.clusters"
if os.path.exists(path):
    data = open(path, "rb").read()
    for doc, cid in struct.iter_unpack("<II", data):
        clusters[doc] = cid
sys.__stdout__.write(json.dumps({"seconds": secs, "clusters": clusters}) + "\n")
'''


def datatrove_clusters(texts: list[str], lang: str, ngram: int, bands: int, rows: int,
                       filter_stage: bool = False) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as work:
        inp = Path(work) / "in.jsonl"
        with open(inp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
        args = {"work": work, "input": str(inp), "ngram": ngram, "bands": bands, "rows": rows, "lang": lang,
                "filter": filter_stage}
        res = subprocess.run([str(ANCHOR), "-c", DT_SCRIPT, json.dumps(args)], capture_output=True, text=True)
        if res.returncode:
            raise RuntimeError(res.stderr[-3000:])
        out = json.loads(res.stdout.strip().splitlines()[-1])
    comp = np.arange(len(texts)) + (1 << 40)  # singletons: distinct ids
    for doc, cid in out["clusters"].items():
        comp[int(doc)] = cid
    return comp, out["seconds"]


DJ_PYTHON = REPO / "bench" / ".anchors" / "datajuicer" / "bin" / "python"
DJ_SCRIPT = r"""
import json, sys, time
from collections import defaultdict
from data_juicer.ops.deduplicator.document_minhash_deduplicator import DocumentMinhashDeduplicator, UnionFind
from data_juicer.utils.constant import HashKeys
args = json.loads(sys.argv[1])
texts = [json.loads(l)["text"] for l in open(args["input"], encoding="utf-8")]
out = []
for cfg in args["configs"]:
    op = DocumentMinhashDeduplicator(tokenization=cfg["tokenization"], window_size=cfg["window"],
                                     num_permutations=cfg["num_perm"], jaccard_threshold=cfg["t"],
                                     num_bands=cfg["bands"], num_rows_per_band=cfg["rows"])
    t0 = time.time()
    hashes = [op.compute_hash({op.text_key: t})[HashKeys.minhash] for t in texts]
    # the clustering of DocumentMinhashDeduplicator.process, unchanged, without the HF dataset around it
    tables = [defaultdict(set) for _ in range(op.num_bands)]
    for idx, hs in enumerate(hashes):
        for h, table in zip(hs, tables):
            table[h].add(idx)
    uf = UnionFind()
    for table in tables:
        for cluster in table.values():
            if len(cluster) > 1:
                m = min(cluster)
                for x in cluster:
                    uf.union(x, m)
    comp = [uf.find(i) for i in range(len(texts))]
    out.append({"seconds": time.time() - t0, "comp": comp})
sys.__stdout__.write(json.dumps(out) + "\n")
"""


def datajuicer_clusters(texts: list[str], configs: list[dict]) -> list[tuple[np.ndarray, float]]:
    """Data-Juicer's document_minhash_deduplicator (signatures + its LSH clustering) per config."""
    import os

    with tempfile.TemporaryDirectory() as work:
        inp = Path(work) / "in.jsonl"
        with open(inp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        home = Path(work) / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
        res = subprocess.run([str(DJ_PYTHON), "-c", DJ_SCRIPT, json.dumps({"input": str(inp), "configs": configs})],
                             capture_output=True, text=True, env=env, cwd=work)
        if res.returncode:
            raise RuntimeError(res.stderr[-3000:])
        out = json.loads(res.stdout.strip().splitlines()[-1])
    return [(np.array(o["comp"]), o["seconds"]) for o in out]


# --------------------------------------------------------------------------- runs

def anchor_lsh(step, anchor_bands: str) -> tuple[int, int]:
    """The anchors' bands x rows: the standard LSH for the threshold (datasketch's equal-weight
    derivation, which Data-Juicer applies itself given jaccard_threshold), or heitu's own."""
    if anchor_bands == "heitu":
        return step.bands, step.rows
    return optimal_bands(step.params.threshold, step.params.num_perm)


def accuracy(with_datatrove: bool, with_dj: bool = False, anchor_bands: str = "standard") -> dict:
    sets = load_sets()
    results = {}
    for name, (texts, truth, lang) in sets.items():
        dj = {}
        if with_dj:
            steps = [make_step(threshold=t) for t in THRESHOLDS]
            cfgs = [{"tokenization": "space" if lang == "en" else "character",
                     "window": st.ngram_word if lang == "en" else st.ngram_char, "num_perm": st.params.num_perm,
                     "t": t, **dict(zip(("bands", "rows"), anchor_lsh(st, anchor_bands)))}
                    for t, st in zip(THRESHOLDS, steps)]
            dj = {t: prf(pair_pred(c), truth) for t, (c, _) in zip(THRESHOLDS, datajuicer_clusters(texts, cfgs))}
        print(f"\n### {name}: {len(truth)} pairs, {int(truth.sum())} duplicates by ground truth")
        if with_datatrove or with_dj:
            print(f"anchors' bands x rows: {'heitu' if anchor_bands == 'heitu' else 'standard LSH for t (equal weights)'}")
        print(f"{'t':>5} {'bands x rows':>12} | " + " | ".join(
            f"{m:^21}" for m in ["heitu P/R/F1", "heitu-noverify", "jaccard oracle"]
            + (["datatrove"] if with_datatrove else []) + (["data-juicer"] if with_dj else [])))
        rows = []
        for t in THRESHOLDS:
            step = make_step(threshold=t)
            nov = make_step(threshold=t, verify=False)
            r = {"t": t, "bands": step.bands, "rows": step.rows,
                 "heitu": prf(pair_pred(heitu_clusters(step, texts)), truth),
                 "heitu-noverify": prf(pair_pred(heitu_clusters(nov, texts)), truth),
                 "jaccard": prf(jaccard_pairs(step, texts) >= t, truth)}
            if with_datatrove:
                comp, _ = datatrove_clusters(texts, lang, step.ngram_word, *anchor_lsh(step, anchor_bands))
                r["datatrove"] = prf(pair_pred(comp), truth)
            if with_dj:
                r["data-juicer"] = dj[t]
            rows.append(r)
            cells = [r["heitu"], r["heitu-noverify"], r["jaccard"]] + ([r["datatrove"]] if with_datatrove else []) \
                + ([r["data-juicer"]] if with_dj else [])
            print(f"{t:>5.2f} {step.bands:>5} x {step.rows:<4} | " + " | ".join(
                f"{p:.3f} {rc:.3f} {f:.4f}".center(21) for p, rc, f in cells))
        results[name] = rows
    return results


def planted_corpus(n: int, seed: int = 0, copy_rate: float = 0.2, zh_share: float = 0.6) -> tuple[list[str], list[int]]:
    """Distinct documents (3-15 random sentences of real zh/en text) and edited copies of
    earlier ones (one word in 100 replaced, or one character replaced and a line appended);
    returns (texts, index of the original per doc, -1 for originals)."""
    import re

    zh = [json.loads(l)["text"] for l in open(SHARED / "chinese_text" / "fewclue_csldcp_test_public.jsonl", encoding="utf-8")]
    en = [json.loads(l)["text"] for l in open(SHARED / "english_web" / "datajuicer_redpajama_pile_samples.jsonl", encoding="utf-8")]
    en += [json.loads(l)["text"] for l in open(SHARED / "english_web" / "dolma_ccnet_en_head.jsonl", encoding="utf-8")]
    split = re.compile(r"(?<=[。！？.!?])\s*|\n+")
    zh_s = [x for t in zh for x in split.split(t) if len(x) >= 8]
    en_s = [x for t in en for x in split.split(t) if len(x.split()) >= 6]
    rng = random.Random(seed)
    texts, origin = [], []
    vocab = [w for t in en_s[:2000] for w in t.split()]
    while len(texts) < n:
        if texts and rng.random() < copy_rate:
            src = rng.randrange(len(texts))
            t = texts[src]
            w = t.split(" ")
            if len(w) > 20:  # one word in 100 replaced
                for _ in range(max(1, len(w) // 100)):
                    w[rng.randrange(len(w))] = rng.choice(vocab)
                t = " ".join(w)
            else:  # one character replaced, a line appended
                k = rng.randrange(len(t))
                t = t[:k] + rng.choice("的了是在和有") + t[k + 1:] + "\n" + "附注：转载请注明出处，谢谢。"
            texts.append(t)
            origin.append(origin[src] if origin[src] >= 0 else src)
        else:
            pool, sep = (zh_s, "") if rng.random() < zh_share else (en_s, " ")
            texts.append(sep.join(rng.choice(pool) for _ in range(rng.randint(3, 15))))
            origin.append(-1)
    return texts, origin


def sweep_step(word: int, char: int):
    """The default step with its word and character n-gram sizes set apart (``ngram`` sets both)."""
    from heitu.data.steps.minhash import word_cutoffs

    step = make_step(threshold=0.8)
    step.ngram_word, step.ngram_char = word, char
    step.lo, step.hi = word_cutoffs(0.8, word)
    return step


def ngram_sweep() -> None:
    sets = load_sets()
    print("\n### F1 on the pair sets and planted-copy recall / false merges at t=0.8, by n-gram size")
    print("(one size varied, the other at its default: 4 words / 5 characters; the labelled pairs are")
    print("short sentences, shingled by characters under shingle: auto; the planted copies are long)")
    texts, origin = planted_corpus(6000, seed=1)
    origin = np.array(origin)
    print(f"{'sizes':>9} | " + " | ".join(f"{k:>9}" for k in sets)
          + " | non-dup pairs merged | planted recall en / zh | false merges")
    ladder = [(f"char {n}", sweep_step(4, n)) for n in range(2, 8)] + [(f"word {n}", sweep_step(n, 5)) for n in range(2, 8)]
    for label, step in ladder:
        f1s, fps = [], 0
        for t, truth, _ in sets.values():
            pred = pair_pred(heitu_clusters(step, t))
            f1s.append(prf(pred, truth)[2])
            fps += int((pred & ~truth).sum())
        comp = heitu_clusters(step, texts)
        copies = np.flatnonzero(origin >= 0)
        found = comp[copies] == comp[origin[copies]]
        is_zh = np.array([any("\u4e00" <= ch <= "\u9fff" for ch in texts[i][:20]) for i in copies])
        recall = f"{found[~is_zh].mean():.3f} / {found[is_zh].mean():.3f}"
        root = np.where(origin >= 0, origin, np.arange(len(texts)))
        # false merge: two docs of different origins in one cluster
        false = 0
        for c in np.unique(comp):
            members = np.flatnonzero(comp == c)
            if len(members) > 1:
                false += len(np.unique(root[members])) - 1
        print(f"{label:>9} | " + " | ".join(f"{f:>9.3f}" for f in f1s) + f" | {fps:>20} | {recall:>22} | {false:>12}")


def speed(n: int, with_datatrove: bool, with_dj: bool = False, english: bool = False) -> None:
    texts, origin = planted_corpus(n, seed=2, zh_share=0.0 if english else 0.6)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    step = make_step()
    make_step().signatures(pl.Series(texts[:10]))  # compile / load the numba cache
    batches = [pa.RecordBatch.from_pydict({"id": [str(j) for j in range(i, min(i + 2000, n))],
                                           "text": texts[i:i + 2000]}) for i in range(0, n, 2000)]
    t_index = 0.0
    frames = []
    for i, batch in zip(range(0, n, 2000), batches):
        t = time.perf_counter()
        cols = step.index(batch, {})
        t_index += time.perf_counter() - t
        frames.append(pl.DataFrame({"_shard": pl.Series(np.zeros(batch.num_rows, np.int32)),
                                    "_row": pl.Series(np.arange(i, i + batch.num_rows)),
                                    "id": batch.column("id"), "text": batch.column("text")})
                      .with_columns(*[pl.from_arrow(v).alias(k) for k, v in cols.items()]))
    t0, t1 = 0.0, t_index
    index = pl.concat(frames)
    t2 = time.perf_counter()
    drops = step.plan(index.lazy().select(["_shard", "_row", "id", *step.plan_columns()]))
    t3 = time.perf_counter()
    print(f"\n### speed: {n:,} {'English' if english else 'zh/en'} docs, {mb:,.1f} MB, {int((np.array(origin) >= 0).sum()):,} planted copies")
    print(f"heitu index (signatures): {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} docs/s, {mb / (t1 - t0):.1f} MB/s")
    print(f"heitu plan (bands {step.bands} x {step.rows}, verify): {t3 - t2:.2f} s; dropped {drops.height:,}")
    print(f"heitu total: {t1 - t0 + t3 - t2:.2f} s = {n / (t1 - t0 + t3 - t2):,.0f} docs/s")
    if with_datatrove:
        _, secs = datatrove_clusters(texts, "en", step.ngram_word, step.bands, step.rows, filter_stage=True)
        print(f"datatrove 4 stages: {secs:.2f} s = {n / secs:,.0f} docs/s  ({secs / (t1 - t0 + t3 - t2):.1f}x heitu)")
    if with_dj:
        cfg = {"tokenization": "space", "window": step.ngram_word, "num_perm": step.params.num_perm, "t": 0.8,
               "bands": step.bands, "rows": step.rows}
        ((_, secs),) = datajuicer_clusters(texts, [cfg])
        print(f"data-juicer signatures + clustering: {secs:.2f} s = {n / secs:,.0f} docs/s  "
              f"({secs / (t1 - t0 + t3 - t2):.1f}x heitu)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datatrove", action="store_true", help="add datatrove's MinHash to the accuracy tables")
    ap.add_argument("--datajuicer", action="store_true", help="add Data-Juicer's document_minhash_deduplicator")
    ap.add_argument("--anchor-bands", choices=["standard", "heitu"], default="standard",
                    help="the anchors' bands x rows: the standard LSH for the threshold (default) or heitu's")
    ap.add_argument("--ngram-sweep", action="store_true")
    ap.add_argument("--speed", type=int, default=0, help="time heitu on N generated documents")
    ap.add_argument("--speed-datatrove", action="store_true", help="with --speed: time datatrove too")
    ap.add_argument("--english", action="store_true", help="with --speed: English documents only")
    ap.add_argument("--json", type=Path, help="write the accuracy results here")
    args = ap.parse_args()
    if args.speed:
        speed(args.speed, args.speed_datatrove, args.datajuicer, args.english)
        return
    if args.ngram_sweep:
        ngram_sweep()
        return
    res = accuracy(args.datatrove, args.datajuicer, args.anchor_bands)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
