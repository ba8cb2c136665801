"""One shard task of a pipeline run: the code every executor (local, Ray) runs.

Output folder of a run::

    OUT/data/part-SSSSS-KKK.parquet      kept documents (text + signal columns)
    OUT/rejects/STEP/part-SSSSS-KKK.parquet
                                         dropped documents with ``_reason`` (and ``dup_of``)
    OUT/ledger/sN-part-SSSSS-KKK.parquet one row per document entering stage N: id, source,
                                         each step's decision (``decision__STEP``), signals
    OUT/errors/part-SSSSS.jsonl          records that could not be read: file, offset, reason
    OUT/manifest.json                    how the dataset was made (see manifest.py)
    OUT/_work/                           stage outputs and done markers while the run is going

A task deletes whatever an earlier, interrupted attempt of the same task left, writes every
file under a temp name, renames it when complete, and writes its done marker last. A task
without a done marker is simply run again, so a killed run resumes without losing or
duplicating a document.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from heitu.core.errors import UserError
from heitu.core.storage import atomic_write_json, sha256_file, tmp_path_for
from heitu.data.pipeline import PipelineSpec, build_steps, split_stages
from heitu.data.schema import SOURCE_TYPE
from heitu.data.steps.base import Annotator, Filter, GlobalStep, Step, Transform, with_columns
from heitu.data.writers import ShardWriter

ProgressFn = Callable[[int, int, int], None]  # (docs, text bytes, errors) since the last call

DECISION_PREFIX = "decision__"
KEEP = "keep"
INTERNAL = ("_shard", "_row", "_pos")


class TooManyErrors(UserError):
    pass


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def errors(self) -> Path:
        return self.root / "errors"

    @property
    def work(self) -> Path:
        return self.root / "_work"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def stage_dir(self, stage: int) -> Path:
        return self.work / f"s{stage}"

    def done_marker(self, stage: int, shard: int) -> Path:
        return self.stage_dir(stage) / f"part-{shard:05d}.done.json"

    def plan_file(self, stage: int) -> Path:
        return self.work / f"g{stage}.parquet"

    def plan_done(self, stage: int) -> Path:
        return self.work / f"g{stage}.done.json"


@dataclass(frozen=True)
class ShardTask:
    root: str
    spec: dict[str, Any]
    stage: int
    shard: int
    input_path: str | None = None
    source_name: str | None = None
    max_errors: int | None = None


@lru_cache(maxsize=4)
def _stages_for(spec_json: str) -> tuple[PipelineSpec, list[tuple[list[Step], GlobalStep | None]]]:
    spec = PipelineSpec.model_validate(json.loads(spec_json))
    return spec, split_stages(build_steps(spec))


def stages_of(spec: dict[str, Any]):
    return _stages_for(json.dumps(spec, sort_keys=True))


class PlannedDrops(Filter):
    """Applies a global step's plan at the start of the next stage, as a filter named after it."""

    kind = "filter"

    def __init__(self, step: GlobalStep, drops: dict[int, str]):
        super().__init__(step.name, step.params)
        self._drops = drops

    def keep(self, batch, cache):
        rows = batch.column("_row").to_numpy()
        reasons = [self._drops.get(int(r)) for r in rows]
        mask = np.array([r is None for r in reasons], dtype=bool)
        return mask, reasons


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    if dtype == pl.String:
        return pa.string()
    return pl.Series([], dtype=dtype).to_arrow().type


def _filter_cache(cache: dict[str, Any], mask: np.ndarray) -> None:
    n = len(mask)
    for key in list(cache):
        value = cache[key]
        if isinstance(value, np.ndarray) and value.shape[:1] == (n,):
            cache[key] = value[mask]
        elif isinstance(value, list) and len(value) == n:
            cache[key] = [v for v, m in zip(value, mask) if m]
        else:
            del cache[key]


def process_batch(batch: pa.RecordBatch, steps: list[Step], stats: dict[str, dict]):
    """Run per-document steps over one batch.

    Returns (survivors, [(step name, rejected rows)], {step name: decision per original row})."""
    n = batch.num_rows
    batch = with_columns(batch, {"_pos": pa.array(np.arange(n, dtype=np.int64))})
    cache: dict[str, Any] = {}
    decisions: dict[str, np.ndarray] = {}
    rejected: list[tuple[str, pa.RecordBatch]] = []
    for step in steps:
        st = stats.setdefault(step.name, {"in": 0, "out": 0, "dropped": {}})
        st["in"] += batch.num_rows
        if batch.num_rows == 0:
            continue
        if isinstance(step, Annotator):
            batch = with_columns(batch, step.annotate(batch, cache))
        elif isinstance(step, Transform):
            batch = step.transform(batch, cache)
        elif isinstance(step, Filter):
            mask, reasons = step.keep(batch, cache)
            mask = np.asarray(mask, dtype=bool)
            dec = np.full(n, None, dtype=object)
            pos = batch.column("_pos").to_numpy()
            dec[pos] = [KEEP if m else (r or step.name) for m, r in zip(mask, reasons)]
            decisions[step.name] = dec
            if not mask.all():
                dropped_idx = np.flatnonzero(~mask)
                dropped = batch.take(pa.array(dropped_idx))
                why = [reasons[i] or step.name for i in dropped_idx]
                dropped = with_columns(dropped, {"_reason": pa.array(why, pa.string())})
                rejected.append((step.name, dropped))
                for r, c in Counter(why).items():
                    st["dropped"][r] = st["dropped"].get(r, 0) + c
                batch = batch.filter(pa.array(mask))
                _filter_cache(cache, mask)
        st["out"] += batch.num_rows
    return batch, rejected, decisions


def _drop_internal(batch: pa.RecordBatch | pa.Table, keep_order_cols: bool = False):
    drop = [c for c in batch.schema.names if c in INTERNAL and not (keep_order_cols and c != "_pos")]
    return batch.drop_columns(drop) if drop else batch


def _ledger_table(survivors, rejected, decisions, stage: int, fate: str) -> pa.Table:
    parts = []
    for step_name, rows in rejected:
        t = pa.Table.from_batches([rows.drop_columns(["text", "meta", "_reason"])])
        t = t.append_column("_fate", pa.array(["dropped"] * t.num_rows, pa.string()))
        t = t.append_column("_dropped_by", pa.array([step_name] * t.num_rows, pa.string()))
        parts.append(t)
    if survivors.num_rows:
        t = pa.Table.from_batches([survivors.drop_columns(["text", "meta"])])
        t = t.append_column("_fate", pa.array([fate] * t.num_rows, pa.string()))
        t = t.append_column("_dropped_by", pa.nulls(t.num_rows, pa.string()))
        parts.append(t)
    table = pa.concat_tables(parts, promote_options="permissive")
    pos = table.column("_pos").to_numpy()
    for step_name, dec in decisions.items():
        table = table.append_column(DECISION_PREFIX + step_name, pa.array(dec[pos], pa.string()))
    table = table.append_column("_stage", pa.array(np.full(table.num_rows, stage, dtype=np.int8)))
    table = table.sort_by("_pos").drop_columns(["_pos"])
    return table


def _input_batches(task: ShardTask, spec: PipelineSpec, on_error) -> Iterator[pa.RecordBatch]:
    from heitu.data.readers import ReadError, ReaderOptions, read_documents

    opts = ReaderOptions(
        text_field=spec.reader.text_field, id_field=spec.reader.id_field, max_doc_bytes=spec.reader.max_doc_bytes
    )
    cols: dict[str, list] = {"id": [], "text": [], "source": [], "meta": []}
    size = 0
    row = 0
    limit_docs, limit_bytes = spec.batch_docs, spec.batch_mb << 20

    def flush() -> pa.RecordBatch:
        nonlocal size
        k = len(cols["id"])
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(cols["id"], pa.string()),
                pa.array(cols["text"], pa.string()),
                pa.array(cols["source"], SOURCE_TYPE),
                pa.array(cols["meta"], pa.string()),
                pa.array(np.full(k, task.shard, dtype=np.int32)),
                pa.array(np.arange(row - k, row, dtype=np.int64)),
            ],
            names=["id", "text", "source", "meta", "_shard", "_row"],
        )
        for v in cols.values():
            v.clear()
        size = 0
        return batch

    for item in read_documents(task.input_path, task.source_name, opts):
        if isinstance(item, ReadError):
            on_error(item)
            continue
        for key in cols:
            cols[key].append(item[key])
        size += len(item["text"])
        row += 1
        if len(cols["id"]) >= limit_docs or size >= limit_bytes:
            yield flush()
    if cols["id"]:
        yield flush()


def _staged_batches(layout: Layout, stage: int, shard: int, batch_docs: int) -> Iterator[pa.RecordBatch]:
    for path in sorted(layout.stage_dir(stage).glob(f"part-{shard:05d}-*.parquet")):
        pf = pq.ParquetFile(path)
        yield from pf.iter_batches(batch_size=batch_docs)


def _clean_task_outputs(layout: Layout, stage: int, shard: int, final: bool) -> None:
    """Remove what an interrupted attempt of this task may have published."""
    patterns = [(layout.ledger, f"s{stage}-part-{shard:05d}-*"), (layout.stage_dir(stage), f"part-{shard:05d}-*")]
    if final:
        patterns.append((layout.data, f"part-{shard:05d}-*"))
    if stage == 0:
        patterns.append((layout.errors, f"part-{shard:05d}.jsonl"))
    for folder, pattern in patterns:
        if folder.is_dir():
            for p in folder.glob(pattern):
                p.unlink()
            for p in folder.glob("." + pattern + ".tmp"):
                p.unlink()
    if layout.rejects.is_dir():
        for p in layout.rejects.glob(f"*/s{stage}-part-{shard:05d}-*"):
            p.unlink()


def run_shard_task(task: ShardTask, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run one stage of the pipeline over one shard; returns the task's stats (also written
    to its done marker)."""
    spec, stages = stages_of(task.spec)
    steps, gstep = stages[task.stage]
    layout = Layout(Path(task.root))
    final = gstep is None
    _clean_task_outputs(layout, task.stage, task.shard, final)

    steps = list(steps)
    if task.stage > 0:
        prev = stages[task.stage - 1][1]
        plan = pl.read_parquet(layout.plan_file(task.stage - 1)).filter(pl.col("_shard") == task.shard)
        steps.insert(0, PlannedDrops(prev, dict(zip(plan["_row"].to_list(), plan["reason"].to_list()))))
        extra_cols = [c for c in plan.columns if c not in ("_shard", "_row", "reason")]
        plan_extra = {c: dict(zip(plan["_row"].to_list(), plan[c].to_list())) for c in extra_cols}
        # arrow types fixed by the plan's schema, so a shard with no drops gets the same columns
        plan_types = {c: _arrow_type(plan.schema[c]) for c in extra_cols}
    else:
        plan_extra, plan_types = {}, {}

    max_bytes = spec.writer.shard_size_mb << 20
    prefix = f"part-{task.shard:05d}"
    if final:
        out = ShardWriter(layout.data, prefix, spec.writer.format, max_bytes)
    else:
        out = ShardWriter(layout.stage_dir(task.stage), prefix, "parquet", max_bytes)
    ledger = ShardWriter(layout.ledger, f"s{task.stage}-{prefix}", "parquet", max_bytes)
    rejects: dict[str, ShardWriter] = {}
    writers: list[ShardWriter] = [out, ledger]

    stats: dict[str, Any] = {"stage": task.stage, "shard": task.shard, "docs_in": 0, "docs_out": 0,
                             "text_bytes": 0, "errors": 0, "error_reasons": {}, "steps": {}}
    errors_path = layout.errors / f"{prefix}.jsonl"
    errors_tmp = tmp_path_for(errors_path)
    err_fh = None
    pending = {"docs": 0, "bytes": 0, "errors": 0}

    def on_error(err) -> None:
        nonlocal err_fh
        if err_fh is None:
            layout.errors.mkdir(parents=True, exist_ok=True)
            err_fh = open(errors_tmp, "wb")
        err_fh.write(json.dumps({"file": err.file, "offset": err.offset, "reason": err.reason},
                                ensure_ascii=False).encode() + b"\n")
        stats["errors"] += 1
        pending["errors"] += 1
        code = err.reason.split(":", 1)[0]
        stats["error_reasons"][code] = stats["error_reasons"].get(code, 0) + 1
        if task.max_errors is not None and stats["errors"] > task.max_errors:
            raise TooManyErrors(
                f"{err.file}: more than {task.max_errors} unreadable records (--max-errors); the last one "
                f"at offset {err.offset}: {err.reason}"
            )

    try:
        if task.stage == 0:
            checksum, nbytes = sha256_file(task.input_path)
            stats["input"] = {"file": task.source_name, "path": task.input_path, "sha256": checksum, "bytes": nbytes}
            source = _input_batches(task, spec, on_error)
        else:
            source = _staged_batches(layout, task.stage - 1, task.shard, spec.batch_docs)
        for batch in source:
            if plan_extra:
                rows = batch.column("_row").to_pylist()
                batch = with_columns(batch, {c: pa.array([m.get(r) for r in rows], plan_types[c])
                                             for c, m in plan_extra.items()})
            n = batch.num_rows
            stats["docs_in"] += n
            nbytes = pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0
            stats["text_bytes"] += nbytes
            survivors, rejected, decisions = process_batch(batch, steps, stats["steps"])
            if not final:
                survivors = with_columns(survivors, gstep.index(survivors, {})) if survivors.num_rows else survivors
            for step_name, rows in rejected:
                if step_name not in rejects:
                    rejects[step_name] = ShardWriter(layout.rejects / step_name, f"s{task.stage}-{prefix}",
                                                     "parquet", max_bytes)
                    writers.append(rejects[step_name])
                rejects[step_name].write(_drop_internal(rows))
            ledger.write(_ledger_table(survivors, rejected, decisions, task.stage, "kept" if final else "passed"))
            if final:
                out.write(_drop_internal(survivors))
            else:
                out.write(survivors.drop_columns(["_pos"]))
            stats["docs_out"] += survivors.num_rows
            pending["docs"] += n
            pending["bytes"] += nbytes
            if progress is not None:
                progress(pending["docs"], pending["bytes"], pending["errors"])
                pending.update(docs=0, bytes=0, errors=0)
        if err_fh is not None:
            err_fh.close()
            err_fh = None
            os.replace(errors_tmp, errors_path)
        files = [str(p.relative_to(layout.root)) for w in writers for p in w.close()]
    except BaseException:
        for w in writers:
            w.abort()
        if err_fh is not None:
            err_fh.close()
            errors_tmp.unlink(missing_ok=True)
        raise
    if progress is not None and any(pending.values()):
        progress(pending["docs"], pending["bytes"], pending["errors"])
    stats["files"] = sorted(files + ([str(errors_path.relative_to(layout.root))] if errors_path.exists() else []))
    atomic_write_json(layout.done_marker(task.stage, task.shard), stats)
    return stats


def run_global_plan(root: str, spec: dict[str, Any], stage: int) -> dict[str, Any]:
    """Phase 2 of a global step: read the index columns of every staged document, decide."""
    _, stages = stages_of(spec)
    gstep = stages[stage][1]
    layout = Layout(Path(root))
    files = sorted(str(p) for p in layout.stage_dir(stage).glob("part-*.parquet"))
    if files:
        index_cols = ["_shard", "_row", "id", *gstep.plan_columns()]
        lf = pl.scan_parquet(files).select(index_cols)
        spill = layout.stage_dir(stage) / "_plan_spill"
        shutil.rmtree(spill, ignore_errors=True)  # what an interrupted plan left
        spill.mkdir()
        gstep.spill_dir, gstep.staged_files = spill, files
        try:
            drops = gstep.plan(lf)
        finally:
            shutil.rmtree(spill, ignore_errors=True)
    else:
        drops = pl.DataFrame(schema={"_shard": pl.Int32, "_row": pl.Int64, "reason": pl.String, "dup_of": pl.String})
    tmp = tmp_path_for(layout.plan_file(stage))
    drops.write_parquet(tmp)
    os.replace(tmp, layout.plan_file(stage))
    stats = {"stage": stage, "step": gstep.name, "dropped": drops.height,
             "reasons": dict(Counter(drops["reason"].to_list()))}
    atomic_write_json(layout.plan_done(stage), stats)
    return stats
