"""Near-duplicate removal (minhash_dedup): planted near-copies of real text are found, distinct
documents are not merged, keep policies, determinism, ledger/explain, verification, bad params."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from conftest import real_docs, write_jsonl

from heitu.core.errors import UserError
from heitu.data.ledger import explain, rejects
from heitu.data.pipeline import PipelineSpec, StepSpec, build_steps
from heitu.data.run import run_pipeline
from heitu.data.steps.minhash import (
    CLUSTER_COLUMN,
    MinHashDedup,
    dedup_command,
    optimal_bands,
    word_cutoffs,
)


def _step(**params) -> MinHashDedup:
    (step,) = build_steps(PipelineSpec(name="t", steps=[StepSpec(type="minhash_dedup", params=params)]))
    return step


def _plan(step: MinHashDedup, texts: list[str], extra: dict[str, list] | None = None) -> pl.DataFrame:
    """index + plan over an in-memory list of documents (ids d0, d1, ...)."""
    batch = pa.RecordBatch.from_pydict({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    cols = step.index(batch, {})
    frame = pl.DataFrame({
        "_shard": pl.Series(np.zeros(len(texts), np.int32)), "_row": pl.Series(np.arange(len(texts))),
        "id": [f"d{i}" for i in range(len(texts))], "text": texts, **(extra or {}),
    })
    for k, v in cols.items():
        frame = frame.with_columns(pl.from_arrow(v).alias(k))
    lf = frame.lazy().select(["_shard", "_row", "id", *step.plan_columns()])
    return step.plan(lf)


def _edit_words(text: str, every: int = 97) -> str:
    words = text.split(" ")
    for i in range(every // 2, len(words), every):
        words[i] = "xyzzy"
    return " ".join(words)


@pytest.fixture
def planted(tmp_path, shared_data):
    docs = real_docs(shared_data, n_zh=120, n_en=20)
    for i, d in enumerate(docs):
        d["id"] = f"{'zh' if i < 120 else 'en'}-{i}"
    en = [d for d in docs if d["id"].startswith("en")]
    zh = [d for d in docs if d["id"].startswith("zh")]
    longest_en = max(en[:10], key=lambda d: len(d["text"]))
    copies = [
        # a few words changed
        {"id": "copy-words", "text": _edit_words(longest_en["text"]), "of": longest_en["id"]},
        # line breaks changed (and trailing spaces)
        {"id": "copy-lines", "text": en[3]["text"].replace("\n", " ").replace(". ", ".\n\n") + "  ",
         "of": en[3]["id"]},
        # a paragraph appended
        {"id": "copy-para", "text": en[5]["text"] + "\n\nThis paragraph was appended to the copy, it is short.",
         "of": en[5]["id"]},
        # Chinese: two characters changed, and a sentence appended
        {"id": "copy-zh", "text": zh[7]["text"][:60] + "某" + zh[7]["text"][61:150] + "此" + zh[7]["text"][151:],
         "of": zh[7]["id"]},
        {"id": "copy-zh2", "text": zh[12]["text"] + "本文另有附录。", "of": zh[12]["id"]},
    ]
    truth = {c["id"]: c.pop("of") for c in copies}
    write_jsonl(tmp_path / "in" / "a.jsonl", docs[:70])
    write_jsonl(tmp_path / "in" / "b.jsonl", docs[70:] + copies)
    return tmp_path / "in", truth


def _spec(tmp_path: Path, params: dict | None = None) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(json.dumps({"name": "mh", "steps": [{"type": "minhash_dedup", "params": params or {}}],
                             "batch_docs": 50}))
    return p


def _kept_ids(out: Path) -> list[str]:
    return sorted(pl.read_parquet(sorted((out / "data").glob("*.parquet")))["id"].to_list())


def test_defaults_are_derived_from_the_threshold():
    assert optimal_bands(0.8, 128) == (9, 13)  # datasketch's equal weights
    unverified = _step(threshold=0.7, verify=False)
    assert (unverified.bands, unverified.rows) == optimal_bands(0.7, 128)
    # verified: misses weigh 9x more than LSH false positives (verification removes those)
    step = _step(threshold=0.8)
    assert (step.bands, step.rows) == optimal_bands(0.8, 128, 0.9) == (14, 9)
    assert step.bands * step.rows <= 128

    def p_candidate(s, b, r):
        return 1 - (1 - s**r) ** b
    assert p_candidate(0.8, step.bands, step.rows) > 0.85 > p_candidate(0.8, 9, 13) + 0.4
    # a higher threshold needs longer bands (rows) to stay selective
    assert optimal_bands(0.9, 128)[1] > optimal_bands(0.8, 128)[1] > optimal_bands(0.5, 128)[1]


def test_short_documents_are_shingled_by_characters():
    step = _step()
    assert word_cutoffs(0.8, 4) == (31, 39)  # one swapped word keeps word 4-gram J >= 0.8 from 39 words
    short = "A woman paints a picture of a large building which can be seen in the background."
    near = short.replace("woman", "person")
    # 16 words: one substituted word leaves word 4-gram Jaccard 0.73; character 5-grams 0.8+
    drops = _plan(step, [short, near, "An unrelated sentence about the weather in spring."])
    assert drops["_row"].to_list() == [1] and drops["dup_of"].to_list() == ["d0"]
    assert _plan(_step(shingle="word"), [short, near]).height == 0
    # a document in the margin (31-38 words) has both sets, so it still meets a longer copy by words
    body = " ".join(f"w{i}" for i in range(36))
    longer = body + " tail words " + " ".join(f"x{i}" for i in range(3))  # 41 words: words only
    _, _, spaces = step.signatures(pl.Series([short, body, longer]))
    assert spaces.tolist() == [1, 3, 2]
    drops = _plan(step, [body, longer])
    assert drops["_row"].to_list() == [1]


def test_planted_near_duplicates_are_found_and_nothing_else(heitu_home, tmp_path, planted):
    inputs, truth = planted
    res = run_pipeline(_spec(tmp_path), [str(inputs / "*.jsonl")], tmp_path / "out", show_progress=False)
    rej = pl.read_parquet(sorted((res.out_dir / "rejects" / "minhash_dedup").glob("*.parquet")))
    assert set(rej["_reason"]) == {"near_duplicate"}
    found = dict(zip(rej["id"], rej["dup_of"]))
    assert found == truth
    assert len(_kept_ids(res.out_dir)) == res.manifest["counts"]["docs_read"] - len(truth)


def test_low_similarity_stsb_pairs_are_not_merged(shared_data):
    rows = [json.loads(l) for l in open(shared_data / "dedup" / "stsb_en_dev_pairs.jsonl", encoding="utf-8")]
    low = [r for r in rows if r["score"] <= 2.0][:300]
    texts = [t for r in low for t in (r["text"], r["text_b"])]
    drops = _plan(_step(), texts)
    # STS-B repeats some sentences across pairs: those copies (identical letters and digits,
    # e.g. "keyboard" / "key-board") are the only merges
    words = ["".join(re.findall(r"\w", t.lower())) for t in texts]
    merged = {(row, int(dup_of[1:])) for row, dup_of in zip(drops["_row"], drops["dup_of"])}
    assert all(words[a] == words[b] for a, b in merged)
    cluster = dict(merged)
    for i in range(0, len(texts), 2):
        if words[i] != words[i + 1]:
            assert cluster.get(i, i) != cluster.get(i + 1, i + 1)


def test_chinese_needs_character_shingles():
    base = ("本文提出了一种基于深度学习的图像分割方法，在公开数据集上取得了较好的效果，并分析了模型的误差来源。"
            "此外，我们讨论了该方法在医学影像中的应用前景，以及训练数据规模对分割精度的影响。")
    near = base.replace("较好", "很好")
    other = "我们研究了城市交通流量的时空分布特征，提出了预测模型，实验表明该方法优于已有方法。"
    auto = _plan(_step(), [base, near, other])
    assert auto["_row"].to_list() == [1] and auto["dup_of"].to_list() == ["d0"]
    # word shingles see one "word" per unpunctuated run: the edit breaks it
    words = _plan(_step(shingle="word"), [base, near, other])
    assert words.height == 0


def _variants() -> tuple[list[str], dict[str, list]]:
    body = " ".join(f"word{i} of the shared text number {i % 7}" for i in range(60))
    texts = [body, body + " and a longer tail of text", body + " tail", "an unrelated short text entirely"]
    extra = {"score": [0.1, 0.5, 0.9, 1.0], "meta": [json.dumps({"crawl": d}) for d in
                                                     ("2021-01-01", "2023-05-01", "2022-02-02", "2024-01-01")],
             "source": [{"date": d} for d in ("2020", None, "2022", "2024")]}
    return texts, extra


@pytest.mark.parametrize("params, keeper", [
    ({"keep": "first"}, "d0"),
    ({"keep": "longest"}, "d1"),
    ({"keep": "highest", "signal": "score"}, "d2"),
    ({"keep": "newest", "date_field": "crawl"}, "d1"),
    ({"keep": "newest"}, "d2"),  # source.date; a missing date loses
])
def test_keep_policies_choose_the_documented_keeper(params, keeper):
    texts, extra = _variants()
    drops = _plan(_step(threshold=0.7, **params), texts, extra)
    cluster = {"d0", "d1", "d2"}
    assert set(drops["dup_of"]) == {keeper}
    assert {f"d{r}" for r in drops["_row"]} == cluster - {keeper}
    assert set(drops[CLUSTER_COLUMN]) == {0}  # the cluster id: source-order number of its first doc


def test_ties_go_to_source_order():
    texts = ["alpha beta gamma delta epsilon zeta eta theta iota kappa"] * 3
    drops = _plan(_step(keep="longest"), texts)
    assert drops["dup_of"].to_list() == ["d0", "d0"]


def test_runs_are_deterministic_with_any_worker_count(heitu_home, tmp_path, planted):
    inputs, _ = planted
    spec = _spec(tmp_path, {"keep": "longest"})
    a = run_pipeline(spec, [str(inputs)], tmp_path / "o1", workers=1, show_progress=False)
    b = run_pipeline(spec, [str(inputs)], tmp_path / "o2", workers=2, show_progress=False)
    assert a.version == b.version
    assert _kept_ids(a.out_dir) == _kept_ids(b.out_dir)
    ra = pl.read_parquet(sorted((a.out_dir / "rejects").rglob("*.parquet"))).sort("id")
    rb = pl.read_parquet(sorted((b.out_dir / "rejects").rglob("*.parquet"))).sort("id")
    assert ra.select("id", "dup_of", CLUSTER_COLUMN).equals(rb.select("id", "dup_of", CLUSTER_COLUMN))


def test_ledger_and_explain_show_dup_of_and_cluster(heitu_home, tmp_path, planted):
    inputs, truth = planted
    res = dedup_command(str(inputs / "*.jsonl"), tmp_path / "out", threshold=0.8, show_progress=False)
    rej = rejects(res.out_dir, "minhash_dedup", "near_duplicate", 10)
    assert set(rej["id"]) == set(truth)
    manifest = json.loads((res.out_dir / "manifest.json").read_text())
    (trail,) = explain(res.out_dir, manifest, "copy-para")
    assert trail.fate == "dropped" and trail.dropped_by == "minhash_dedup"
    assert trail.reason == "near_duplicate" and trail.dup_of == truth["copy-para"]
    (ev,) = [e for e in trail.events if e.step == "minhash_dedup"]
    assert isinstance(ev.signals[CLUSTER_COLUMN], int)
    (orig,) = explain(res.out_dir, manifest, truth["copy-para"])
    assert orig.fate == "kept"


def test_verification_removes_lsh_false_positives():
    # 40 bands of one value: any single equal min-hash makes a candidate, so pairs sharing
    # about a third of their shingles collide; the exact Jaccard (~0.3) rejects them
    shared = " ".join(f"s{i}" for i in range(40))
    texts = [shared + " " + " ".join(f"a{i}" for i in range(40)), shared + " " + " ".join(f"b{i}" for i in range(40))]
    texts += [texts[0] + " x", "unrelated words that share nothing with the rest at all here"]
    loose = {"threshold": 0.8, "num_perm": 40, "bands": 40, "rows": 1, "ngram": 1}
    unverified = _plan(_step(verify=False, **loose), texts)
    verified = _plan(_step(verify=True, **loose), texts)
    assert unverified["_row"].to_list() == [1, 2]  # d1 (Jaccard 1/3 with d0) is an LSH false positive
    assert verified["_row"].to_list() == [2] and verified["dup_of"].to_list() == ["d0"]
    assert verified.height <= unverified.height


@pytest.mark.parametrize("params, message", [
    ({"threshold": 1.5}, "threshold"),
    ({"bands": 4}, "give both bands and rows"),
    ({"bands": 20, "rows": 20}, "exceeds num_perm"),
    ({"keep": "highest"}, "needs `signal`"),
    ({"keep": "oldest"}, "keep"),
    ({"treshold": 0.8}, "treshold"),
    ({"ngram": 0}, "ngram"),
])
def test_bad_params_are_clear_user_errors(params, message):
    with pytest.raises(UserError, match=message):
        _step(**params)


def test_missing_signal_column_is_a_user_error(heitu_home, tmp_path, planted):
    inputs, _ = planted
    with pytest.raises(UserError, match="no_such_score"):
        run_pipeline(_spec(tmp_path, {"keep": "highest", "signal": "no_such_score"}), [str(inputs)],
                     tmp_path / "out", show_progress=False)


def test_dedup_command_checks_params_before_any_work(heitu_home, tmp_path, planted):
    inputs, _ = planted
    with pytest.raises(UserError, match="heitu data dedup.*threshold"):
        dedup_command(str(inputs), tmp_path / "out", threshold=1.2, show_progress=False)
    assert not (tmp_path / "out").exists()


def test_spilled_partitions_give_the_same_drops(monkeypatch, tmp_path, planted):
    """The plan sorts band hashes one spilled partition at a time and verifies pairs in chunks
    against spilled shingle sets; tiny partitions and chunks must not change a single drop."""
    import heitu.data.steps.minhash as mh

    inputs, truth = planted
    docs = [json.loads(line) for f in sorted(inputs.glob("*.jsonl")) for line in open(f, encoding="utf-8")]
    texts = [d["text"] for d in docs]
    whole = _plan(_step(), texts)
    assert whole.height == len(truth)
    monkeypatch.setattr(mh, "_PART_ROWS", 64)
    monkeypatch.setattr(mh, "_BATCH_ROWS", 7)
    monkeypatch.setattr(mh, "_PAIRS_CHUNK", 3)
    monkeypatch.setattr(mh, "_TEXT_BATCH_ROWS", 5)
    step = _step()
    step.spill_dir = tmp_path / "spill"
    step.spill_dir.mkdir()
    split = _plan(step, texts)
    assert split.equals(whole)
    assert list(step.spill_dir.iterdir()) == []  # the plan's spill files are gone
