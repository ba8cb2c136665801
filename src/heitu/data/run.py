"""Run a pipeline over inputs into an output folder: stages, resume, manifest, catalog."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heitu import __version__
from heitu.core.errors import UserError
from heitu.core.progress import console, make_progress
from heitu.core.storage import atomic_write_json, sha256_file
from heitu.data.manifest import MANIFEST_FORMAT, merge_step_counts, version_id
from heitu.data.pipeline import PipelineSpec, build_steps, load_spec, split_stages
from heitu.data.runner import Layout, ShardTask, TooManyErrors, run_global_plan

RUN_FILE = "run.json"


@dataclass
class RunResult:
    out_dir: Path
    version: str
    manifest: dict[str, Any]


def _make_executor(kind: str, workers: int, ray_address: str | None):
    if kind == "local":
        from heitu.data.executors.local import LocalExecutor

        if ray_address:
            raise UserError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if kind == "ray":
        from heitu.data.executors.ray import RayExecutor

        return RayExecutor(workers, address=ray_address)
    raise UserError(f"unknown executor '{kind}' (this version has: local, ray)")


def _check_output(layout: Layout, run_info: dict, resume: bool) -> bool:
    """Returns True when the run is already complete."""
    run_file = layout.work / RUN_FILE
    if layout.manifest.is_file():
        if resume:
            return True
        raise UserError(f"{layout.root} already holds a finished dataset; choose another --output")
    if run_file.is_file():
        if not resume:
            raise UserError(f"{layout.root} holds an unfinished run; pass --resume to finish it, "
                            f"or choose another --output")
        before = json.loads(run_file.read_text())
        if before["spec_hash"] != run_info["spec_hash"] or before["inputs"] != run_info["inputs"]:
            raise UserError(f"--resume: the run in {layout.root} was started with a different spec or "
                            f"different inputs; finish it with the same ones, or choose another --output")
        return False
    if layout.root.exists() and any(layout.root.iterdir()):
        raise UserError(f"{layout.root} is not empty and holds no heitu run; choose an empty or new --output")
    return False


def run_pipeline(
    spec: str | Path | PipelineSpec,
    inputs: list[str],
    output: str | Path,
    *,
    workers: int = 1,
    resume: bool = False,
    max_errors: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    show_progress: bool = True,
    register: bool = True,
) -> RunResult:
    from heitu.data.readers import expand_inputs

    if not isinstance(spec, PipelineSpec):
        spec = load_spec(spec)
    resolved = spec.resolved()
    spec_hash = spec.spec_hash()
    files = expand_inputs(inputs)
    layout = Layout(Path(output))
    run_info = {"spec_hash": spec_hash, "inputs": [name for _, name in files]}
    if _check_output(layout, run_info, resume):
        manifest = json.loads(layout.manifest.read_text())
        console.print(f"[green]{layout.root} is already complete: {manifest['version']}")
        return RunResult(layout.root, manifest["version"], manifest)
    layout.work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(layout.work / RUN_FILE, run_info)

    stages = split_stages(build_steps(spec))
    ex = _make_executor(executor, workers, ray_address)
    started = time.time()
    all_stats: list[dict] = []
    plans: list[dict] = []
    try:
        with make_progress(disable=not show_progress) as progress:
            for k, (_, gstep) in enumerate(stages):
                tasks, done = [], []
                for shard, (path, name) in enumerate(files):
                    marker = layout.done_marker(k, shard)
                    if marker.is_file():
                        done.append(json.loads(marker.read_text()))
                    else:
                        tasks.append(ShardTask(str(layout.root), resolved, k, shard,
                                               path if k == 0 else None, name if k == 0 else None, max_errors))
                all_stats.extend(done)
                label = f"stage {k + 1}/{len(stages)}" + (f" → {gstep.name}" if gstep else "")
                tid = progress.add_task(label, total=len(files), completed=len(done), rate="")
                counters = {"docs": 0, "bytes": 0, "errors": sum(s["errors"] for s in done)}
                t0 = time.time()

                def on_progress(docs: int, nbytes: int, errors: int) -> None:
                    counters["docs"] += docs
                    counters["bytes"] += nbytes
                    counters["errors"] += errors
                    el = max(time.time() - t0, 1e-6)
                    msg = (f"{counters['docs']:,} docs  {counters['docs'] / el:,.0f} docs/s  "
                           f"{counters['bytes'] / el / 1e6:,.1f} MB/s")
                    if counters["errors"]:
                        msg += f"  [yellow]{counters['errors']:,} errors"
                    progress.update(tid, rate=msg)

                for stats in ex.map(tasks, on_progress):
                    all_stats.append(stats)
                    progress.advance(tid)
                    # each task stops at --max-errors on its own; this stops the run on the total
                    if max_errors is not None and counters["errors"] > max_errors:
                        raise TooManyErrors(f"more than {max_errors} unreadable records in all (--max-errors); "
                                            f"see {layout.errors}")
                if gstep is not None:
                    if layout.plan_done(k).is_file():
                        plans.append(json.loads(layout.plan_done(k).read_text()))
                    else:
                        ptid = progress.add_task(f"  {gstep.name}: plan", total=1, rate="")
                        plans.append(run_global_plan(str(layout.root), resolved, k))
                        progress.update(ptid, completed=1, rate=f"{plans[-1]['dropped']:,} dropped")
    except BrokenProcessPool as exc:
        raise UserError(f"a worker process died (killed, or out of memory); finished shards are kept in "
                        f"{layout.root}: run again with --resume") from exc
    except TooManyErrors as exc:
        raise UserError(f"{exc}. Work done so far is kept; fix the input or raise --max-errors, "
                        f"then run again with --resume") from exc
    finally:
        ex.close()

    artifact_files = _copy_step_artifacts(layout, build_steps(spec))
    manifest = _write_manifest(layout, spec, resolved, spec_hash, all_stats, stages, ex.describe(),
                               time.time() - started, artifact_files)
    shutil.rmtree(layout.work, ignore_errors=True)
    if register:
        register_dataset(layout.root, manifest)
    return RunResult(layout.root, manifest["version"], manifest)


def _copy_step_artifacts(layout: Layout, steps) -> list[str]:
    """Keep what the dataset's signals depend on (models, lexicons a step names) with the dataset."""
    copied = []
    for step in steps:
        for src in step.artifacts():
            src = Path(src)
            dest = layout.root / "artifacts" / step.name / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)
                copied += [str(p.relative_to(layout.root)) for p in sorted(dest.rglob("*")) if p.is_file()]
            else:
                shutil.copy2(src, dest)
                copied.append(str(dest.relative_to(layout.root)))
    return copied


def _write_manifest(layout, spec, resolved, spec_hash, all_stats, stages, executor_info, seconds,
                    artifact_files: list[str]) -> dict:
    first = sorted((s for s in all_stats if s["stage"] == 0), key=lambda s: s["shard"])
    inputs = [s["input"] for s in first]
    last_stage = len(stages) - 1
    finals = [s for s in all_stats if s["stage"] == last_stage]
    order = [st.name for st in build_steps(spec)]
    errors: dict[str, int] = {}
    for s in first:
        for code, n in s["error_reasons"].items():
            errors[code] = errors.get(code, 0) + n
    outputs = []
    for rel in sorted({f for s in all_stats for f in s.get("files", [])} | set(artifact_files)):
        path = layout.root / rel
        if path.exists():
            digest, size = sha256_file(str(path))
            outputs.append({"path": rel, "sha256": digest, "bytes": size})
    counts = {
        "docs_read": sum(s["docs_in"] for s in first),
        "docs_kept": sum(s["docs_out"] for s in finals),
        "read_errors": sum(s["errors"] for s in first),
        "read_errors_by_reason": errors,
        "text_bytes_read": sum(s["text_bytes"] for s in first),
        "steps": merge_step_counts(all_stats, order),
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "heitu_version": __version__,
        "name": spec.name,
        "spec": resolved,
        "spec_hash": spec_hash,
        "inputs": [{"file": i["file"], "path": i["path"], "sha256": i["sha256"], "bytes": i["bytes"]}
                   for i in inputs],
        "executor": executor_info,
        "counts": counts,
        "outputs": outputs,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(seconds, 3),
    }
    manifest["version"] = version_id(spec_hash, manifest["inputs"], outputs)
    atomic_write_json(layout.manifest, manifest)
    return manifest


def register_dataset(out_dir: Path, manifest: dict) -> None:
    from heitu.core.catalog import Catalog

    cat = Catalog()
    parents = []
    for i in manifest["inputs"]:
        src_id = "src-" + i["sha256"][:16]
        cat.ensure(id=src_id, kind="source", name=i["file"], uri=i["path"],
                   summary={"sha256": i["sha256"], "bytes": i["bytes"]})
        parents.append((src_id, "input_of"))
    c = manifest["counts"]
    cat.register(
        id=manifest["version"], kind="dataset", name=manifest["name"], uri=str(out_dir.resolve()),
        summary={"docs_read": c["docs_read"], "docs_kept": c["docs_kept"], "read_errors": c["read_errors"],
                 "spec_hash": manifest["spec_hash"], "executor": manifest["executor"]["kind"]},
        record=manifest, parents=parents,
    )
