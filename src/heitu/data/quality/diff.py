"""Compare two dataset versions: metric deltas and grade changes (from both heitu-quality-v1
scorecards), documents added/removed by id (streaming anti-joins over data/ ids), and the
rules that explain the change (per step/reason drop-count deltas from both manifests, with
the rule expression on each side when it changed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from heitu.data.quality.scorecard import compute_scorecard

ID_EXAMPLES = 20


def _flatten(d: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix] = d
    return out


def _ids(out_dir: Path) -> pl.LazyFrame:
    files = sorted((Path(out_dir) / "data").glob("*.parquet"))
    if not files:
        return pl.LazyFrame(schema={"id": pl.String})
    return pl.concat([pl.scan_parquet(f).select("id") for f in files]).unique()


def _anti(a: Path, b: Path) -> tuple[int, list[str]]:
    lf = _ids(a).join(_ids(b), on="id", how="anti")
    n = lf.select(pl.len()).collect(engine="streaming").item()
    ex = lf.sort("id").head(ID_EXAMPLES).collect(engine="streaming")["id"].to_list()
    return int(n), ex


def _rules(manifest: dict) -> dict[tuple[str, str], str]:
    """(step, reason) -> keep expression, for select steps."""
    out = {}
    for s in manifest.get("spec", {}).get("steps", []):
        for r in (s.get("params") or {}).get("rules", []) or []:
            if "reason" in r:
                out[(s["name"], r["reason"])] = r.get("keep", "")
    return out


def _drops(manifest: dict) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for s in manifest.get("counts", {}).get("steps", []):
        for reason, n in s.get("dropped", {}).items():
            out[(s["name"], reason)] = out.get((s["name"], reason), 0) + n
    return out


def diff_datasets(a: tuple[Path, dict], b: tuple[Path, dict], *, reference_lm: Path | None = None,
                  sample: int = 2000, scorecards: tuple[dict, dict] | None = None) -> dict:
    """What changed from dataset `a` to dataset `b` (each given as (out_dir, manifest))."""
    (da, ma), (db, mb) = a, b
    if scorecards is None:
        sa = compute_scorecard(Path(da), ma, reference_lm=reference_lm, sample=sample)
        sb = compute_scorecard(Path(db), mb, reference_lm=reference_lm, sample=sample)
    else:
        sa, sb = scorecards
    grades = []
    for dim in sorted(set(sa["dimensions"]) | set(sb["dimensions"])):
        ga = sa["dimensions"].get(dim, {}).get("grade")
        gb = sb["dimensions"].get(dim, {}).get("grade")
        grades.append({"dimension": dim, "a": ga, "b": gb, "changed": ga != gb})
    grades.append({"dimension": "overall", "a": sa["overall"]["grade"], "b": sb["overall"]["grade"],
                   "changed": sa["overall"]["grade"] != sb["overall"]["grade"]})
    fa = _flatten({d: v.get("metrics", {}) for d, v in sa["dimensions"].items()})
    fb = _flatten({d: v.get("metrics", {}) for d, v in sb["dimensions"].items()})
    metrics = []
    for k in sorted(set(fa) | set(fb)):
        va, vb = fa.get(k), fb.get(k)
        if va == vb:
            continue
        delta = (vb - va) if (va is not None and vb is not None) else None
        rel = (delta / abs(va)) if (delta is not None and va) else None
        metrics.append({"metric": k, "a": va, "b": vb, "delta": delta, "relative": rel})

    added_n, added_ex = _anti(db, da)
    removed_n, removed_ex = _anti(da, db)

    drops_a, drops_b = _drops(ma), _drops(mb)
    rules_a, rules_b = _rules(ma), _rules(mb)
    explained = []
    for key in set(drops_a) | set(drops_b) | set(rules_a) | set(rules_b):
        na, nb = drops_a.get(key, 0), drops_b.get(key, 0)
        ra, rb = rules_a.get(key), rules_b.get(key)
        if na == nb and ra == rb:
            continue
        explained.append({"step": key[0], "reason": key[1], "dropped_a": na, "dropped_b": nb, "delta": nb - na,
                          "rule_a": ra, "rule_b": rb, "rule_changed": ra != rb})
    explained.sort(key=lambda e: (-abs(e["delta"]), not e["rule_changed"], e["step"], e["reason"]))
    ca, cb = ma.get("counts", {}), mb.get("counts", {})
    return {
        "a": {"dataset": ma.get("version"), "docs_read": ca.get("docs_read"), "docs_kept": ca.get("docs_kept"),
              "spec_hash": ma.get("spec_hash")},
        "b": {"dataset": mb.get("version"), "docs_read": cb.get("docs_read"), "docs_kept": cb.get("docs_kept"),
              "spec_hash": mb.get("spec_hash")},
        "same_inputs": sorted(i["sha256"] for i in ma.get("inputs", [])) == sorted(i["sha256"] for i in mb.get("inputs", [])),
        "grades": grades,
        "metrics": metrics,
        "documents": {"added": added_n, "removed": removed_n, "added_examples": added_ex,
                      "removed_examples": removed_ex},
        "explained_by": explained,
    }


def render_diff(d: dict) -> str:
    """Plain-text rendering of a diff (for the CLI or a log)."""
    a, b = d["a"], d["b"]
    head = f"{a['dataset']} -> {b['dataset']}" + ("" if d["same_inputs"] else "  (different inputs)")
    kept = (f"kept: {a['docs_kept']} -> {b['docs_kept']}   added {d['documents']['added']}, "
            f"removed {d['documents']['removed']}")
    lines = [head, kept, "", "grades:"]
    for g in d["grades"]:
        mark = "  *" if g["changed"] else ""
        lines.append(f"  {g['dimension']:<16} {g['a'] or '-'} -> {g['b'] or '-'}{mark}")
    lines += ["", "explained by (drop-count change per step/reason, largest first):"]
    if not d["explained_by"]:
        lines.append("  (no rule dropped a different number of documents)")
    for e in d["explained_by"]:
        rule = f"   rule: {e['rule_a']!r} -> {e['rule_b']!r}" if e["rule_changed"] else ""
        lines.append(f"  {e['step']}/{e['reason']}: {e['dropped_a']} -> {e['dropped_b']} ({e['delta']:+d}){rule}")
    lines += ["", "metric changes:"]
    for m in d["metrics"]:
        delta = f" ({m['delta']:+.6g})" if m["delta"] is not None else ""
        lines.append(f"  {m['metric']}: {m['a']} -> {m['b']}{delta}")
    return "\n".join(lines)
