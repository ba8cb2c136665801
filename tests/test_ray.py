"""The Ray executor gives the same dataset as the local executor: on a real two-node Ray cluster
started on this machine, when a Ray worker is SIGKILLed in the middle of a task, and on a local
Ray instance started by the run itself. Every run is a real `heitu data run` subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT, real_docs, write_jsonl

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

TASK_TITLE = "ray::heitu_shard_task"  # the process title of a Ray worker running a shard task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray >= 2.5x turns token auth on for a new local instance and writes ~/.ray/auth_token, which
    # a later `ray start` pair then disagrees about; keep the tests off the shared home folder
    env["RAY_AUTH_MODE"] = "disabled"
    return env


class Cluster:
    def __init__(self, temp_dir: str, port: int):
        self.temp_dir = temp_dir
        self.port = port
        self.address = f"127.0.0.1:{port}"

    def _is_ours(self, cmdline: list[str]) -> bool:
        # every process of this cluster names its temp dir or its GCS port on the command line;
        # Ray workers (retitled ray::...) are found as children of the raylets
        return any(self.temp_dir in a or a.endswith((f":{self.port}", f"={self.port}"))
                   for a in cmdline)

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            try:
                if self._is_ours(p.info["cmdline"] or []):
                    found[p.pid] = p
                    for c in p.children(recursive=True):
                        found[c.pid] = c
            except psutil.Error:
                continue
        return list(found.values())

    def task_workers(self) -> list[psutil.Process]:
        out = []
        for p in self.processes():
            try:
                if (p.cmdline() or [""])[0].startswith(TASK_TITLE):
                    out.append(p)
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        # not `ray stop --force`: it stops every Ray process of the machine, other people's too
        procs = self.processes()
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)


def _alive_nodes(address: str) -> int:
    code = ("import ray, logging; ray.init(address=%r, logging_level=logging.ERROR, log_to_driver=False); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))" % address)
    res = subprocess.run([sys.executable, "-c", code], env=_ray_env(), capture_output=True, text=True, timeout=60)
    return int(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 and res.stdout.strip() else 0


def _ray_start(*args: str) -> None:
    res = subprocess.run(["ray", "start", *args], env=_ray_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"ray start {' '.join(args)}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("ray") is None:
        pytest.skip("the ray command is not installed")
    temp_dir = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    port = _free_port()
    c = Cluster(temp_dir, port)
    common = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
    try:
        _ray_start("--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp_dir}",
                   f"--ray-client-server-port={_free_port()}", f"--dashboard-port={_free_port()}",
                   f"--dashboard-agent-listen-port={_free_port()}", *common)
        _ray_start(f"--address={c.address}", f"--dashboard-agent-listen-port={_free_port()}", *common)
        t0 = time.time()
        while _alive_nodes(c.address) < 2:
            if time.time() - t0 > 60:
                raise AssertionError("the second Ray node never came up")
            time.sleep(1)
        yield c
    finally:
        c.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def workload(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("ray")
    en = [json.loads(line) for line in open(shared_data / "english_web" / "dolma_ccnet_en_head.jsonl", encoding="utf-8")]
    docs = real_docs(shared_data, n_zh=1000, n_en=50) + [{"text": r["text"]} for r in en]
    # interleave the languages; each shard repeats a few documents of the previous one, so the
    # dedup step (a global step planned on the driver) crosses shards
    docs = [docs[i] for i in sorted(range(len(docs)), key=lambda i: (i * 7919) % len(docs))]
    n, k = 5, len(docs) // 5
    for i in range(n):
        part = docs[i * k : (i + 1) * k] + (docs[(i - 1) * k : (i - 1) * k + 15] if i else [])
        write_jsonl(root / "in" / f"part{i}.jsonl", part)
    return root


def _run(workload: Path, recipe: str, out: Path, *extra: str, check: bool = True, env: dict | None = None):
    cmd = [sys.executable, "-m", "heitu.cli", "data", "run", str(REPO_ROOT / "recipes" / recipe),
           "-i", str(workload / "in"), "-o", str(out), "--workers", "2", "--no-register", *extra]
    env = {**_ray_env(), "HEITU_HOME": str(workload / "home"), **(env or {})}
    if not check:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _frame(out: Path, folder: str) -> pl.DataFrame:
    files = sorted((out / folder).rglob("*.parquet"))
    frames = [pl.read_parquet(f).with_columns(pl.lit(str(f.relative_to(out))).alias("_file")) for f in files]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _snapshot(out: Path) -> dict:
    ledger = _frame(out, "ledger")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "data": _frame(out, "data").select("id", "text"),
        "rejects": _frame(out, "rejects").select("_file", "id", "_reason"),
        "ledger": ledger.select("id", "_stage", "_fate", "_dropped_by",
                                *sorted(c for c in ledger.columns if c.startswith("decision__"))),
        "version": manifest["version"],
        "outputs": {o["path"]: o["sha256"] for o in manifest["outputs"]},
        "executor": manifest["executor"],
        "counts": manifest["counts"],
    }


def _assert_same(got: dict, ref: dict) -> None:
    assert got["data"].height > 0 and got["rejects"].height > 0
    assert got["data"]["id"].n_unique() == got["data"].height  # nothing duplicated
    assert got["data"].equals(ref["data"])  # nothing lost: same ids in the same order, same text
    assert got["rejects"].equals(ref["rejects"])  # same rejects, same steps, same reasons
    assert got["ledger"].equals(ref["ledger"])  # same decision of every step for every document
    assert got["counts"] == ref["counts"]
    assert got["outputs"] == ref["outputs"]  # byte-identical files
    assert got["version"] == ref["version"]


@pytest.fixture(scope="module")
def local_refs(workload):
    refs = {}
    for recipe in ("zh-web.yaml", "en-web.yaml"):
        out = workload / f"local-{recipe}"
        _run(workload, recipe, out)
        refs[recipe] = _snapshot(out)
    return refs


def test_without_an_address_a_local_ray_instance_is_started(workload, local_refs, tmp_path):
    out = tmp_path / "out"
    ray_tmp = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # the local instance's session files, not /tmp/ray
    try:
        _run(workload, "zh-web.yaml", out, "--executor", "ray", env={"RAY_TMPDIR": ray_tmp})
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    got = _snapshot(out)
    assert got["version"] == local_refs["zh-web.yaml"]["version"]
    assert got["executor"] == {"kind": "ray", "workers": 2, "nodes": 1, "cpus": 2, "address": "local"}


def test_ray_address_needs_the_ray_executor(workload, tmp_path):
    cmd = [sys.executable, "-m", "heitu.cli", "data", "run", str(REPO_ROOT / "recipes" / "zh-web.yaml"),
           "-i", str(workload / "in"), "-o", str(tmp_path / "out"), "--ray-address", "127.0.0.1:1", "--no-register"]
    res = subprocess.run(cmd, env={**_ray_env(), "HEITU_HOME": str(tmp_path / "home")}, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and "--executor ray" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("recipe", ["zh-web.yaml", "en-web.yaml"])
def test_two_node_cluster_gives_the_local_executors_dataset(cluster, workload, local_refs, recipe):
    out = workload / f"ray-{recipe}"
    _run(workload, recipe, out, "--executor", "ray", "--ray-address", cluster.address)
    got = _snapshot(out)
    _assert_same(got, local_refs[recipe])
    ex = got["executor"]
    assert ex["kind"] == "ray" and ex["nodes"] == 2 and ex["cpus"] == 2 and ex["address"] == cluster.address
    # the English recipe keeps English documents, the Chinese one Chinese: both did real work
    assert got["counts"]["docs_kept"] > 0
    assert not list(out.rglob(".*.tmp")) and not (out / "_work").exists()


def test_a_worker_killed_mid_task_is_rerun_with_identical_output(cluster, workload, local_refs, tmp_path):
    out = tmp_path / "out"
    proc = _run(workload, "zh-web.yaml", out, "--executor", "ray", "--ray-address", cluster.address, check=False)
    killed = None
    try:
        t0 = time.time()
        while killed is None and proc.poll() is None and time.time() - t0 < 120:
            for w in cluster.task_workers():
                try:
                    w.send_signal(signal.SIGKILL)
                    killed = w.pid
                    break
                except psutil.Error:
                    continue
            time.sleep(0.05)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no Ray worker was ever seen running a shard task"
    assert proc.returncode == 0, err[-3000:]
    got = _snapshot(out)
    _assert_same(got, local_refs["zh-web.yaml"])
    assert not list(out.rglob(".*.tmp"))
