"""A run killed with SIGKILL at any point is finished by --resume, with output identical to an
uninterrupted run: no document lost, none duplicated. Uses real killed subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import real_docs, write_jsonl

SPEC = """
name: resume-test
steps:
  - type: zh_signals
  - name: zh_quality
    type: select
    params:
      rules:
        - {reason: not_chinese, keep: "zh_cjk_ratio_v1 >= 0.3"}
        - {reason: too_short, keep: "zh_char_len_v1 >= 60"}
  - type: pii_redact
  - type: exact_dedup
  - type: lang_id
batch_docs: 100
writer: {shard_size_mb: 1}
"""


@pytest.fixture(scope="module")
def workload(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("resume")
    docs = real_docs(shared_data, n_zh=1500, n_en=50)
    for i in range(6):
        # each shard repeats some documents of the previous one: dedup crosses shards
        write_jsonl(root / "in" / f"part{i}.jsonl", docs[i * 200 : i * 200 + 400])
    (root / "spec.yaml").write_text(SPEC)
    return root


def _cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "heitu.cli", "data", "run", str(root / "spec.yaml"), "-i", str(root / "in"),
            "-o", str(out), "--workers", "2", "--no-register", *extra]


def _env(tmp: Path) -> dict:
    return {**os.environ, "HEITU_HOME": str(tmp / "home")}


def _snapshot(out: Path) -> dict:
    def frame(folder: str) -> pl.DataFrame:
        files = sorted((out / folder).rglob("*.parquet"))
        return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files else pl.DataFrame()

    data = frame("data").select("id", "text")
    rej = frame("rejects").select("id", "_reason").sort("id")
    ledger = frame("ledger").select("id", "_stage", "_fate").sort("id", "_stage")
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    return {"data": data, "rejects": rej, "ledger": ledger, "version": manifest["version"]}


@pytest.fixture(scope="module")
def reference(workload):
    out = workload / "reference"
    subprocess.run(_cmd(workload, out), check=True, env=_env(workload), capture_output=True)
    return _snapshot(out)


def _wait_for(pred, timeout=120.0) -> None:
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise AssertionError("the run never reached the kill point")
        time.sleep(0.02)


@pytest.mark.parametrize("kill_point", ["first_shard_done", "during_dedup_stage", "half_a_second"])
def test_sigkill_then_resume_equals_uninterrupted_run(workload, reference, tmp_path, kill_point):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd(workload, out), env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    work = out / "_work"
    if kill_point == "first_shard_done":
        _wait_for(lambda: len(list((work / "s0").glob("*.done.json"))) >= 1)
    elif kill_point == "during_dedup_stage":
        _wait_for(lambda: (work / "g0.done.json").exists() or (out / "manifest.json").exists())
    else:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: main process and workers
    proc.wait()
    assert not (out / "manifest.json").exists() or kill_point == "during_dedup_stage"

    done = subprocess.run(_cmd(workload, out, "--resume"), env=_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = _snapshot(out)
    assert got["data"]["id"].n_unique() == got["data"].height  # nothing duplicated
    assert got["data"].equals(reference["data"])  # nothing lost, same order, same text
    assert got["rejects"].equals(reference["rejects"])
    assert got["ledger"].equals(reference["ledger"])
    assert got["version"] == reference["version"]
    assert not list(out.rglob(".*.tmp"))  # no half-written file left visible or hidden


def test_resume_refuses_a_different_spec(workload, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd(workload, out), env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for(lambda: (out / "_work" / "run.json").exists())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    other = workload / "other.yaml"
    other.write_text(SPEC.replace("zh_char_len_v1 >= 60", "zh_char_len_v1 >= 61"))
    cmd = _cmd(workload, out, "--resume")
    cmd[cmd.index(str(workload / "spec.yaml"))] = str(other)
    res = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True)
    assert res.returncode == 1
    assert "different spec" in res.stderr and "Traceback" not in res.stderr
