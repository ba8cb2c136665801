"""Benchmark the HTML main-text extractors that `heitu.data.readers` can use.

For each extractor and corpus: bag-of-tokens precision / recall / F1 of the extracted text against
the expected text (macro-averaged over pages), plus extraction speed (pages/s, single process).

Tokens: every CJK ideograph / kana / hangul syllable is one token (character-level for Chinese),
every other run of word characters is one lower-cased token. A page where the extractor returns
nothing scores P = R = F1 = 0 (it lost the article).

Corpora (from ../shared/data/html, see its MANIFEST.md):
- readability: mozilla/readability's test pages (source.html + expected.html; mostly English,
  a few fr/es/de/cs/ja/zh-TW);
  the expected article HTML is reduced to text with lxml's text_content().
- gne_zh: Chinese news pages with GeneralNewsExtractor's reference extractions (GNE's own output,
  a baseline rather than human truth: treat small differences with care).

Usage:  python bench/bench_extract.py [--data ../shared/data] [--extractors trafilatura,resiliparse]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path
from statistics import mean

from heitu.data.readers.html import EXTRACTORS, decode_html, extract_main_text

REPO = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+"
)


def tokens(text: str) -> Counter:
    return Counter(_TOKEN.findall(text.lower()))


def prf(extracted: str, expected: str) -> tuple[float, float, float]:
    got, ref = tokens(extracted), tokens(expected)
    if not got or not ref:
        return 0.0, 0.0, 0.0
    overlap = sum((got & ref).values())
    p, r = overlap / sum(got.values()), overlap / sum(ref.values())
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def load_readability(root: Path) -> list[tuple[str, str, str]]:
    import lxml.html

    pages = []
    for d in sorted((root / "html" / "readability_test_pages").iterdir()):
        src, exp = d / "source.html.gz", d / "expected.html.gz"
        if not (src.exists() and exp.exists()):
            continue
        expected = lxml.html.fromstring(gzip.decompress(exp.read_bytes()).decode("utf-8")).text_content()
        pages.append((d.name, decode_html(gzip.decompress(src.read_bytes())), expected))
    return pages


def load_gne(root: Path) -> list[tuple[str, str, str]]:
    base = root / "html" / "gne_chinese_news"
    pages = []
    for line in (base / "gne_reference_extractions.jsonl").read_text("utf-8").splitlines():
        ref = json.loads(line)
        pages.append((ref["id"], decode_html(gzip.decompress((base / ref["file"]).read_bytes())), ref["text"]))
    return pages


def run(corpora: dict[str, list], extractors: list[str]) -> list[dict]:
    rows = []
    for corpus, pages in corpora.items():
        for name in extractors:
            extract_main_text(pages[0][1], name)  # warm-up: lazy imports, first-call caches
            scores, t0 = [], time.perf_counter()
            outputs = [extract_main_text(html, name) for _, html, _ in pages]
            elapsed = time.perf_counter() - t0
            scores = [prf(out, exp) for out, (_, _, exp) in zip(outputs, pages)]
            rows.append(
                {
                    "corpus": corpus,
                    "extractor": name,
                    "pages": len(pages),
                    "P": mean(s[0] for s in scores),
                    "R": mean(s[1] for s in scores),
                    "F1": mean(s[2] for s in scores),
                    "empty": sum(1 for o in outputs if not o),
                    "pages_per_s": len(pages) / elapsed,
                }
            )
    return rows


def print_table(rows: list[dict]) -> None:
    """Side by side: one column per extractor, one row per corpus x metric."""
    extractors = list(dict.fromkeys(r["extractor"] for r in rows))
    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    cell = {(r["corpus"], r["extractor"]): r for r in rows}
    print("| corpus | metric | " + " | ".join(extractors) + " |")
    print("|---|---|" + "---:|" * len(extractors))
    for corpus in corpora:
        pages = cell[corpus, extractors[0]]["pages"]
        for key, label, fmt in (("P", "precision", "{:.3f}"), ("R", "recall", "{:.3f}"), ("F1", "**F1**", "**{:.3f}**"),
                                ("empty", "empty outputs", "{}"), ("pages_per_s", "pages/s", "{:.0f}")):  # fmt: skip
            values = " | ".join(fmt.format(cell[corpus, e][key]) for e in extractors)
            print(f"| {corpus} ({pages} pages) | {label} | {values} |")
    # one number per extractor: every page of every corpus weighs the same
    total = sum(cell[c, extractors[0]]["pages"] for c in corpora)
    pooled = [sum(cell[c, e]["F1"] * cell[c, e]["pages"] for c in corpora) / total for e in extractors]
    print(f"| all ({total} pages) | **F1** | " + " | ".join(f"**{v:.3f}**" for v in pooled) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--extractors", default=",".join(EXTRACTORS))
    args = ap.parse_args()
    corpora = {"readability": load_readability(args.data), "gne_zh": load_gne(args.data)}
    print_table(run(corpora, args.extractors.split(",")))


if __name__ == "__main__":
    main()
