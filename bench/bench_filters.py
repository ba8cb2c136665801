"""heitu's English web rules vs datatrove: speed, memory and keep/drop agreement.

Both sides run the FineWeb rule sets with datatrove 0.10.1's default thresholds:
GopherRepetition -> GopherQuality -> C4Quality (removes lines) -> FineWebQuality.

- heitu:     ``heitu data run bench/specs/en-filters.yaml --input DIR/*.jsonl --output OUT --workers N``
- datatrove: JsonlReader -> the four filters -> JsonlWriter, ``LocalPipelineExecutor(tasks=N,
             workers=N)``, in the anchor venv made by ``bench/setup_anchors.sh``.

Input (real text only, nothing generated): every English document in ../shared/data —
english_web/*.jsonl (CCNet head, RedPajama/Pile samples, Wikipedia), the English pages of
html/readability_test_pages (both the raw page and the cleaned article, reduced to text), the
pages of warc/dolma_sample-*.warc.gz (reduced to text) and the English SFT sets (sft/). These
unique documents are shuffled and replicated to ``--mb`` MB and written as ``--shards`` jsonl
shards (copy k of document d gets id ``d#k``).

Agreement is measured on the unique documents: heitu's decision for each (in process, same
spec) against datatrove's, obtained by calling each filter's ``.filter(doc)`` in order in the
anchor venv. The end-to-end runs' outputs are compared too (kept ids of both pipelines).

Usage::

    bash bench/setup_anchors.sh            # once: bench/.anchors/datatrove
    python bench/bench_filters.py                      # 64 MB, 1 and 2 workers, both systems (~8 min)
    python bench/bench_filters.py --mb 1024 --systems heitu --workers 1   # memory on 1 GB
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "bench" / "specs" / "en-filters.yaml"
DEFAULT_ANCHOR = REPO / "bench" / ".anchors" / "datatrove"

# ------------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------------

_BLOCK = set("p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table section article header footer nav "
             "blockquote pre dt dd dl form title figcaption option".split())
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Visible text, one line per block element (a crude WET-like rendering, boilerplate included)."""
    p = _HtmlText()
    p.feed(html)
    p.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(p.out).split("\n"))
    return "\n".join(line for line in lines if line)


def _warc_pages(path: Path):
    data = gzip.open(path).read()
    for rec in data.split(b"WARC/1.0\r\n")[1:]:
        if b"WARC-Type: response" not in rec[:2000]:
            continue
        m = re.search(rb"WARC-Target-URI: <?([^\s>]+)", rec)
        parts = rec.split(b"\r\n\r\n", 2)
        if len(parts) == 3:
            yield (m.group(1).decode() if m else path.name), parts[2]


def unique_documents(shared: Path, extra_html: list[str] = ()) -> list[dict]:
    docs: list[dict] = []

    def add(src: str, key: str, text: str) -> None:
        if text and text.strip():
            docs.append({"id": f"{len(docs):05d}:{src}:{key}", "text": text, "src": src})

    for f in sorted((shared / "english_web").glob("*.jsonl")):
        for i, line in enumerate(f.open(encoding="utf-8")):
            add("english_web", f"{f.stem}:{i}", json.loads(line).get("text") or "")
    for f in sorted((shared / "warc").glob("dolma_sample-*.warc.gz")):
        for url, body in _warc_pages(f):
            add("warc_html", url, html_to_text(body.decode("utf-8", "replace")))
    for d in sorted((shared / "html" / "readability_test_pages").iterdir()):
        meta_f = d / "expected-metadata.json"
        lang = (json.loads(meta_f.read_text()).get("lang") if meta_f.exists() else None) or "en"
        if not lang.lower().startswith("en"):
            continue
        for name in ("source.html.gz", "expected.html.gz"):
            if (d / name).exists():
                add("readability_" + name.split(".")[0], d.name,
                    html_to_text(gzip.open(d / name).read().decode("utf-8", "replace")))
    for name in ("llamafactory_alpaca_en_demo.jsonl", "fastchat_dummy_conversation_sharegpt.jsonl",
                 "llamafactory_glaive_toolcall_en_demo.jsonl"):
        f = shared / "sft" / name
        if f.exists():
            for i, line in enumerate(f.open(encoding="utf-8")):
                add("sft", f"{f.stem}:{i}", json.loads(line).get("text") or "")
    # real pages that are not in ../shared (e.g. documentation HTML installed on the machine)
    for pattern in extra_html:
        for f in sorted(glob.glob(pattern, recursive=True)):
            add("extra_html", f, html_to_text(Path(f).read_bytes().decode("utf-8", "replace")))
    return docs


def write_input(docs: list[dict], mb: float, shards: int, folder: Path, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jsonl"):
        old.unlink()
    target = int(mb * 1e6)
    rnd = random.Random(seed)
    outs = [open(folder / f"part-{k:03d}.jsonl", "w", encoding="utf-8") for k in range(shards)]
    n = size = copy = 0
    while size < target:
        order = list(range(len(docs)))
        rnd.shuffle(order)
        for j in order:
            d = docs[j]
            rec = json.dumps({"id": f"{d['id']}#{copy}", "text": d["text"]}, ensure_ascii=False)
            outs[n % shards].write(rec + "\n")
            n += 1
            size += len(d["text"].encode("utf-8"))
            if size >= target:
                break
        copy += 1
    for o in outs:
        o.close()
    return {"docs": n, "text_bytes": size, "copies": copy, "files": shards}


# ------------------------------------------------------------------------------------------------
# running and measuring
# ------------------------------------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict | None = None, log: Path | None = None, timeout: float = 7200) -> dict:
    """Run `cmd`; wall time and peak RSS of its process tree (sum), of its largest process and
    of the command's own (root) process."""
    import psutil

    out = open(log, "w") if log else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    peak_tree = peak_one = peak_root = 0
    stop = threading.Event()

    def poll():
        nonlocal peak_tree, peak_one, peak_root
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                try:
                    peak_root = max(peak_root, root.memory_info().rss)
                except psutil.Error:
                    pass
                peak_tree = max(peak_tree, sum(rss))
                peak_one = max([peak_one] + rss)
            except psutil.Error:
                pass
            stop.wait(0.1)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if log:
        out.close()
    if rc != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise RuntimeError(f"{cmd[0]} … exited with {rc}\n{tail}")
    return {"wall_s": wall, "peak_rss_tree": peak_tree, "peak_rss_process": peak_one, "peak_rss_root": peak_root}


def heitu_cmd() -> list[str]:
    exe = shutil.which("heitu")
    return [exe] if exe else [sys.executable, "-m", "heitu.cli"]


def run_heitu(in_dir: Path, out_dir: Path, workers: int) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = heitu_cmd() + ["data", "run", str(SPEC), "--input", str(in_dir / "*.jsonl"), "--output", str(out_dir),
                         "--workers", str(workers), "--no-register"]
    env = dict(os.environ)
    env.setdefault("HEITU_HOME", str(out_dir.parent / "heitu_home"))
    return run_measured(cmd, env=env, log=out_dir.parent / f"heitu-w{workers}.log")


def heitu_kept_ids(out_dir: Path) -> set[str]:
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for f in sorted((out_dir / "data").glob("*.parquet")):
        ids.update(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    return ids


DT_PIPELINE = r'''
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.filters import (GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
                                        FineWebQualityFilter)
if __name__ == "__main__":
    inp, out, logs, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    LocalPipelineExecutor(
        pipeline=[JsonlReader(inp, glob_pattern="*.jsonl"), GopherRepetitionFilter(), GopherQualityFilter(),
                  C4QualityFilter(), FineWebQualityFilter(), JsonlWriter(out, compression=None)],
        tasks=n, workers=n, logging_dir=logs,
    ).run()
'''

DT_DECIDE = r'''
import hashlib, json, sys
from datatrove.data import Document
from datatrove.pipeline.filters import (GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
                                        FineWebQualityFilter)
from datatrove.pipeline.filters.base_filter import get_filter_result
filters = [("gopher_repetition", GopherRepetitionFilter()), ("gopher_quality", GopherQualityFilter()),
           ("c4_quality", C4QualityFilter()), ("fineweb_quality", FineWebQualityFilter())]
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1], encoding="utf-8"):
        d = json.loads(line)
        doc = Document(text=d["text"], id=d["id"])
        rec = {"id": d["id"], "kept": True, "step": None, "reason": None}
        for name, f in filters:
            ok, reason = get_filter_result(f.filter(doc))
            if not ok:
                rec.update(kept=False, step=name, reason=reason)
                break
        if rec["kept"]:
            rec["md5"] = hashlib.md5(doc.text.encode()).hexdigest()
        out.write(json.dumps(rec) + "\n")
'''


def anchor_python(anchor: Path) -> Path:
    py = anchor / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"no datatrove venv at {anchor}: run bench/setup_anchors.sh (or --systems heitu)")
    return py


def run_datatrove(anchor: Path, in_dir: Path, out_dir: Path, workers: int) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    script = out_dir / "pipeline.py"
    script.write_text(DT_PIPELINE)
    cmd = [str(anchor_python(anchor)), str(script), str(in_dir), str(out_dir / "data"), str(out_dir / "logs"),
           str(workers)]
    return run_measured(cmd, log=out_dir.parent / f"datatrove-w{workers}.log")


def datatrove_kept_ids(out_dir: Path) -> set[str]:
    ids: set[str] = set()
    for f in sorted((out_dir / "data").glob("*.jsonl*")):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            ids.update(json.loads(line)["id"] for line in fh)
    return ids


# ------------------------------------------------------------------------------------------------
# agreement on unique documents
# ------------------------------------------------------------------------------------------------

DT_REASON = {  # datatrove reason -> heitu rule reason (bench/specs/en-filters.yaml)
    "dup_para_frac": "gopher_dup_para_frac", "dup_para_char_frac": "gopher_dup_para_char_frac",
    "dup_line_frac": "gopher_dup_line_frac", "dup_line_char_frac": "gopher_dup_line_char_frac",
    "top_2_gram": "gopher_top_2_gram", "top_3_gram": "gopher_top_3_gram", "top_4_gram": "gopher_top_4_gram",
    **{f"duplicated_{n}_n_grams": f"gopher_dup_{n}_grams" for n in range(5, 11)},
    "lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket",
    "too_few_sentences": "c4_too_few_sentences", "line_punct_ratio": "fineweb_line_punct_ratio",
    "short_line_ratio": "fineweb_short_line_ratio", "char_dup_ratio": "fineweb_char_dup_ratio",
    "list_ratio": "fineweb_list_ratio", "empty": "empty",
}


def heitu_decisions(docs: list[dict], batch_docs: int = 2000) -> tuple[dict[str, dict], float]:
    import pyarrow as pa
    import yaml

    from heitu.data.pipeline import PipelineSpec, build_steps
    from heitu.data.runner import process_batch
    from heitu.data.schema import SOURCE_TYPE

    steps = build_steps(PipelineSpec.model_validate(yaml.safe_load(SPEC.read_text())))
    res: dict[str, dict] = {}
    t0 = time.perf_counter()
    for s in range(0, len(docs), batch_docs):
        part = docs[s: s + batch_docs]
        n = len(part)
        batch = pa.record_batch({"id": [d["id"] for d in part], "text": [d["text"] for d in part],
                                 "source": pa.nulls(n, SOURCE_TYPE), "meta": pa.nulls(n, pa.string())})
        survivors, rejected, _ = process_batch(batch, steps, {})
        for step, rows in rejected:
            for i, r in zip(rows.column("id").to_pylist(), rows.column("_reason").to_pylist()):
                res[i] = {"kept": False, "step": step, "reason": r}
        for i, text in zip(survivors.column("id").to_pylist(), survivors.column("text").to_pylist()):
            res[i] = {"kept": True, "step": None, "reason": None, "md5": hashlib.md5(text.encode()).hexdigest()}
    return res, time.perf_counter() - t0


def datatrove_decisions(anchor: Path, docs: list[dict], work: Path) -> tuple[dict[str, dict], float]:
    work.mkdir(parents=True, exist_ok=True)
    inp, out, script = work / "unique.jsonl", work / "datatrove_decisions.jsonl", work / "decide.py"
    with open(inp, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    script.write_text(DT_DECIDE)
    t0 = time.perf_counter()
    subprocess.run([str(anchor_python(anchor)), str(script), str(inp), str(out)], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    return {r["id"]: r for r in map(json.loads, out.open())}, secs


def agreement_report(docs: list[dict], h: dict[str, dict], dt: dict[str, dict]) -> dict:
    n = len(docs)
    same = sum(h[d["id"]]["kept"] == dt[d["id"]]["kept"] for d in docs)
    same_reason = sum(h[d["id"]]["reason"] == (DT_REASON.get(dt[d["id"]]["reason"], dt[d["id"]]["reason"])
                                               if dt[d["id"]]["reason"] else None) for d in docs)
    both_kept = [d["id"] for d in docs if h[d["id"]]["kept"] and dt[d["id"]]["kept"]]
    same_text = sum(h[i]["md5"] == dt[i]["md5"] for i in both_kept)
    disagree = Counter()
    for d in docs:
        a, b = h[d["id"]], dt[d["id"]]
        if a["kept"] != b["kept"]:
            disagree[(f"heitu:{a['reason'] or 'kept'}", f"datatrove:{b['reason'] or 'kept'}")] += 1
    by_src = Counter(d["src"] for d in docs)
    return {"docs": n, "by_source": dict(by_src), "keep_drop_agreement": same / n, "agree": same,
            "same_reason": same_reason, "kept_by_both": len(both_kept), "kept_text_identical": same_text,
            "kept_heitu": sum(v["kept"] for v in h.values()), "kept_datatrove": sum(v["kept"] for v in dt.values()),
            "disagreements": {f"{k[0]} vs {k[1]}": v for k, v in disagree.most_common()}}


# ------------------------------------------------------------------------------------------------


def fmt_mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--mb", type=float, default=64, help="size of the replicated input, MB of text")
    ap.add_argument("--shards", type=int, default=8, help="jsonl files the input is written as")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--systems", default="heitu,datatrove")
    ap.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR, help="datatrove venv (bench/setup_anchors.sh)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "filters")
    ap.add_argument("--no-agreement", action="store_true", help="skip the agreement run on unique documents")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--extra-html", action="append", default=[], metavar="GLOB",
                    help="also use these local HTML pages (real text not in ../shared), e.g. installed docs")
    ap.add_argument("--agreement-only", action="store_true", help="skip the speed runs")
    args = ap.parse_args()

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    workers = [int(w) for w in args.workers.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    docs = unique_documents(args.data, args.extra_html)
    uniq_bytes = sum(len(d["text"].encode()) for d in docs)
    print(f"unique English documents: {len(docs):,} ({uniq_bytes / 1e6:.1f} MB): "
          + ", ".join(f"{k} {v}" for k, v in Counter(d["src"] for d in docs).items()))
    in_dir = args.out / "input"
    info = write_input(docs, args.mb, args.shards, in_dir)
    print(f"input: {info['docs']:,} docs, {info['text_bytes'] / 1e6:.1f} MB of text, {info['copies']} shuffled "
          f"copies of the unique set, {info['files']} jsonl files in {in_dir}")
    results = {"input": info, "unique_docs": len(docs), "unique_mb": uniq_bytes / 1e6, "runs": []}

    for w in ([] if args.agreement_only else workers):
        for system in systems:
            out_dir = args.out / f"{system}-w{w}"
            print(f"running {system} with {w} worker(s) ...", flush=True)
            m = run_heitu(in_dir, out_dir, w) if system == "heitu" else run_datatrove(args.anchor, in_dir, out_dir, w)
            m.update(system=system, workers=w, docs=info["docs"], mb=info["text_bytes"] / 1e6)
            m["docs_s"] = m["docs"] / m["wall_s"]
            m["mb_s"] = m["mb"] / m["wall_s"]
            m["kept"] = len(heitu_kept_ids(out_dir) if system == "heitu" else datatrove_kept_ids(out_dir))
            results["runs"].append(m)

    if results["runs"]:
        print()
        print("| system    | workers | docs/s  | MB/s  | MB/s/core | wall s | kept    | peak RSS tree "
              "| peak RSS/proc |")
        print("|-----------|--------:|--------:|------:|----------:|-------:|--------:|--------------:"
              "|--------------:|")
        for m in results["runs"]:
            print(f"| {m['system']:9s} | {m['workers']:7d} | {m['docs_s']:7,.0f} | {m['mb_s']:5.2f} | "
                  f"{m['mb_s'] / m['workers']:9.2f} | {m['wall_s']:6.1f} | {m['kept']:7,d} | "
                  f"{fmt_mb(m['peak_rss_tree']):>13s} | {fmt_mb(m['peak_rss_process']):>13s} |")
        by = {(m["system"], m["workers"]): m for m in results["runs"]}
        for w in workers:
            if ("heitu", w) in by and ("datatrove", w) in by:
                h, d = by[("heitu", w)], by[("datatrove", w)]
                r = h["docs_s"] / d["docs_s"]
                results.setdefault("ratio", {})[w] = r
                same = heitu_kept_ids(args.out / f"heitu-w{w}") == datatrove_kept_ids(args.out / f"datatrove-w{w}")
                print(f"{w} worker(s): heitu/datatrove = {r:.1f}x docs/s; kept ids of the two runs identical: {same}")

    if not args.no_agreement and "datatrove" in systems:
        print("\nagreement on the unique documents ...", flush=True)
        h, h_secs = heitu_decisions(docs)
        dt, dt_secs = datatrove_decisions(args.anchor, docs, args.out / "agreement")
        rep = agreement_report(docs, h, dt)
        rep.update(heitu_secs=h_secs, datatrove_secs=dt_secs)
        results["agreement"] = rep
        print(f"keep/drop agreement: {rep['agree']:,}/{rep['docs']:,} = {100 * rep['keep_drop_agreement']:.2f}% "
              f"(same rule/reason: {rep['same_reason']:,}); kept: heitu {rep['kept_heitu']:,}, "
              f"datatrove {rep['kept_datatrove']:,}; text after C4 identical for {rep['kept_text_identical']:,}/"
              f"{rep['kept_by_both']:,} kept by both")
        print(f"single process, cold (first sight of every word): heitu {h_secs:.1f}s, datatrove {dt_secs:.1f}s "
              f"for {uniq_bytes / 1e6:.1f} MB")
        for k, v in rep["disagreements"].items():
            print(f"  {v:5d}  {k}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
