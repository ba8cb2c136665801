"""The dataset report (and scorecard) on 100k and 1M documents: wall time and peak RSS.

A real base dataset is made first: the zh-web recipe run on every Chinese and English text in
../shared/data/chinese_text and english_web (FewCLUE csldcp/tnews/eprstmt, Data-Juicer web
snippets, CCNet/RedPajama/Wikipedia English; 4,574 documents with a few exact copies added):
63 % are dropped for real reasons, mostly TNEWS news titles under the 80-character minimum. Its output folders (data/, rejects/, ledger/) are then replicated to N
documents in the heitu layout: copy k of a document gets id ``ID#k`` (``dup_of`` likewise, so
duplicate clusters stay clusters), its source offset is shifted and the manifest counts are
scaled by the number of copies. Text is stored without a parquet dictionary so that reading
it costs what reading distinct text costs (zstd still sees the repeats).

Each measurement runs in a fresh Python process; peak RSS is that process's resident memory
polled with psutil every 20 ms (it includes the interpreter, polars and pyarrow).

Usage::

    python bench/bench_report.py                      # 100k and 1M documents
    python bench/bench_report.py --docs 100000 --keep # keep the generated datasets (bench/out/report)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ROWS_PER_FILE = 100_000


def base_dataset(work: Path) -> Path:
    out = work / "base"
    if (out / "manifest.json").is_file():
        return out
    docs = []
    for f in sorted((SHARED / "chinese_text").glob("*.jsonl")) + sorted((SHARED / "english_web").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            text = rec.get("text") or rec.get("sentence") or rec.get("content")
            if isinstance(text, str) and text.strip():
                docs.append({"text": text})
    docs += [dict(d) for d in docs[:: 97]]  # exact copies for the dedup step
    inp = work / "in" / "docs.jsonl"
    inp.parent.mkdir(parents=True, exist_ok=True)
    with open(inp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    env_home = work / "home"
    subprocess.run([sys.executable, "-c", (
        "import sys; from pathlib import Path; from heitu.data.run import run_pipeline; "
        "run_pipeline(Path(sys.argv[1]), [sys.argv[2]], Path(sys.argv[3]), show_progress=False)"),
        str(REPO / "recipes" / "zh-web.yaml"), str(inp), str(out)],
        check=True, env={**__import__("os").environ, "HEITU_HOME": str(env_home)})
    return out


def _replicate_table(t: pa.Table, k: int) -> pa.Table:
    suffix = f"#{k}"
    cols = {}
    for name in t.column_names:
        col = t.column(name)
        if name in ("id", "dup_of"):
            col = pc.binary_join_element_wise(col, pa.scalar(suffix), "")
        elif name == "source":
            col = col.combine_chunks()
            fields = [col.field(i) for i in range(col.type.num_fields)]
            names = [col.type.field(i).name for i in range(col.type.num_fields)]
            if "offset" in names:
                i = names.index("offset")
                fields[i] = pc.add(fields[i], pa.scalar(k * 1_000_000, fields[i].type))
            col = pa.StructArray.from_arrays(fields, names=names, mask=pc.invert(col.is_valid()))
        cols[name] = col
    return pa.table(cols, schema=t.schema)


def _write_scaled(src_files: list[Path], dst: Path, copies: int, partial: float) -> None:
    """Write `copies` full copies (+ a fraction) of the rows of each source file group."""
    dst.mkdir(parents=True, exist_ok=True)
    by_prefix: dict[str, list[Path]] = {}
    for f in src_files:
        by_prefix.setdefault(f.name.split("-part-")[0] if "-part-" in f.name else "", []).append(f)
    for prefix, files in by_prefix.items():
        base = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
        text_cols = [c for c in ("text",) if c in base.column_names]
        writer, n_file, rows_in_file = None, 0, 0
        total = copies + (1 if partial > 0 else 0)
        for k in range(total):
            t = _replicate_table(base, k)
            if k == copies:
                t = t.slice(0, round(t.num_rows * partial))
            if writer is None or rows_in_file >= ROWS_PER_FILE:
                if writer:
                    writer.close()
                name = f"{prefix + '-' if prefix else ''}part-{n_file:05d}-000.parquet"
                writer = pq.ParquetWriter(dst / name, t.schema, compression="zstd",
                                          use_dictionary=[c for c in t.column_names if c not in text_cols])
                n_file, rows_in_file = n_file + 1, 0
            writer.write_table(t, row_group_size=50_000)
            rows_in_file += t.num_rows
        if writer:
            writer.close()


def scaled_dataset(base: Path, n_docs: int, work: Path) -> Path:
    out = work / f"ds-{n_docs}"
    manifest = json.loads((base / "manifest.json").read_text())
    if (out / "manifest.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    read = manifest["counts"]["docs_read"]
    factor = n_docs / read
    copies, partial = int(factor), factor - int(factor)
    for sub in ("data", "ledger"):
        _write_scaled(sorted((base / sub).glob("*.parquet")), out / sub, copies, partial)
    for step_dir in sorted((base / "rejects").iterdir()):
        _write_scaled(sorted(step_dir.glob("*.parquet")), out / "rejects" / step_dir.name, copies, partial)
    c = manifest["counts"]

    def scale(n: int) -> int:
        return round(n * factor)

    c["docs_read"], c["docs_kept"] = n_docs, pq.ParquetDataset(str(out / "data")).read(columns=["id"]).num_rows
    for s in c["steps"]:
        s["in"], s["out"] = scale(s["in"]), scale(s["out"])
        s["dropped"] = {r: scale(n) for r, n in s["dropped"].items()}
    c["text_bytes_read"] = scale(c.get("text_bytes_read", 0))
    manifest["version"] = f"ds-bench-{n_docs}"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return out


CHILD = r"""
import json, sys, time
from pathlib import Path
from heitu.data.manifest import read_manifest
what, out, html_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
m = read_manifest(out)
t = time.perf_counter()
if what == "scorecard":
    from heitu.data.quality.scorecard import compute_scorecard
    sc = compute_scorecard(out, m)
    extra = {"overall": sc.get("overall", {}).get("grade")}
else:
    from heitu.data.quality.report import build_report
    html = build_report(out, m, {"dataset": m["version"], "dimensions": {}, "overall": {"grade": None}})
    Path(html_path).write_text(html, encoding="utf-8")
    extra = {"html_bytes": len(html.encode())}
print(json.dumps({"seconds": time.perf_counter() - t, **extra}))
"""


def measure(what: str, ds: Path, html_path: Path) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, what, str(ds), str(html_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mb"] = peak / 2 ** 20
    return res


def _du(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "out" / "report")
    ap.add_argument("--keep", action="store_true", help="keep the generated datasets")
    ap.add_argument("--no-scorecard", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    base = base_dataset(args.work)
    print(f"base dataset: {json.loads((base / 'manifest.json').read_text())['counts']['docs_read']:,} docs "
          f"({time.perf_counter() - t:.1f}s)", flush=True)
    try:
        import heitu.data.quality.scorecard  # noqa: F401
        have_sc = not args.no_scorecard
    except ImportError:
        have_sc = False
    rows = []
    for n in args.docs:
        t = time.perf_counter()
        ds = scaled_dataset(base, n, args.work)
        gen = time.perf_counter() - t
        print(f"{n:,} docs: dataset {_du(ds):.0f} MB on disk, generated in {gen:.1f}s", flush=True)
        r = measure("report", ds, args.work / f"report-{n}.html")
        rows.append((n, "build_report", r, _du(ds)))
        print(f"  build_report: {r}", flush=True)
        if have_sc:
            r = measure("scorecard", ds, args.work / "unused.html")
            rows.append((n, "compute_scorecard", r, _du(ds)))
            print(f"  compute_scorecard: {r}", flush=True)
        if not args.keep:
            shutil.rmtree(ds, ignore_errors=True)
    print()
    print("| documents | dataset on disk | function | wall time | peak RSS | page size |")
    print("|---:|---:|---|---:|---:|---:|")
    for n, what, r, mb in rows:
        if "error" in r:
            print(f"| {n:,} | {mb:,.0f} MB | `{what}` | error: {r['error']} | | |")
        else:
            page = f"{r['html_bytes'] / 1024:.0f} KB" if "html_bytes" in r else ""
            print(f"| {n:,} | {mb:,.0f} MB | `{what}` | {r['seconds']:.1f} s | {r['peak_rss_mb']:,.0f} MB | {page} |")
    print(f"\n(machine: {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2 ** 30:.0f} GiB RAM)")


if __name__ == "__main__":
    main()
