"""Reading a dataset's lineage: a document's trail (`explain`) and dropped examples (`rejects`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from heitu.core.errors import UserError
from heitu.data.runner import DECISION_PREFIX, KEEP
from heitu.data.steps.base import Filter


@dataclass
class StepEvent:
    step: str
    type: str
    decision: str | None  # "keep", a reason, or None for annotators/transforms
    signals: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trail:
    doc_id: str
    source: dict[str, Any]
    events: list[StepEvent]
    fate: str  # "kept" or "dropped"
    dropped_by: str | None
    reason: str | None
    dup_of: str | None
    error: str | None = None


def _ledger_files(out_dir: Path) -> list[str]:
    files = sorted(str(p) for p in (out_dir / "ledger").glob("*.parquet"))
    if not files:
        raise UserError(f"{out_dir} has no ledger/ folder: it is not a heitu dataset output")
    return files


def explain(out_dir: Path, manifest: dict, doc_id: str) -> list[Trail]:
    """The trail of every document with this id (ids given by inputs may repeat)."""
    # ledger files differ in columns (later stages add signals), hence the diagonal concat
    frames = [pl.scan_parquet(f) for f in _ledger_files(out_dir)]
    rows = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("id") == doc_id).collect()
    if rows.height == 0:
        raise UserError(f"no document with id '{doc_id}' in {out_dir} (see `heitu data rejects` or the "
                        f"ledger for ids)")
    steps = manifest["spec"]["steps"]
    from heitu.data.pipeline import PipelineSpec, build_steps

    built = {s.name: s for s in build_steps(PipelineSpec.model_validate(manifest["spec"]))}
    trails: list[Trail] = []
    # one document = one (shard, row) of stage 0; later stages carry the same source
    for (src_json,), group in rows.with_columns(pl.col("source").struct.json_encode().alias("_src")).group_by(
        "_src", maintain_order=True
    ):
        group = group.sort("_stage")
        merged: dict[str, Any] = {}
        for rec in group.iter_rows(named=True):
            merged.update({k: v for k, v in rec.items() if v is not None})
        last = group.row(group.height - 1, named=True)
        events = []
        for s in steps:
            step = built[s["name"]]
            decision = merged.get(DECISION_PREFIX + s["name"])
            cols = step.output_columns()
            if isinstance(step, Filter) and decision not in (None, KEEP):
                cols = cols + step.decided_by(decision)
            signals = {c: merged[c] for c in cols if c in merged}
            events.append(StepEvent(s["name"], s["type"], decision, signals))
        trails.append(Trail(
            doc_id=doc_id, source=json.loads(src_json), events=events,
            fate="kept" if last["_fate"] == "kept" else "dropped",
            dropped_by=last.get("_dropped_by"), reason=merged.get(DECISION_PREFIX + (last.get("_dropped_by") or "")),
            dup_of=last.get("dup_of"),
        ))
    return trails


def rejects(out_dir: Path, step: str | None, reason: str | None, limit: int) -> pl.DataFrame:
    root = out_dir / "rejects"
    steps = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if step is not None and step not in steps:
        raise UserError(f"step '{step}' dropped no documents in {out_dir}. Steps with rejects: "
                        f"{', '.join(steps) or '(none)'}")
    chosen = [step] if step else steps
    frames = []
    for s in chosen:
        files = sorted(str(p) for p in (root / s).glob("*.parquet"))
        if files:
            lf = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")
            lf = lf.with_columns(pl.lit(s).alias("step"))
            if reason:
                lf = lf.filter(pl.col("_reason") == reason)
            cols = ["step", "_reason", "id", "text", "source"] + (["dup_of"] if "dup_of" in lf.collect_schema() else [])
            frames.append(lf.select(cols).head(limit))
    if not frames:
        return pl.DataFrame(schema={"step": pl.String, "_reason": pl.String, "id": pl.String, "text": pl.String})
    return pl.concat(frames, how="diagonal_relaxed").head(limit).rename({"_reason": "reason"}).collect()
