"""The `normalize` transform: NFKC (keeping full-width CJK punctuation), mojibake repair,
traditional -> simplified, control characters, line breaks and whitespace, idempotence."""

from __future__ import annotations

import json
import pickle

import pyarrow as pa
import pytest

from conftest import doc_batch
from heitu.data.steps.base import STEP_TYPES
from heitu.data.steps.normalize import (
    CHANGED_COLUMN,
    CJK_PUNCT_KEEP,
    Normalize,
    NormalizeParams,
    Normalizer,
    normalize_text,
)


def test_registered():
    assert STEP_TYPES["normalize"] is Normalize
    assert Normalize("n").output_columns() == [CHANGED_COLUMN]


def test_params_forbid_unknown_fields():
    with pytest.raises(Exception):
        NormalizeParams(nfkd=True)


def test_nfkc_full_width_ascii_letters_and_digits():
    assert normalize_text("ＡＢＣ　ｘｙｚ１２３") == "ABC xyz123"
    assert normalize_text("ﬁne") == "fine"  # ligature


def test_full_width_cjk_punctuation_kept():
    s = "你好，世界！真的吗？是的：好；（注）……完。"
    assert normalize_text(s) == s
    for ch in CJK_PUNCT_KEEP:
        assert normalize_text(f"字{ch}字") == f"字{ch}字"
    # while the letters around it are still normalised
    assert normalize_text("ＡＢ，ｃ！") == "AB，c！"


def test_plain_nfkc_when_asked():
    assert normalize_text("你好，世界！……", keep_cjk_punct=False) == "你好,世界!......"


def test_mojibake_repaired_quotes_kept_curly():
    assert normalize_text("â€œquotedâ€\x9d") == "“quoted”"
    assert normalize_text("cafÃ© Ã  la carte") == "café à la carte"
    # clean text with curly quotes/dashes is left alone (no uncurling, no width folding)
    assert normalize_text("“Curly” — ‘quotes’") == "“Curly” — ‘quotes’"


def test_mojibake_off():
    assert normalize_text("cafÃ©", fix_mojibake=False) == "cafÃ©"


def test_t2s():
    assert normalize_text("漢語", t2s=True) == "汉语"
    assert normalize_text("漢語") == "漢語"  # off by default
    assert normalize_text("臺灣的這裡，很好！", t2s=True) == "台湾的这里，很好！"


def test_control_and_format_chars_removed():
    assert normalize_text("a\x00b\x07c\u200bd\ufeffe\x1bf") == "abcdef"
    # tab and newline stay; ZWJ stays (emoji sequences)
    assert normalize_text("a\tb\nc") == "a\tb\nc"
    assert normalize_text("👨\u200d👩") == "👨\u200d👩"


def test_line_breaks_normalised():
    assert normalize_text("a\r\nb\rc\u2028d\ve") == "a\nb\nc\nd\ne"
    # A lone C1 control is nearly always cp1252 read as latin-1: ftfy repairs U+0085 to '…';
    # without mojibake repair it is a NEL line break.
    assert normalize_text("a\x85e") == "a…e"
    assert normalize_text("a\x85e", fix_mojibake=False) == "a\ne"


def test_whitespace_layout():
    assert normalize_text("  a   b \t c  \n") == "a b c"
    assert normalize_text("x   \ny\t\n") == "x\ny"
    assert normalize_text("a\n\n\n\n\n\nb") == "a\n\n\nb"  # 3+ blank lines -> 2
    assert normalize_text("a\n\n\nb") == "a\n\n\nb"  # 2 blank lines kept
    # leading indentation inside the document is kept (code)
    assert normalize_text("def f():\n    return 1") == "def f():\n    return 1"


def test_everything_off_is_identity():
    s = "  ＡＢ\x00\r\n漢語  "
    assert normalize_text(s, nfkc=False, fix_mojibake=False, t2s=False, strip_control=False) == s


CASES = [
    "ＡＢＣ１２３，你好！",
    "â€œquotedâ€\x9d and cafÃ©",
    "漢語  臺灣\r\n\r\n\r\n\r\n\r\n下一段\x00",
    "e\u200b\u0301 composed after removal",
    "\u3000\u3000段落开始。……  结束  \n\n",
    "Ⅰ～Ⅱ型 120℃ ㈠ ① ½",
]


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("t2s", [False, True])
def test_idempotent(text, t2s):
    n = Normalizer(NormalizeParams(t2s=t2s))
    once = n(text)
    assert n(once) == once


def test_idempotent_on_shared_corpora(shared_data):
    n = Normalizer(NormalizeParams(t2s=True))
    files = sorted((shared_data / "chinese_text").glob("*.jsonl")) + sorted((shared_data / "english_web").glob("*.jsonl"))
    count = 0
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            text = json.loads(line).get("text")
            if isinstance(text, str):
                once = n(text)
                assert n(once) == once, (f.name, text[:80])
                count += 1
    assert count > 1000


def test_step_rewrites_text_flags_changes_and_clears_cache():
    step = Normalize("norm", NormalizeParams(t2s=True))
    batch = doc_batch(["plain ascii", "ＡＢＣ", "漢語", "already clean。"])
    cache = {"lines": "stale"}
    out = step.transform(batch, cache)
    assert out.column("text").to_pylist() == ["plain ascii", "ABC", "汉语", "already clean。"]
    assert out.column(CHANGED_COLUMN).to_pylist() == [False, True, True, False]
    assert out.schema.field(CHANGED_COLUMN).type == pa.bool_()
    assert out.column("id").to_pylist() == ["0", "1", "2", "3"]
    assert cache == {}


def test_step_keeps_cache_when_nothing_changes():
    step = Normalize("norm")
    cache = {"lines": "kept"}
    out = step.transform(doc_batch(["clean text", "干净的文本。"]), cache)
    assert cache == {"lines": "kept"}
    assert out.column(CHANGED_COLUMN).to_pylist() == [False, False]
    assert out.column("text").to_pylist() == ["clean text", "干净的文本。"]


def test_step_pickles_after_use():
    step = Normalize("norm", NormalizeParams(t2s=True))
    step.transform(doc_batch(["漢語"]), {})
    clone = pickle.loads(pickle.dumps(step))
    assert clone.transform(doc_batch(["漢語"]), {}).column("text").to_pylist() == ["汉语"]
