"""End-to-end pipeline runs on real text: outputs, rejects, ledger, manifest, catalog, explain."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from heitu.core.errors import UserError
from heitu.data.ledger import explain, rejects
from heitu.data.manifest import resolve_dataset
from heitu.data.run import run_pipeline

from conftest import real_docs, write_jsonl

SPEC = """
name: test-zh
steps:
  - type: zh_signals
  - name: zh_quality
    type: select
    params:
      rules:
        - {reason: not_chinese, keep: "zh_cjk_ratio_v1 >= 0.3"}
        - {reason: too_short, keep: "zh_char_len_v1 >= 60"}
  - type: exact_dedup
  - type: pii_redact
writer: {shard_size_mb: 1}
batch_docs: 64
"""


@pytest.fixture
def inputs(tmp_path, shared_data) -> Path:
    docs = real_docs(shared_data)
    # planted exact duplicates: a copy in another file, and one differing only in spacing/punctuation
    dup_a = dict(docs[10])
    dup_b = {"text": docs[20]["text"].replace("，", " , ") + "  "}
    pii = {"text": docs[30]["text"] + "\n联系人手机 13800138000，邮箱 someone@example.com。"}
    write_jsonl(tmp_path / "in" / "a.jsonl", docs[:120])
    write_jsonl(tmp_path / "in" / "b.jsonl", docs[120:] + [dup_a, dup_b, pii])
    return tmp_path / "in"


@pytest.fixture
def spec_file(tmp_path) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    return p


def _kept(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((out / "data").glob("*.parquet"))).select("id", "text").sort("id")


def test_every_document_is_kept_or_rejected_with_a_reason(heitu_home, tmp_path, inputs, spec_file):
    res = run_pipeline(spec_file, [str(inputs / "*.jsonl")], tmp_path / "out", show_progress=False)
    out = res.out_dir
    kept = _kept(out)
    rej = pl.concat([pl.read_parquet(p) for p in (out / "rejects").rglob("*.parquet")], how="diagonal_relaxed")
    n_in = res.manifest["counts"]["docs_read"]
    assert n_in == 233
    assert kept.height + rej.height == n_in
    assert set(kept["id"]).isdisjoint(set(rej["id"]))
    assert rej["_reason"].null_count() == 0
    assert set(rej["_reason"]) <= {"not_chinese", "too_short", "exact_duplicate"}
    # the English documents are the not_chinese rejects
    assert (rej["_reason"] == "not_chinese").sum() >= 25
    # both planted duplicates were found, and they point at the kept original
    dups = rej.filter(pl.col("_reason") == "exact_duplicate")
    assert dups.height == 2
    assert set(dups["dup_of"]) <= set(kept["id"])
    # PII was redacted in the kept text
    assert kept.filter(pl.col("text").str.contains("13800138000")).height == 0
    assert kept.filter(pl.col("text").str.contains("<PHONE>") & pl.col("text").str.contains("<EMAIL>")).height == 1
    # the ledger holds every input document once in stage 0, with its decision
    ledger = pl.concat([pl.read_parquet(p) for p in (out / "ledger").glob("*.parquet")], how="diagonal_relaxed")
    s0 = ledger.filter(pl.col("_stage") == 0)
    assert s0.height == n_in and s0["id"].n_unique() == n_in
    assert set(s0["decision__zh_quality"]) <= {"keep", "not_chinese", "too_short"}
    # manifest counts add up per step
    for st in res.manifest["counts"]["steps"]:
        assert st["in"] == st["out"] + sum(st["dropped"].values())
    assert res.manifest["counts"]["docs_kept"] == kept.height
    assert res.version.startswith("ds-")


def test_same_inputs_and_spec_give_the_same_version_with_any_worker_count(heitu_home, tmp_path, inputs, spec_file):
    a = run_pipeline(spec_file, [str(inputs)], tmp_path / "o1", workers=1, show_progress=False)
    b = run_pipeline(spec_file, [str(inputs)], tmp_path / "o2", workers=2, show_progress=False)
    assert a.version == b.version
    assert _kept(a.out_dir).equals(_kept(b.out_dir))


def test_explain_shows_the_trail_of_a_duplicate(heitu_home, tmp_path, inputs, spec_file):
    res = run_pipeline(spec_file, [str(inputs)], tmp_path / "out", show_progress=False)
    out, manifest = resolve_dataset(res.version)  # by version id, through the catalog
    assert out == res.out_dir.resolve()
    dup = rejects(out, "exact_dedup", None, 5)
    assert dup.height == 2 and set(dup["reason"]) == {"exact_duplicate"}
    (trail,) = explain(out, manifest, dup["id"][0])
    assert trail.fate == "dropped" and trail.dropped_by == "exact_dedup"
    assert trail.reason == "exact_duplicate" and trail.dup_of == dup["dup_of"][0]
    steps = {e.step: e for e in trail.events}
    assert steps["zh_quality"].decision == "keep"
    assert steps["zh_signals"].signals["zh_cjk_ratio_v1"] > 0.3
    assert steps["pii_redact"].decision is None and not steps["pii_redact"].signals  # never reached
    (orig,) = explain(out, manifest, trail.dup_of)
    assert orig.fate == "kept"
    short = rejects(out, "zh_quality", "too_short", 3)
    (t,) = explain(out, manifest, short["id"][0])
    assert t.reason == "too_short" and t.events[1].signals["zh_char_len_v1"] < 60
    with pytest.raises(UserError, match="no document with id"):
        explain(out, manifest, "no-such-id")


def test_catalog_records_the_version_and_its_sources(heitu_home, tmp_path, inputs, spec_file):
    from heitu.core.catalog import Catalog

    res = run_pipeline(spec_file, [str(inputs)], tmp_path / "out", show_progress=False)
    cat = Catalog()
    (ds,) = cat.list(kind="dataset")
    assert ds.id == res.version and ds.summary["docs_read"] == 233
    parents = cat.parents(ds.id)
    assert sorted(p.name for p, rel in parents) == ["a.jsonl", "b.jsonl"]
    assert all(rel == "input_of" for _, rel in parents)
    manifest = json.loads((res.out_dir / "manifest.json").read_text())
    assert {i["sha256"][:16] for i in manifest["inputs"]} == {p.id[4:] for p, _ in parents}
    assert all(o["sha256"] and o["bytes"] > 0 for o in manifest["outputs"])


@pytest.mark.parametrize(
    "spec_text, message",
    [
        ("name: x\nsteps:\n  - type: no_such_step\n", "unknown step type 'no_such_step'"),
        ("name: x\nsteps:\n  - type: select\n    params: {rules: [{reason: r, keep: 'a >= '}]}\n", "cannot parse"),
        ("name: x\nsteps:\n  - type: exact_dedup\n    params: {normalise: true}\n", "normalise"),
        ("name: x\nsteps: [\n", "not valid YAML"),
        ("steps: []\n", "name"),
    ],
)
def test_spec_mistakes_are_user_errors_naming_the_problem(tmp_path, spec_text, message):
    from heitu.data.pipeline import load_spec

    p = tmp_path / "bad.yaml"
    p.write_text(spec_text)
    with pytest.raises(UserError, match=message) as exc:
        load_spec(p)
    assert str(p) in str(exc.value)


def test_rule_on_a_missing_column_fails_before_writing_data(heitu_home, tmp_path, inputs):
    p = tmp_path / "spec.yaml"
    p.write_text("name: x\nsteps:\n  - type: select\n    params: {rules: [{reason: r, keep: 'nope_v1 > 1'}]}\n")
    with pytest.raises(UserError, match="nope_v1"):
        run_pipeline(p, [str(inputs)], tmp_path / "out", show_progress=False)


def test_output_folder_protection(heitu_home, tmp_path, inputs, spec_file):
    out = tmp_path / "out"
    run_pipeline(spec_file, [str(inputs)], out, show_progress=False)
    with pytest.raises(UserError, match="already holds a finished dataset"):
        run_pipeline(spec_file, [str(inputs)], out, show_progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("not ours")
    with pytest.raises(UserError, match="not empty"):
        run_pipeline(spec_file, [str(inputs)], other, show_progress=False)


def test_jsonl_gz_writer(heitu_home, tmp_path, inputs):
    import gzip

    p = tmp_path / "spec.yaml"
    p.write_text("name: x\nsteps:\n  - type: exact_dedup\nwriter: {format: jsonl.gz}\n")
    res = run_pipeline(p, [str(inputs)], tmp_path / "out", show_progress=False)
    files = sorted((res.out_dir / "data").glob("*.jsonl.gz"))
    rows = [json.loads(l) for f in files for l in gzip.open(f, "rt", encoding="utf-8")]
    assert len(rows) == res.manifest["counts"]["docs_kept"] == 231
    assert {"id", "text", "source"} <= rows[0].keys() and rows[0]["source"]["file"] in ("a.jsonl", "b.jsonl")


def test_step_artifacts_are_kept_with_the_dataset(heitu_home, tmp_path, inputs):
    """A step that depends on a file (a model, a lexicon) gets it copied and checksummed."""
    import numpy as np

    from heitu.data.steps.base import STEP_TYPES, Annotator, register

    model = tmp_path / "tiny-model.json"
    model.write_text('{"weights": [1, 2, 3]}')

    class _WithModel(Annotator):
        def annotate(self, batch, cache):
            return {"const_v1": np.ones(batch.num_rows, dtype=np.float32)}

        def artifacts(self):
            return [model]

    register("test_with_model")(_WithModel)
    try:
        p = tmp_path / "spec.yaml"
        p.write_text("name: x\nsteps:\n  - type: test_with_model\n")
        res = run_pipeline(p, [str(inputs)], tmp_path / "out", show_progress=False)
    finally:
        STEP_TYPES.pop("test_with_model")
    kept = res.out_dir / "artifacts" / "test_with_model" / "tiny-model.json"
    assert kept.read_text() == model.read_text()
    (entry,) = [o for o in res.manifest["outputs"] if o["path"].startswith("artifacts/")]
    assert entry["path"] == "artifacts/test_with_model/tiny-model.json" and len(entry["sha256"]) == 64
