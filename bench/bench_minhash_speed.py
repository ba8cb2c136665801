"""Near-duplicate removal, end to end: heitu's `minhash_dedup` (local 1 and 2 workers, Ray 2
workers) against datatrove's four-stage MinHash (signatures -> buckets -> cluster -> filter), on
the same input, with the same shingles (word 5-grams) and hash count (14 bands x 8 rows = 112).

Input: `--docs` distinct documents built from real English sentences (every English text in
../shared/data, plus any `--extra-html` pages, split into sentences; each document is 6-12
sentences drawn at random, so two documents almost never share a 5-gram run), and for a
`--rate` share of them a planted near-duplicate: a copy with ~1% of its words replaced and one
line break moved (word-5-gram Jaccard ~0.9 with its original). Written as 8 jsonl shards.

Printed per system: wall time, docs/s, peak RSS (process tree, largest process, and the main process, where heitu runs its plan), share of the
planted pairs found (one of the two removed), and removals outside planted pairs.

    bash bench/setup_anchors.sh                        # once: datatrove's venv
    python bench/bench_minhash_speed.py                # 200k docs + 10% planted, all systems
    python bench/bench_minhash_speed.py --docs 100000 --systems heitu --workers 2   # memory
    python bench/bench_minhash_speed.py --docs 1000000 --systems heitu --workers 2  # memory
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import random
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_filters import DEFAULT_ANCHOR, REPO, anchor_python, fmt_mb, html_to_text, run_measured  # noqa: E402

SPEC = """name: near-dedup-bench
steps:
  - type: minhash_dedup
    params: {threshold: 0.8, ngram: 5, shingle: word, num_perm: 112, bands: 14, rows: 8}
"""

DT_PIPELINE = r'''
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.hashing import HashConfig

def main():
    inp, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="xxhash"), num_buckets=14, hashes_per_bucket=8,
                        n_grams=5)
    stages = [
        LocalPipelineExecutor(pipeline=[JsonlReader(inp), MinhashDedupSignature(output_folder=f"{out}/sigs", config=cfg)],
                              tasks=workers, workers=workers, logging_dir=f"{out}/logs/1"),
        LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=f"{out}/sigs", output_folder=f"{out}/buckets",
                                                            config=cfg)],
                              tasks=cfg.num_buckets, workers=workers, logging_dir=f"{out}/logs/2"),
        LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=f"{out}/buckets", output_folder=f"{out}/remove",
                                                            config=cfg)],
                              tasks=1, logging_dir=f"{out}/logs/3"),
        LocalPipelineExecutor(pipeline=[JsonlReader(inp),
                                        MinhashDedupFilter(input_folder=f"{out}/remove",
                                                           exclusion_writer=JsonlWriter(f"{out}/removed")),
                                        JsonlWriter(f"{out}/kept")],
                              tasks=workers, workers=workers, logging_dir=f"{out}/logs/4"),
    ]
    for s in stages:
        s.run()


if __name__ == "__main__":
    main()
'''


def sentence_pool(shared: Path, extra_html: list[str]) -> list[str]:
    texts: list[str] = []
    for f in sorted((shared / "english_web").glob("*.jsonl")) + sorted((shared / "sft").glob("*en*.jsonl")):
        texts += [json.loads(line).get("text") or "" for line in f.open(encoding="utf-8")]
    for d in sorted((shared / "html" / "readability_test_pages").iterdir()):
        if (d / "expected.html.gz").exists():
            texts.append(html_to_text(gzip.open(d / "expected.html.gz").read().decode("utf-8", "replace")))
    for pattern in extra_html:
        for f in sorted(glob.glob(pattern, recursive=True)):
            texts.append(html_to_text(Path(f).read_bytes().decode("utf-8", "replace")))
    pool = set()
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+|\n+", t):
            s = " ".join(s.split())
            if 6 <= len(s.split()) <= 60:
                pool.add(s)
    return sorted(pool)


def build_input(pool: list[str], n: int, rate: float, folder: Path, shards: int = 8, seed: int = 0):
    rnd = random.Random(seed)
    vocab = sorted({w for s in pool[:5000] for w in s.split()})
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = [open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(shards)]
    pairs, total, nbytes = [], 0, 0
    for i in range(n):
        sents = rnd.sample(pool, rnd.randint(6, 12))
        lines = [" ".join(sents[j:j + 2]) for j in range(0, len(sents), 2)]
        text = "\n".join(lines)
        docs = [(f"d{i}", text)]
        if rnd.random() < rate:
            words = text.replace("\n", " \n ").split(" ")
            for k in rnd.sample(range(len(words)), max(1, len(words) // 100)):
                if words[k] != "\n":
                    words[k] = rnd.choice(vocab)
            copy = " ".join(words).replace(" \n ", "\n")
            copy = copy.replace("\n", " ", 1) if "\n" in copy else copy  # one line break moved
            docs.append((f"d{i}-near", copy))
            pairs.append((f"d{i}", f"d{i}-near"))
        for doc_id, t in docs:
            files[total % shards].write(json.dumps({"id": doc_id, "text": t}) + "\n")
            total += 1
            nbytes += len(t.encode())
    for f in files:
        f.close()
    return pairs, total, nbytes


def heitu_removed(out: Path) -> set[str]:
    import polars as pl

    files = sorted((out / "rejects").rglob("*.parquet"))
    return set(pl.concat([pl.read_parquet(f, columns=["id"]) for f in files])["id"]) if files else set()


def datatrove_removed(out: Path) -> set[str]:
    ids = set()
    for f in sorted((out / "removed").glob("*.jsonl*")):
        op = gzip.open if f.suffix == ".gz" else open
        with op(f, "rt", encoding="utf-8") as fh:
            ids |= {json.loads(line)["id"] for line in fh}
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0.1, help="share of documents that get a planted near-duplicate")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--systems", default="heitu,heitu-ray,datatrove")
    ap.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR)
    ap.add_argument("--extra-html", action="append", default=[], metavar="GLOB")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "minhash")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    workers = [int(w) for w in args.workers.split(",")]

    pool = sentence_pool(args.data, args.extra_html)
    in_dir = args.out / "input"
    pairs, total, nbytes = build_input(pool, args.docs, args.rate, in_dir)
    print(f"sentence pool {len(pool):,}; input {total:,} docs ({nbytes / 1e6:.0f} MB) with {len(pairs):,} planted "
          f"near-duplicate pairs, 8 jsonl shards in {in_dir}", flush=True)
    spec = args.out / "spec.yaml"
    spec.write_text(SPEC)
    planted = {b for _, b in pairs} | {a for a, _ in pairs}
    results = []
    for system in systems:
        for w in workers:
            if system == "heitu-ray" and w != max(workers):
                continue
            out = args.out / f"{system}-w{w}"
            shutil.rmtree(out, ignore_errors=True)
            print(f"running {system} with {w} worker(s) ...", flush=True)
            if system.startswith("heitu"):
                cmd = [sys.executable, "-m", "heitu.cli", "data", "run", str(spec), "-i", str(in_dir), "-o", str(out),
                       "--workers", str(w), "--no-register"]
                if system == "heitu-ray":
                    cmd += ["--executor", "ray"]
                m = run_measured(cmd, log=args.out / f"{system}-w{w}.log")
                removed = heitu_removed(out)
            else:
                out.mkdir(parents=True)
                (out / "pipeline.py").write_text(DT_PIPELINE)
                cmd = [str(anchor_python(args.anchor)), str(out / "pipeline.py"), str(in_dir), str(out), str(w)]
                m = run_measured(cmd, log=args.out / f"{system}-w{w}.log")
                removed = datatrove_removed(out)
            found = sum(1 for a, b in pairs if a in removed or b in removed)
            m.update(system=system, workers=w, docs=total, docs_s=total / m["wall_s"], removed=len(removed),
                     planted_found=found / len(pairs) if pairs else None,
                     removed_outside_planted=len(removed - planted))
            results.append(m)
            print(f"  {m['wall_s']:.1f}s, {m['docs_s']:,.0f} docs/s, found {found:,}/{len(pairs):,} planted pairs",
                  flush=True)
    print()
    print("| system | workers | wall s | docs/s | peak RSS tree | peak RSS/proc | peak RSS main (heitu: the plan) "
          "| planted pairs found | removed outside planted |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for m in results:
        print(f"| {m['system']} | {m['workers']} | {m['wall_s']:.1f} | {m['docs_s']:,.0f} | {fmt_mb(m['peak_rss_tree'])} "
              f"| {fmt_mb(m['peak_rss_process'])} | {fmt_mb(m['peak_rss_root'])} | {100 * m['planted_found']:.2f}% | {m['removed_outside_planted']:,} |")
    by = {(m["system"], m["workers"]): m for m in results}
    for w in workers:
        if ("heitu", w) in by and ("datatrove", w) in by:
            print(f"{w} worker(s): heitu/datatrove = {by[('heitu', w)]['docs_s'] / by[('datatrove', w)]['docs_s']:.1f}x docs/s")
    if args.json:
        args.json.write_text(json.dumps({"docs": total, "pairs": len(pairs), "runs": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
