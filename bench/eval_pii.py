"""Precision/recall and throughput of PII redaction (`heitu.data.steps.pii`).

    python bench/eval_pii.py [--data ../shared/data] [--json out.json]

Data (see ../shared/data/MANIFEST.md):

- ``pii/presidio_generated_small.jsonl`` — 100 synthetic English sentences with span labels.
  Our types map to ``EMAIL_ADDRESS`` -> email, ``PHONE_NUMBER`` -> phone, ``IP_ADDRESS`` -> ip,
  ``CREDIT_CARD`` -> bank_card. Out of scope (not detected on purpose): PERSON, ADDRESS,
  LOCATION, ORGANIZATION, TITLE, DATE_TIME, DOMAIN_NAME, US_SSN, US_DRIVER_LICENSE. A prediction
  is a true positive when it overlaps a gold span of the mapped type; ``exact`` counts the ones
  with the same boundaries.
- ``pii/stdnum_identifier_validation_cases.jsonl`` — valid/invalid identifier strings from
  python-stdnum's tests. Two levels:
  * validators: ``cn_id_valid`` on the ``cn_ric`` strings and ``luhn_valid`` on the ``luhn``
    strings — precision/recall of accepting the valid ones (and so rejecting the invalid ones).
  * detector (``Redactor.find``, each string alone and inside Chinese/English sentences):
    id_cn positives are valid ``cn_ric``; negatives are invalid ``cn_ric`` and every
    ``cn_uscc``/``iban``/``luhn``/``imei`` string. bank_card positives are the Luhn-valid
    ``luhn``/``imei`` strings of 13-19 plain digits plus presidio's CREDIT_CARD values; negatives
    are invalid ``luhn`` strings and every ``cn_ric``/``cn_uscc``/``iban`` string (Luhn-valid
    strings of other lengths or groupings are not scored). ``mutants``: every single-digit
    substitution and adjacent transposition of each valid ID / card number that breaks the
    checksum — all must be rejected.
- Unlabelled corpora (every other ``*.jsonl`` under the data folder, ``text``/``text_b``):
  detections per type, for manual precision review, and the throughput figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from heitu.data.steps.pii import PII_TYPES, Redactor, cn_id_valid, luhn_valid, redact  # noqa: E402

PRESIDIO_MAP = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "IP_ADDRESS": "ip", "CREDIT_CARD": "bank_card"}
CONTEXTS = ("{}", "身份证号码：{}，请核对。", "卡号{}。", "My number is {}.", "({})")


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r}


def eval_presidio(path: Path, redactor: Redactor | None = None) -> dict[str, dict]:
    r = redactor or Redactor()
    tp = Counter()
    fp = Counter()
    exact = Counter()
    gold_n = Counter()
    gold_hit = Counter()
    fp_examples: dict[str, list] = defaultdict(list)
    for doc in _read(path):
        text = doc["text"]
        gold = [(s["start"], s["end"], PRESIDIO_MAP.get(s["entity_type"]), s["entity_type"]) for s in doc["spans"]]
        preds = r.find(text)
        for g in gold:
            if g[2]:
                gold_n[g[2]] += 1
                if any(p.type == g[2] and p.start < g[1] and g[0] < p.end for p in preds):
                    gold_hit[g[2]] += 1
        for p in preds:
            hits = [g for g in gold if g[2] == p.type and g[0] < p.end and p.start < g[1]]
            if hits:
                tp[p.type] += 1
                exact[p.type] += any(g[0] == p.start and g[1] == p.end for g in hits)
            else:
                fp[p.type] += 1
                over = [g[3] for g in gold if g[0] < p.end and p.start < g[1]]
                fp_examples[p.type].append((p.value, over))
    out = {}
    for t in PII_TYPES:
        row = _prf(tp[t], fp[t], gold_n[t] - gold_hit[t])
        row["recall"] = gold_hit[t] / gold_n[t] if gold_n[t] else float("nan")
        row.update(gold=gold_n[t], exact=exact[t], fp_examples=fp_examples[t][:5])
        out[t] = row
    return out


def _whole(r: Redactor, text: str, value: str, t: str) -> tuple[bool, bool]:
    """(found the whole value as type t, found any match of type t)."""
    ms = [m for m in r.find(text) if m.type == t]
    return any(m.value == value for m in ms), bool(ms)


def _mutants(value: str) -> set[str]:
    out = set()
    for i, c in enumerate(value):
        if c.isdigit():
            for d in "0123456789":
                if d != c:
                    out.add(value[:i] + d + value[i + 1 :])
    for i in range(len(value) - 1):
        a, b = value[i], value[i + 1]
        if a != b and a.isdigit() and b.isdigit():
            out.add(value[:i] + b + a + value[i + 2 :])
    return out


def eval_stdnum(path: Path, presidio_path: Path | None = None, redactor: Redactor | None = None) -> dict[str, dict]:
    r = redactor or Redactor()
    cases = _read(path)
    pos = {"id_cn": [], "bank_card": []}
    neg = {"id_cn": [], "bank_card": []}
    for c in cases:
        v, mod, ok = c["value"], c["module"], c["valid"]
        digits = "".join(ch for ch in v if ch.isdigit())
        # id_cn
        (pos if (mod == "cn_ric" and ok) else neg)["id_cn"].append(v)
        # bank_card
        if mod in ("luhn", "imei") and ok and 13 <= len(digits) <= 19 and digits == v:
            pos["bank_card"].append(v)
        elif mod in ("luhn", "imei") and ok:
            pass  # Luhn-valid with a non-card grouping (IMEI 2-6-6-1) or length: not scored
        else:
            neg["bank_card"].append(v)
    if presidio_path is not None:
        for doc in _read(presidio_path):
            pos["bank_card"] += [s["value"] for s in doc["spans"] if s["entity_type"] == "CREDIT_CARD"]
    out: dict[str, dict] = {}
    for t in ("id_cn", "bank_card"):
        tp = fn = fp = tn = 0
        for ctx in CONTEXTS:
            for v in pos[t]:
                whole, _ = _whole(r, ctx.format(v), v, t)
                tp += whole
                fn += not whole
            for v in neg[t]:
                _, anyt = _whole(r, ctx.format(v), v, t)
                fp += anyt
                tn += not anyt
        row = _prf(tp, fp, fn)
        row.update(positives=len(pos[t]), negatives=len(neg[t]), contexts=len(CONTEXTS))
        row["missed"] = [v for v in pos[t] if not _whole(r, v, v, t)[0]]
        out[t] = row
    # Mutants of every valid number: all must be rejected.
    seeds = {"id_cn": list(pos["id_cn"]), "bank_card": list(pos["bank_card"])}
    for t, check in (("id_cn", cn_id_valid), ("bank_card", lambda s: luhn_valid("".join(filter(str.isdigit, s))))):
        muts = {m for v in seeds[t] for m in _mutants(v) if not check(m)}
        accepted = sum(_whole(r, f"编号 {m} 。", m, t)[1] for m in muts)
        out[t]["mutants"] = len(muts)
        out[t]["mutants_accepted"] = accepted
    # Validator functions alone, on their own module's cases.
    validators = {}
    for name, mod, fn in (("cn_id_valid", "cn_ric", cn_id_valid), ("luhn_valid", "luhn", luhn_valid)):
        vtp = vfp = vfn = n_valid = n_invalid = 0
        for c in cases:
            if c["module"] != mod:
                continue
            got = fn(c["value"])
            n_valid += c["valid"]
            n_invalid += not c["valid"]
            vtp += got and c["valid"]
            vfp += got and not c["valid"]
            vfn += (not got) and c["valid"]
        validators[name] = {**_prf(vtp, vfp, vfn), "valid": n_valid, "invalid": n_invalid}
    out["validators"] = validators
    return out


def corpus_texts(data: Path) -> list[str]:
    texts = []
    for f in sorted(data.rglob("*.jsonl")):
        if "pii" in f.parts:
            continue
        for d in _read(f):
            for k in ("text", "text_b"):
                if isinstance(d.get(k), str):
                    texts.append(d[k])
    return texts


def scan_corpus(texts: list[str]) -> dict:
    r = Redactor()
    found: dict[str, list[str]] = defaultdict(list)
    for t in texts:
        for m in r.find(t):
            found[m.type].append(m.value)
    return {t: {"count": len(found[t]), "distinct": sorted(set(found[t]))[:20]} for t in PII_TYPES}


def throughput(texts: list[str], repeat: int = 3) -> dict:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in texts:
            redact(t)
        best = min(best, time.perf_counter() - t0)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {"docs": len(texts), "MB": mb, "seconds": best, "docs_per_s": len(texts) / best, "MB_per_s": mb / best}


def _passes_prefilter(t: str) -> bool:
    from heitu.data.steps.pii import _NUMBERS_RE

    return "@" in t or "::" in t or t.count(":") >= 7 or _NUMBERS_RE.search(t) is not None


def _f(x: float) -> str:
    return "  n/a" if x != x else f"{x:.3f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    pres_path = args.data / "pii" / "presidio_generated_small.jsonl"
    std_path = args.data / "pii" / "stdnum_identifier_validation_cases.jsonl"

    pres = eval_presidio(pres_path)
    print("== presidio_generated_small.jsonl (span overlap; out of scope: PERSON ADDRESS LOCATION ORGANIZATION")
    print("   TITLE DATE_TIME DOMAIN_NAME US_SSN US_DRIVER_LICENSE)")
    print(f"{'type':<10} {'gold':>4} {'pred':>4} {'tp':>4} {'exact':>5} {'precision':>9} {'recall':>7}")
    for t, row in pres.items():
        print(f"{t:<10} {row['gold']:>4} {row['tp'] + row['fp']:>4} {row['tp']:>4} {row['exact']:>5} "
              f"{_f(row['precision']):>9} {_f(row['recall']):>7}")

    std = eval_stdnum(std_path, pres_path)
    print("\n== stdnum_identifier_validation_cases.jsonl: checksum validators alone")
    print(f"{'validator':<12} {'valid':>5} {'invalid':>7} {'precision':>9} {'recall':>7}")
    for name, row in std["validators"].items():
        print(f"{name:<12} {row['valid']:>5} {row['invalid']:>7} {_f(row['precision']):>9} {_f(row['recall']):>7}")
    print(f"\n== detector on stdnum strings (+ presidio CREDIT_CARD values as card positives), "
          f"x{len(CONTEXTS)} contexts: alone, zh and en sentences, parentheses")
    print(f"{'type':<10} {'pos':>4} {'neg':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'mutants rejected':>17}")
    for t in ("id_cn", "bank_card"):
        row = std[t]
        print(f"{t:<10} {row['positives']:>4} {row['negatives']:>4} {row['tp']:>4} {row['fp']:>4} {row['fn']:>4} "
              f"{_f(row['precision']):>9} {_f(row['recall']):>7} "
              f"{row['mutants'] - row['mutants_accepted']:>8}/{row['mutants']}")
        if row["missed"]:
            print(f"{'':<10} missed: {row['missed']}")

    texts = corpus_texts(args.data)
    scan = scan_corpus(texts)
    print(f"\n== detections on {len(texts)} unlabelled documents (review by hand)")
    for t, row in scan.items():
        print(f"{t:<10} {row['count']:>5}  e.g. {row['distinct'][:6]}")

    tp_ = throughput(texts)
    print("\n== throughput of redact(), best of 3, one core")
    print(f"all unlabelled docs:  {tp_['docs']:>6} docs, {tp_['MB']:5.2f} MB in {tp_['seconds']:.3f} s "
          f"-> {tp_['docs_per_s']:>9,.0f} docs/s, {tp_['MB_per_s']:5.1f} MB/s")
    # Worst case: only the documents the pre-filter lets through (candidate regexes all run).
    heavy = [t for t in texts if _passes_prefilter(t)]
    tp_heavy = throughput(heavy)
    print(f"pre-filter passes:    {tp_heavy['docs']:>6} docs, {tp_heavy['MB']:5.2f} MB in {tp_heavy['seconds']:.3f} s "
          f"-> {tp_heavy['docs_per_s']:>9,.0f} docs/s, {tp_heavy['MB_per_s']:5.1f} MB/s")
    result = {"presidio": pres, "stdnum": std, "corpus_scan": scan, "throughput": tp_, "throughput_prefilter_pass": tp_heavy}
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
