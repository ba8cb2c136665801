"""`heitu demo` runs on the bundled sample data alone (no ../shared) and explains its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_runs_without_shared_data(tmp_path):
    env = {**os.environ, "HEITU_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    out = tmp_path / "demo-out"
    res = subprocess.run([sys.executable, "-m", "heitu.cli", "demo", "-o", str(out)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["version"] in res.stdout
    steps = {s["name"]: s for s in m["counts"]["steps"]}
    # the planted cases are caught: spam, boilerplate, English pages, the duplicate copies
    assert steps["exact_dedup"]["dropped"].get("exact_duplicate", 0) >= 2
    assert sum(steps["zh_quality"]["dropped"].values()) >= 10
    assert m["counts"]["docs_kept"] >= 10
    # the trail of the duplicate names the document it duplicated
    assert "duplicate of heitu-010" in res.stdout
    assert steps["minhash_dedup"]["dropped"].get("near_duplicate", 0) >= 1
    assert "duplicate of heitu-019" in res.stdout  # the reworded copy, found by MinHash
    # it ends with the quality report and the grades
    card = json.loads((out / "report" / "scorecard.json").read_text())
    assert card["dataset"] == m["version"] and card["overall"]["grade"] in "ABCDE"
    html = (out / "report" / "report.html").read_text()
    assert "<svg" in html and m["version"] in html
    assert "overall" in res.stdout
    # PII in the kept sample was redacted
    import polars as pl

    kept = pl.read_parquet(sorted((out / "data").glob("*.parquet")))
    text = "\n".join(kept["text"])
    assert "13800138000" not in text and "<PHONE>" in text and "<ID_CN>" in text
