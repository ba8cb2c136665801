"""Train and evaluate the learned quality model (`heitu data quality-model`) on ../shared/data.

    python bench/eval_quality_model.py [--data ../shared/data] [--work /tmp/qm] [--salts 5] [--heldout 0.1]

Builds clean (positive) and raw-web (negative) sets for English and Chinese as jsonl files, trains
one joint model per salt (each salt is a different deterministic 10% held-out split), and prints
held-out precision/recall/F1/AUC per language, averaged over the salts (and per salt).

Sets (ids ``<group>#<part>`` keep the chunks of one document on one side of the split):
- en clean: Wikipedia (english_web/enwiki_sample.jsonl, each article cut into ~3,000-char
  sentence-aligned chunks), readability test pages' expected article (expected.html, lang en* or unset).
- en raw:   readability source pages (same pages) and dolma WARC pages (warc/dolma_sample-*) as
  full-page text with navigation (resiliparse, main_content=False), CCNet head documents,
  Data-Juicer web snippets without CJK.
- zh clean: FewCLUE csldcp abstracts, GNE reference extractions (article bodies).
- zh raw:   GNE raw pages (html/gne_chinese_news/*.html.gz, incl. 4 list/forum pages) as
  full-page text, Data-Juicer web snippets with CJK.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

_CJK = re.compile("[\u3400-\u9fff]")


def page_text(html_bytes: bytes, main_content: bool = False) -> str:
    """A page as raw text: every visible text node incl. menus and footers (main_content=False),
    the way a WET file or a naive HTML-to-text conversion sees it."""
    from resiliparse.extract.html2text import extract_plain_text

    from heitu.data.readers.html import decode_html

    return extract_plain_text(
        decode_html(html_bytes), preserve_formatting=True, main_content=main_content, links=False, alt_texts=False
    ).strip()


def _chunks(text: str, size: int = 3000) -> list[str]:
    out, cur = [], ""
    parts = text.split("\n") if "\n" in text else re.split(r"(?<=[.!?]) ", text)  # paragraphs, else sentences
    sep = "\n" if "\n" in text else " "
    for para in parts:
        if cur and len(cur) + len(para) > size:
            out.append(cur.strip())
            cur = ""
        cur += para + sep
    if cur.strip():
        out.append(cur.strip())
    return out


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _gz(path: Path) -> bytes:
    with gzip.open(path) as fh:
        return fh.read()


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            if r["text"].strip():
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def build_sets(shared: Path, out: Path, *, max_zh_clean: int | None = None) -> dict[str, Path]:
    """Write en_clean / en_raw / zh_clean / zh_raw jsonl files under `out`; return their paths."""
    en_clean, en_raw, zh_clean, zh_raw = [], [], [], []
    for i, r in enumerate(_jsonl(shared / "english_web" / "enwiki_sample.jsonl")):
        for k, c in enumerate(_chunks(r["text"])):
            en_clean.append({"id": f"enwiki-{i}#{k}", "text": c})
    for d in sorted((shared / "html" / "readability_test_pages").iterdir()):
        meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
        if not str(meta.get("lang") or "en").lower().startswith("en"):  # en*, or unset (mostly English)
            continue
        exp = page_text(_gz(d / "expected.html.gz"), main_content=False)
        src = page_text(_gz(d / "source.html.gz"), main_content=False)
        en_clean.append({"id": f"readability-{d.name}#expected", "text": exp})
        en_raw.append({"id": f"readability-{d.name}#source", "text": src})
    # dolma WARC pages: raw HTML bodies of the responses
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for wf in sorted((shared / "warc").glob("dolma_sample-*.warc.gz")):
        with open(wf, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True, auto_decode="all"):
                if not rec.is_http or rec.http_headers.status_code != 200:
                    continue
                if "html" not in (rec.http_content_type or ""):
                    continue
                text = page_text(rec.reader.read())
                if len(text) >= 200:
                    en_raw.append({"id": f"dolma-{rec.record_id.strip('<>')}", "text": text})
    for r in _jsonl(shared / "english_web" / "dolma_ccnet_en_head.jsonl"):
        en_raw.append({"id": f"ccnet-{r['id']}", "text": r["text"]})
    for i, r in enumerate(_jsonl(shared / "chinese_text" / "datajuicer_mixed_web_snippets.jsonl")):
        (zh_raw if _CJK.search(r["text"]) else en_raw).append({"id": f"djsnip-{i}", "text": r["text"]})
    zh = _jsonl(shared / "chinese_text" / "fewclue_csldcp_test_public.jsonl")
    for i, r in enumerate(zh[:max_zh_clean] if max_zh_clean else zh):
        zh_clean.append({"id": f"csldcp-{i}", "text": r["text"]})
    for r in _jsonl(shared / "html" / "gne_chinese_news" / "gne_reference_extractions.jsonl"):
        zh_clean.append({"id": f"gne-{r['id']}#reference", "text": r["text"]})
    for f in sorted((shared / "html" / "gne_chinese_news").glob("*.html.gz")):
        zh_raw.append({"id": f"gne-{f.name[: -len('.html.gz')]}#page", "text": page_text(_gz(f))})
    return {
        "en_clean": _write(out / "en_clean.jsonl", en_clean),
        "en_raw": _write(out / "en_raw.jsonl", en_raw),
        "zh_clean": _write(out / "zh_clean.jsonl", zh_clean),
        "zh_raw": _write(out / "zh_raw.jsonl", zh_raw),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--work", default="/tmp/heitu_qm_bench")
    ap.add_argument("--salts", type=int, default=5)
    ap.add_argument("--heldout", type=float, default=0.1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from heitu.data.quality.model import evaluate, load_model, train_model

    work = Path(args.work)
    t0 = time.perf_counter()
    sets = build_sets(Path(args.data), work / "sets")
    counts = {k: len(_jsonl(v)) for k, v in sets.items()}
    print(f"sets built in {time.perf_counter() - t0:.1f}s: {counts}", file=sys.stderr)
    pos, neg = [str(sets["en_clean"]), str(sets["zh_clean"])], [str(sets["en_raw"]), str(sets["zh_raw"])]
    results: dict = {"counts": counts, "heldout": args.heldout, "runs": []}
    for salt in range(args.salts):
        out = work / f"model-salt{salt}"
        t1 = time.perf_counter()
        train_model(pos, neg, out, heldout=args.heldout, salt=str(salt), overwrite=True, show_progress=False)
        train_s = time.perf_counter() - t1
        model = load_model(out, cache=False)
        run = {"salt": salt, "train_s": round(train_s, 2), "all": model.meta["metrics_heldout"]}
        for lang in ("en", "zh"):
            run[lang] = evaluate(model, [str(sets[f"{lang}_clean"])], [str(sets[f"{lang}_raw"])], split="heldout")
        results["runs"].append(run)
        print(json.dumps(run), file=sys.stderr)
    # throughput of predict_proba on all texts
    texts = [r["text"] for v in sets.values() for r in _jsonl(v)]
    model = load_model(work / "model-salt0", cache=False)
    model.predict_proba(texts[:10])
    t2 = time.perf_counter()
    model.predict_proba(texts)
    dt = time.perf_counter() - t2
    mb = sum(len(t.encode()) for t in texts) / 1e6
    results["predict"] = {"docs": len(texts), "MB": round(mb, 2), "docs_per_s": round(len(texts) / dt), "MB_per_s": round(mb / dt, 2)}

    print(f"\nheld-out metrics (fraction {args.heldout}, mean [min-max] over {args.salts} salts; threshold 0.5)")
    print("| lang | held-out clean | held-out raw | precision | recall | F1 | AUC |")
    print("|------|---------------:|-------------:|----------:|-------:|---:|----:|")
    for lang in ("en", "zh", "all"):
        rs = [r[lang] for r in results["runs"]]

        def agg(k, rs=rs):
            v = [r[k] for r in rs if r[k] is not None]
            return f"{sum(v) / len(v):.3f} [{min(v):.3f}-{max(v):.3f}]" if v else "n/a"

        npos = sum(r["n_positive"] for r in rs) / len(rs)
        nneg = sum(r["n_negative"] for r in rs) / len(rs)
        print(f"| {lang} | {npos:.0f} | {nneg:.0f} | {agg('precision')} | {agg('recall')} | {agg('f1')} | {agg('auc')} |")
    p = results["predict"]
    print(f"\npredict_proba: {p['docs']} docs, {p['MB']} MB in one call: {p['docs_per_s']:,} docs/s, {p['MB_per_s']} MB/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
