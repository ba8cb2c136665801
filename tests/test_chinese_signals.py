"""zh_signals: Chinese web-text signals, the shipped lexicons and the zh-web recipe."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import yaml

from heitu.data.steps.base import STEP_TYPES, with_columns
from heitu.data.steps.chinese import (
    COLUMNS,
    KW_CATEGORIES,
    LEXICON_DIR,
    ZhSignals,
    ZhSignalsParams,
    doc_stats,
    read_lexicons,
)
from heitu.data.steps.lang import LangId

RECIPE = Path(__file__).resolve().parents[1] / "src" / "heitu" / "data" / "recipes" / "zh-web.yaml"


def _texts(path: Path, n: int | None = None) -> list[str]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for line in f]
    return rows[:n] if n else rows


def _nfkc(texts: list[str]) -> list[str]:
    return [unicodedata.normalize("NFKC", t) for t in texts]


def _stats(texts: list[str | None], **kw) -> dict[str, np.ndarray]:
    return doc_stats(pa.array(texts, pa.string()), **kw)


def _annotate(texts: list[str], **params) -> dict[str, np.ndarray]:
    out = ZhSignals("zh_signals", ZhSignalsParams(**params)).annotate(pa.RecordBatch.from_pydict({"text": texts}), {})
    return {k: np.asarray(v) for k, v in out.items()}


def _dj_char_rep(text: str, n: int = 10) -> float:
    """Data-Juicer character_repetition_filter's char_rep_ratio, written out plainly."""
    freqs: dict[str, int] = {}
    for i in range(len(text) - n + 1):
        freqs[text[i : i + n]] = freqs.get(text[i : i + n], 0) + 1
    if not freqs:
        return 0.0
    values = sorted(freqs.values(), reverse=True)
    n_rep = min(int(np.sqrt(len(values))), len(values) - sum(1 for v in values if v == 1))
    return sum(values[:n_rep]) / sum(values)


# --- registration and columns -------------------------------------------------------------


def test_registered_and_columns():
    assert STEP_TYPES["zh_signals"] is ZhSignals
    step = ZhSignals("zh_signals")
    assert step.output_columns() == list(COLUMNS)
    out = step.annotate(pa.RecordBatch.from_pydict({"text": ["中文。", ""]}), {})
    assert set(out) == set(COLUMNS)
    assert all(len(v) == 2 for v in out.values())


# --- CJK ratio, length, lines -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, ratio, length",
    [
        ("中文abc", 2 / 5, 5),
        ("中文 abc\n", 2 / 5, 5),  # whitespace is not counted
        ("你好，世界。", 4 / 6, 6),  # full-width punctuation is not an ideograph
        ("日本語のテキスト", 3 / 8, 8),  # kana are not ideographs
        ("한국어", 0.0, 3),
        ("𠀀〇一", 1.0, 3),  # Extension B and U+3007 count
        ("\u3000 \t\n", 0.0, 0),  # ideographic space is whitespace
        ("", 0.0, 0),
    ],
)
def test_cjk_ratio_and_length_exact(text, ratio, length):
    s = _stats([text])
    assert s["zh_cjk_ratio_v1"][0] == pytest.approx(ratio, abs=1e-6)
    assert s["zh_char_len_v1"][0] == length


def test_mean_line_length_over_non_empty_lines():
    s = _stats(["ab\n\n  cde  \n", "一二三四五六七八九十", "\n\n"])
    assert s["zh_mean_line_len_v1"].tolist() == pytest.approx([2.5, 10.0, 0.0])


def test_null_sliced_and_large_string_arrays():
    arr = pa.array(["x", "中文", None, "中文abc"], pa.string())
    s = doc_stats(arr.slice(1, 3))
    assert s["zh_char_len_v1"].tolist() == [2, 0, 5]
    big = doc_stats(pa.array(["中文", "a b"], pa.large_string()))
    assert big["zh_char_len_v1"].tolist() == [2, 2]
    chunked = doc_stats(pa.chunked_array([["中文"], ["a b", None]]))
    assert chunked["zh_char_len_v1"].tolist() == [2, 2, 0]


# --- sentence-final punctuation -----------------------------------------------------------


@pytest.mark.parametrize(
    "line, ends",
    [
        ("这是一句话。", True),
        ("他说：“你好。”", True),  # closing quote after the full stop
        ("真的吗？", True),
        ("未完待续……", True),
        ("中文句子.", True),  # ASCII full stop in a Chinese line (typed, or NFKC of ．)
        ("含量为12.045 mg/g.", True),  # after a unit, still a Chinese sentence
        (unicodedata.normalize("NFKC", "太好了！"), True),  # NFKC turns ！ into !
        ("Hello world.", False),  # no CJK in the line: English sentence
        ("Share this...", False),
        ("没有标点", False),
        ("首页 | 新闻 | 联系我们", False),
        ("「引号」", False),
    ],
)
def test_punct_end_single_line(line, ends):
    assert _stats([line])["zh_punct_end_lines_frac_v1"][0] == (1.0 if ends else 0.0)


def test_punct_end_fraction_counts_non_empty_lines():
    doc = "第一句话。\n\n导航\nHello.\n第二句话！  \n"
    assert _stats([doc])["zh_punct_end_lines_frac_v1"][0] == pytest.approx(2 / 4)


# --- character n-gram repetition ------------------------------------------------------------


def test_repetition_matches_data_juicer_definition(shared_data):
    texts = _texts(shared_data / "chinese_text" / "fewclue_csldcp_test_public.jsonl", 300)
    texts += _texts(shared_data / "chinese_text" / "datajuicer_mixed_web_snippets.jsonl")
    texts += ["ab" * 30, "一二三四五六七八九十" * 5, "短", "", "x" * 3000]
    for n in (10, 5):
        got = _stats(texts, rep_len=n)["zh_char_ngram_rep_v1"]
        want = np.array([_dj_char_rep(t, n) for t in texts])
        np.testing.assert_allclose(got, want, atol=1e-6)
    crafted = _stats(["ab" * 30, "一二三四五六七八九十" * 5])["zh_char_ngram_rep_v1"]
    assert crafted.tolist() == pytest.approx([26 / 51, 13 / 41])


def test_repetition_high_on_repeated_text_low_on_news(shared_data):
    assert _stats(["哈" * 200])["zh_char_ngram_rep_v1"][0] == pytest.approx(1.0)
    assert _stats(["顶顶顶！" * 50])["zh_char_ngram_rep_v1"][0] > 0.4
    # a long line repeated: the n-gram statistic stays low (k = sqrt(U) caps it), the
    # duplicate-line fraction sees it
    spam = "\n".join(["本站提供最新电影免费在线观看，欢迎收藏本站！"] * 20)
    s = _stats([spam])
    assert s["zh_char_ngram_rep_v1"][0] < 0.3
    assert s["zh_dup_line_char_frac_v1"][0] == pytest.approx(19 / 20)
    news = [
        json.loads(line)["text"]
        for line in (shared_data / "html" / "gne_chinese_news" / "gne_reference_extractions.jsonl").open(encoding="utf-8")
    ]
    rep = _stats(news)["zh_char_ngram_rep_v1"]
    assert np.median(rep) < 0.05 and rep.max() < 0.3
    titles = _texts(shared_data / "chinese_text" / "fewclue_tnews_test_public.jsonl")
    assert np.percentile(_stats(titles)["zh_char_ngram_rep_v1"], 99) < 0.1


def test_duplicate_line_fraction():
    s = _stats(["甲乙丙\n  甲乙丙 \n丁\n\n甲乙丙", "一行。", "", "同一行\n同一行。"])
    assert s["zh_dup_line_char_frac_v1"].tolist() == pytest.approx([6 / 10, 0.0, 0.0, 0.0])


def test_duplicate_lines_rare_in_clean_news(shared_data):
    news = _texts(shared_data / "html" / "gne_chinese_news" / "gne_reference_extractions.jsonl")
    assert np.median(_stats(news)["zh_dup_line_char_frac_v1"]) == 0.0


# --- keyword densities ----------------------------------------------------------------------


def test_keyword_density_fires_on_ads_and_gambling():
    docs = [
        "澳门新葡京娱乐城，真人荷官在线发牌，注册送彩金！\n加微信了解详情，咨询热线：400-123-4567",
        "招商加盟，厂家直销，一手货源，全国包邮。",
        "百家乐开户，时时彩代理，网上投注平台。",
    ]
    out = _annotate(docs)
    assert out["zh_kw_gambling_density_v1"][0] >= 0.5 and out["zh_kw_ad_density_v1"][0] >= 1.0
    assert out["zh_kw_ad_density_v1"][1] >= 3.0  # 4 phrases on 1 line
    assert out["zh_kw_gambling_density_v1"][2] >= 3.0
    assert out["zh_kw_porn_density_v1"].tolist() == [0.0, 0.0, 0.0]


def test_keyword_density_is_per_non_empty_line():
    out = _annotate(["百家乐开户\n\n今天天气很好。\n我们去公园散步。\n   \n晚上回家吃饭。"])
    assert out["zh_kw_gambling_density_v1"][0] == pytest.approx(1 / 4)


def test_keyword_ascii_edges_need_word_boundaries():
    out = _annotate(["pornography is a long word", "free PORN here", "分离到一个cDNA片段", "看a片"])
    assert out["zh_kw_porn_density_v1"].tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("name", ["fewclue_tnews_test_public.jsonl", "fewclue_csldcp_test_public.jsonl", "fewclue_eprstmt_test_public.jsonl"])
def test_keywords_almost_never_fire_on_clean_text(shared_data, name):
    out = _annotate(_nfkc(_texts(shared_data / "chinese_text" / name)))
    for cat in KW_CATEGORIES:
        fired = (out[f"zh_kw_{cat}_density_v1"] > 0).mean()
        assert fired <= 0.005, (cat, fired)


def test_keywords_can_be_switched_off():
    out = ZhSignals("zh", ZhSignalsParams(keywords=False)).annotate(pa.RecordBatch.from_pydict({"text": ["百家乐"]}), {})
    assert out["zh_kw_gambling_density_v1"].null_count == 1


def test_custom_lexicon_dir(tmp_path):
    (tmp_path / "ad.mine.txt").write_text("# my list\n特价促销\n", encoding="utf-8")
    out = _annotate(["今日特价促销。", "百家乐"], lexicon_dir=str(tmp_path))
    assert out["zh_kw_ad_density_v1"].tolist() == [1.0, 0.0]
    assert out["zh_kw_gambling_density_v1"].tolist() == [0.0, 0.0]


# --- shipped lexicons -----------------------------------------------------------------------


def test_lexicon_files_are_documented_and_clean():
    files = sorted(LEXICON_DIR.glob("*.txt"))
    sources = (LEXICON_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert {f.name.split(".")[0] for f in files} == set(KW_CATEGORIES)
    for f in files:
        assert f"`{f.name}`" in sources, f"{f.name} has no SOURCES.md entry"
    for licence in ("licenses/Sensitive-lexicon-MIT.txt", "licenses/LDNOOBW-CC-BY-4.0.txt"):
        assert (LEXICON_DIR / licence).is_file()
        assert licence in sources
    for needle in ("5a8da94c61c160e203a6b2fcfafbea642404d50c", "5faf2ba42d7b1c0977169ec3611df25a3c08eb13", "MIT", "CC-BY-4.0"):
        assert needle in sources
    total = sum(p.stat().st_size for p in LEXICON_DIR.rglob("*") if p.is_file())
    assert total < 1_000_000
    lex = read_lexicons()
    for cat, terms in lex.items():
        assert len(terms) >= 30, cat
        for t in terms:
            assert len(t) >= 2, (cat, t)
            assert t == unicodedata.normalize("NFKC", t).lower(), (cat, t)
            assert not (t.isascii() and len(t) < 4), (cat, t)


# --- the zh-web recipe ----------------------------------------------------------------------


def _recipe_rules() -> list[dict]:
    spec = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    assert spec["name"] == "zh-web"
    types = [s["type"] for s in spec["steps"]]
    assert types.index("lang_id") < types.index("select") and types.index("zh_signals") < types.index("select")
    selects = [s for s in spec["steps"] if s["type"] == "select"]
    assert len(selects) == 1
    return selects[0]["params"]["rules"]


def test_recipe_rules_read_only_our_columns():
    rules = _recipe_rules()
    produced = set(ZhSignals("z").output_columns()) | set(LangId("l").output_columns())
    assert len({r["reason"] for r in rules}) == len(rules)
    for rule in rules:
        cols = set(pl.sql_expr(rule["keep"]).meta.root_names())
        assert cols and cols <= produced, (rule["reason"], cols - produced)


def test_recipe_pass_rates_on_shared_text(shared_data):
    from heitu.data.steps.select import Select, SelectParams

    select = Select("zh_quality", SelectParams.model_validate({"rules": _recipe_rules()}))
    lang, zh = LangId("lang_id"), ZhSignals("zh_signals")

    def pass_rate(texts):
        batch = pa.RecordBatch.from_pydict({"text": _nfkc(texts)})
        cache: dict = {}
        batch = with_columns(batch, lang.annotate(batch, cache))
        batch = with_columns(batch, zh.annotate(batch, cache))
        return select.keep(batch, cache)[0].mean()

    ct = shared_data / "chinese_text"
    assert pass_rate(_texts(ct / "fewclue_csldcp_test_public.jsonl")) >= 0.85  # clean abstracts
    assert pass_rate(_texts(ct / "datajuicer_mixed_web_snippets.jsonl")) <= 0.1  # boilerplate
    assert pass_rate(_texts(shared_data / "english_web" / "enwiki_sample.jsonl")) == 0.0


def test_recipe_loads_as_a_pipeline_spec():
    from heitu.data.pipeline import build_steps, load_spec

    spec = load_spec(RECIPE)
    names = [s.type_name for s in build_steps(spec)]
    assert names[:4] == ["normalize", "lang_id", "zh_signals", "select"]
