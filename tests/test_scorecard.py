"""The heitu-quality-v1 scorecard, the reference LM and the dataset diff, on real pipeline runs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import real_docs, write_jsonl

from heitu.data.quality.diff import diff_datasets, render_diff
from heitu.data.quality.reference_lm import ReferenceLM, train_reference_lm
from heitu.data.quality.scorecard import BANDS, compute_scorecard, count_tokens, grade
from heitu.data.run import run_pipeline

SPEC = """
name: test-quality
steps:
  - type: zh_signals
  - name: zh_quality
    type: select
    params:
      rules:
        - {reason: not_chinese, keep: "zh_cjk_ratio_v1 >= 0.3"}
        - {reason: too_short, keep: "zh_char_len_v1 >= MINLEN"}
  - type: pii_redact
  - type: exact_dedup
writer: {shard_size_mb: 1}
batch_docs: 64
"""

N_DUP = 12
PII_DOCS = range(40, 45)  # each gets one phone number and one e-mail address
PII_TWO_EMAILS = 45  # gets two e-mail addresses


def _spec(tmp_path: Path, minlen: int) -> Path:
    p = tmp_path / f"spec-{minlen}.yaml"
    p.write_text(SPEC.replace("MINLEN", str(minlen)))
    return p


def _zh(shared: Path, n: int = 200) -> list[dict]:
    docs = real_docs(shared, n_zh=n, n_en=0)
    seen, out = set(), []
    for d in docs:  # the real sample without accidental repeats, so the planted ones are all there is
        if d["text"] not in seen:
            seen.add(d["text"])
            out.append(d)
    return out


@pytest.fixture
def planted(tmp_path, shared_data) -> tuple[Path, dict]:
    zh = _zh(shared_data)
    en = real_docs(shared_data, n_zh=0, n_en=30)
    for i in PII_DOCS:
        zh[i] = {"text": zh[i]["text"] + f"\n联系人手机 1380013800{i % 10}，邮箱 person{i}@example.com。"}
    zh[PII_TWO_EMAILS] = {"text": zh[PII_TWO_EMAILS]["text"] + "\n投稿 a@example.org 或 b@example.net。"}
    dups = [dict(zh[i]) for i in range(100, 100 + N_DUP)]
    write_jsonl(tmp_path / "in" / "a.jsonl", zh[:120] + en)
    write_jsonl(tmp_path / "in" / "b.jsonl", zh[120:] + dups)
    return tmp_path / "in", {"zh": len(zh), "en": len(en)}


def _run(tmp_path: Path, inputs: Path, name: str, minlen: int = 60):
    res = run_pipeline(_spec(tmp_path, minlen), [str(inputs / "*.jsonl")], tmp_path / name,
                       show_progress=False, register=False)
    return res.out_dir, res.manifest


def test_scorecard_reproducible_provenance_pii_dups(heitu_home, tmp_path, planted):
    inputs, _ = planted
    out, man = _run(tmp_path, inputs, "out")
    card = compute_scorecard(out, man, sample=50)
    again = compute_scorecard(out, man, sample=50)
    assert json.dumps(card, sort_keys=True) == json.dumps(again, sort_keys=True)
    json.dumps(card, allow_nan=False)  # strictly JSON-serialisable
    assert card["standard"] == "heitu-quality-v1" and card["dataset"] == man["version"]
    assert card["computed_with"]["tokenizer"] == "heitu-wscjk-v1"
    assert all(f["sha256"] for f in card["computed_with"]["files"])  # every file read has its checksum
    assert card["computed_with"]["sample"]["drawn"] == 50
    kept = card["dimensions"]["scale"]["metrics"]["documents"]
    assert kept == man["counts"]["docs_kept"]

    prov = card["dimensions"]["provenance"]["metrics"]
    assert prov["dropped"] == man["counts"]["docs_read"] - kept > 0
    assert prov["dropped_with_reason_share"] == 1.0
    assert prov["source_share"] == 1.0

    # hand count of the planted PII: 5 phones, 5 + 2 e-mail addresses, all in kept documents
    pii = card["dimensions"]["safety"]["metrics"]["pii_per_1000_docs"]
    assert pii["phone"] == pytest.approx(5 / kept * 1000, rel=1e-5)
    assert pii["email"] == pytest.approx(7 / kept * 1000, rel=1e-5)

    # the planted duplicates are the only ones: rate = planted / documents entering dedup
    dup = card["dimensions"]["duplication"]
    entering = kept + N_DUP  # every original is kept, every planted copy is dropped
    assert dup["metrics"]["exact_dup_rate_removed"] == pytest.approx(N_DUP / entering, rel=1e-5)
    assert dup["metrics"]["exact_dup_clusters"]["clusters"] == N_DUP
    assert dup["metrics"]["exact_dup_clusters"]["histogram"]["2"] == N_DUP
    assert dup["metrics"]["residual_exact_dup_rate"] == 0.0
    assert dup["metrics"]["near_dup_rate_removed"] is None and dup["grade"] == "B"  # near-dup not measured: capped
    assert card["dimensions"]["informativeness"]["metrics"]["perplexity"] is None  # no reference LM given
    assert card["overall"]["grade"] in "ABCDE"


def test_grade_bands_as_documented(heitu_home, tmp_path, shared_data):
    assert grade(0.01, BANDS["cleanliness"]["bounds"], False) == "A"
    assert grade(0.0101, BANDS["cleanliness"]["bounds"], False) == "B"
    assert grade(0.25, BANDS["cleanliness"]["bounds"], False) == "D"
    assert grade(0.26, BANDS["cleanliness"]["bounds"], False) == "E"
    assert grade(0.99, BANDS["language"]["bounds"], True) == "A"
    assert grade(0.5, BANDS["language"]["bounds"], True) == "E"
    zh = _zh(shared_data, 100)
    # the same documents, 30 % of them with a templated footer repeated five times (a boilerplate signal:
    # over a tenth of their characters in duplicated lines), kept by a recipe without a repetition rule
    footer = "\n" + "\n".join(["本站所有文章均来自网络转载仅供学习参考"] * 5)
    dirty = [{"text": d["text"] + (footer if i % 10 < 3 else "")} for i, d in enumerate(zh)]
    write_jsonl(tmp_path / "clean" / "x.jsonl", zh)
    write_jsonl(tmp_path / "dirty" / "x.jsonl", dirty)
    c_out, c_man = _run(tmp_path, tmp_path / "clean", "out-clean")
    d_out, d_man = _run(tmp_path, tmp_path / "dirty", "out-dirty")
    clean = compute_scorecard(c_out, c_man, sample=20)["dimensions"]["cleanliness"]
    dirt = compute_scorecard(d_out, d_man, sample=20)["dimensions"]["cleanliness"]
    share_c, share_d = clean["metrics"]["boilerplate_share"], dirt["metrics"]["boilerplate_share"]
    assert share_d == pytest.approx(share_c + 0.3, abs=0.011)
    assert clean["grade"] == grade(share_c, BANDS["cleanliness"]["bounds"], False)
    assert dirt["grade"] == "E"  # > 0.25 of the kept documents signal boilerplate
    assert clean["grade"] < dirt["grade"]


def test_diff_names_the_rule_that_explains_the_change(heitu_home, tmp_path, planted):
    inputs, _ = planted
    a = _run(tmp_path, inputs, "out-60", minlen=60)
    b = _run(tmp_path, inputs, "out-200", minlen=200)
    d = diff_datasets(a, b, sample=30)
    top = d["explained_by"][0]
    assert (top["step"], top["reason"]) == ("zh_quality", "too_short")
    assert top["rule_changed"] and top["rule_b"] == "zh_char_len_v1 >= 200"
    assert top["delta"] > 0 and d["documents"]["removed"] > 0
    # the drop-count changes account for every removed document (a planted copy of a now too-short
    # document is dropped by too_short instead of exact_dedup, hence the sum)
    assert sum(e["delta"] for e in d["explained_by"]) == d["documents"]["removed"]
    assert d["documents"]["added"] == 0
    assert d["a"]["docs_kept"] - d["b"]["docs_kept"] == d["documents"]["removed"]
    assert any(m["metric"] == "scale.documents" for m in d["metrics"])
    text = render_diff(d)
    assert "zh_quality/too_short" in text and "zh_char_len_v1 >= 200" in text
    json.dumps(d, allow_nan=False)


def test_reference_lm_perplexity(heitu_home, tmp_path, shared_data):
    zh = [d["text"] for d in _zh(shared_data, 700)]
    train, held = zh[:600], zh[600:]
    path = tmp_path / "ref.json.gz"
    lm = train_reference_lm(train, path, order=3)
    loaded = ReferenceLM.load(path)
    assert loaded.checksum == lm.checksum
    assert train_reference_lm(train, tmp_path / "ref2.json.gz").checksum == lm.checksum  # same corpus, same bytes
    rng = random.Random(0)
    shuffled = ["".join(rng.sample(t, len(t))) for t in held]
    p_clean = loaded.perplexity(held)
    p_shuf = loaded.perplexity(shuffled)
    assert p_clean == lm.perplexity(held)
    assert sorted(p_clean)[len(held) // 2] * 3 < sorted(p_shuf)[len(held) // 2]
    assert sum(c < s for c, s in zip(p_clean, p_shuf)) == len(held)


def test_scorecard_perplexity_with_reference_lm(heitu_home, tmp_path, shared_data):
    zh = _zh(shared_data, 300)
    lm_path = tmp_path / "ref.json.gz"
    train_reference_lm([d["text"] for d in zh[150:]], lm_path)
    write_jsonl(tmp_path / "in" / "x.jsonl", zh[:150])
    out, man = _run(tmp_path, tmp_path / "in", "out")
    card = compute_scorecard(out, man, reference_lm=lm_path, sample=40)
    ppl = card["dimensions"]["informativeness"]["metrics"]["perplexity"]
    assert ppl["docs"] == 40 and ppl["median"] > 1
    assert card["computed_with"]["reference_lm"]["checksum"] == ReferenceLM.load(lm_path).checksum
    assert card == compute_scorecard(out, man, reference_lm=lm_path, sample=40)


def test_tokenizer_definition():
    assert count_tokens("机器学习 is fun, 真的!") == 4 + 1 + 1 + 2 + 1  # 机 器 学 习 / is / fun, / 真 的 / !
    assert count_tokens("") == 0


def test_near_duplicates_reported_when_a_minhash_step_exists(heitu_home, tmp_path, shared_data):
    from heitu.data.steps import STEP_TYPES, load_builtin_steps

    load_builtin_steps()
    if "minhash_dedup" not in STEP_TYPES:
        pytest.skip("no minhash_dedup step in this checkout")
    zh = _zh(shared_data, 120)
    near = [{"text": zh[i]["text"].replace("。", "。 ", 1) + "本文。"} for i in range(5)]  # near, not exact
    write_jsonl(tmp_path / "in" / "x.jsonl", zh + near)
    spec = tmp_path / "near.yaml"
    spec.write_text(SPEC.replace("MINLEN", "60").replace("  - type: exact_dedup\n",
                                                        "  - type: exact_dedup\n  - type: minhash_dedup\n"))
    res = run_pipeline(spec, [str(tmp_path / "in" / "*.jsonl")], tmp_path / "out", show_progress=False,
                       register=False)
    dup = compute_scorecard(res.out_dir, res.manifest, sample=10)["dimensions"]["duplication"]
    step = next(s for s in res.manifest["counts"]["steps"] if s["name"] == "minhash_dedup")
    assert dup["metrics"]["near_dup_measured"] is True
    assert dup["metrics"]["near_dup_rate_removed"] == pytest.approx(sum(step["dropped"].values()) / step["in"], rel=1e-5)
    assert dup["metrics"]["near_dup_clusters"]["clusters"] >= 1
