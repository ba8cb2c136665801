"""English web quality signals (heitu/data/steps/english.py, textfeat.py).

datatrove is not installed in CI, so agreement with it is pinned by values recorded from
datatrove 0.10.1 / spaCy 3.8 (tokens, sentence counts, per-document decisions on
../shared/data/english_web) and by hand-checked signal values on crafted texts. The numba
kernels are also checked against plain-Python transcriptions of datatrove's code.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from heitu.data.pipeline import PipelineSpec, build_steps
from heitu.data.runner import process_batch
from heitu.data.steps import english as en
from heitu.data.steps import textfeat as tf

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "bench" / "specs" / "en-filters.yaml"
RECIPE = REPO / "src" / "heitu" / "data" / "recipes" / "en-web.yaml"

SOURCE = pa.struct([("file", pa.string()), ("offset", pa.int64()), ("url", pa.string()), ("date", pa.string())])


def _batch(texts: list[str], ids: list[str] | None = None) -> pa.RecordBatch:
    n = len(texts)
    return pa.record_batch(
        {
            "id": ids or [str(i) for i in range(n)],
            "text": pa.array(texts, pa.string()),
            "source": pa.nulls(n, SOURCE),
            "meta": pa.nulls(n, pa.string()),
        }
    )


def _annotate(step, texts: list[str]) -> dict[str, list]:
    cols = step.annotate(_batch(texts), {})
    return {k: np.asarray(v).tolist() for k, v in cols.items()}


def _run_spec(texts: list[str], spec_path: Path = SPEC) -> tuple[dict[str, str | None], pa.RecordBatch]:
    """keep/drop of every text through the spec's steps: {id: None (kept) | reason}."""
    spec = PipelineSpec.model_validate(yaml.safe_load(spec_path.read_text()))
    steps = build_steps(spec)
    ids = [str(i) for i in range(len(texts))]
    survivors, rejected, _ = process_batch(_batch(texts, ids), steps, {})
    out: dict[str, str | None] = {i: None for i in survivors.column("id").to_pylist()}
    for _, rows in rejected:
        for i, r in zip(rows.column("id").to_pylist(), rows.column("_reason").to_pylist()):
            out[i] = r
    return {i: out[i] for i in ids}, survivors


PROSE = (
    "The history of the town goes back to the twelfth century, when a small group of farmers "
    "settled on the banks of the river. Over the following centuries the settlement grew into "
    "a busy market town with a church, a school and a bridge that is still in use today. "
    "Visitors often remark that the old streets have kept much of their original character, and "
    "the local museum has a fine collection of tools and documents from that time.\n"
    "In the nineteenth century the railway arrived and with it a period of rapid growth. New "
    "factories were built near the station, and workers came from the surrounding villages to "
    "find employment. The population doubled within thirty years.\n"
    "Today the town is known for its annual summer festival, which attracts thousands of people "
    "from across the region. There is music, food and a parade through the centre of town."
)


# ---------------------------------------------------------------------------------------------
# tokenizer (values recorded from datatrove's split_into_words / split_into_sentences, spaCy 3.8)
# ---------------------------------------------------------------------------------------------

SPACY_WORDS = {
    "Don't stop (e.g. now), it's 3:30pm in the U.S.!": [
        "Do", "n't", "stop", "(", "e.g.", "now", ")", ",", "it", "'s", "3:30pm", "in", "the", "U.S.", "!"],
    "Visit https://example.com/a?b=1. Email me: x@y.org": [
        "Visit", "https://example.com/a?b=1", ".", "Email", "me", ":", "x@y.org"],
    'We can\'t—won\'t—go; Mr.Smith said "hi"...': [
        "We", "can't", "—", "won't", "—", "go", ";", "Mr.", "Smith", "said", '"', "hi", '"', "..."],
    "10km, $5.99, well-known 3-4 e-mail": [
        "10", "km", ",", "$", "5.99", ",", "well", "-", "known", "3", "-", "4", "e", "-", "mail"],
    "Dr.Who?! x):": ["Dr.", "Who", "?", "!", "x", "):"],
}
SPACY_SENTENCES = {
    "Hello there. How are you? Fine!": 3,
    "Wait... what? OK.": 2,
    "U.S. troops arrived. They left.": 2,
    "One sentence only": 1,
}


@pytest.mark.parametrize("text", list(SPACY_WORDS))
def test_word_tokenize_matches_spacy(text):
    assert tf.word_tokenize(text) == SPACY_WORDS[text]


@pytest.mark.parametrize("text", list(SPACY_SENTENCES))
def test_sentence_count_matches_spacy_sentencizer(text):
    assert tf.sentence_count(tf.word_tokenize(text)) == SPACY_SENTENCES[text]


def test_batch_words_equal_reference_tokenizer(shared_data):
    texts = [json.loads(line)["text"] for f in sorted((shared_data / "english_web").glob("*.jsonl"))
             for line in f.open(encoding="utf-8")]
    texts += ["", "   ", "a\u00a0b\u3000c\u2028d", "tab\tsep\x1fx", "🙂 emoji:)"]
    cache: dict = {}
    bw = tf.batch_words(_batch(texts), cache)
    for i, t in enumerate(texts):
        assert bw.words(i) == tf.word_tokenize(t), i
    # served from the cache the second time, also after the runner filters rows
    assert tf.batch_words(_batch(texts), cache).tok_ids.tolist() == bw.tok_ids.tolist()
    mask = np.arange(len(texts)) % 2 == 0
    cache["en_words"] = [a for a, m in zip(cache["en_words"], mask) if m]
    cache["en_words_vocab"] = [a for a, m in zip(cache["en_words_vocab"], mask) if m]
    kept = [t for t, m in zip(texts, mask) if m]
    bw2 = tf.batch_words(_batch(kept), cache)
    assert [bw2.words(i) for i in range(len(kept))] == [tf.word_tokenize(t) for t in kept]


# ---------------------------------------------------------------------------------------------
# Gopher repetition
# ---------------------------------------------------------------------------------------------


def test_repeated_lines_give_high_duplicate_fractions_and_are_dropped():
    text = "\n".join(["Buy cheap watches online today."] * 8 + ["Contact us for more."])
    s = _annotate(en.GopherRepetitionSignals("r"), [text])
    # 9 lines, 7 of them repeats of the first; 7 * 31 repeated characters of len(text) = 299
    assert s["gopher_rep_dup_line_frac_v1"] == [7 / 9]
    assert s["gopher_rep_dup_line_char_frac_v1"] == [7 * 31 / len(text)]
    assert s["gopher_rep_dup_para_frac_v1"] == [0.0]  # a single paragraph
    decisions, _ = _run_spec([text])
    assert decisions["0"] == "gopher_dup_line_frac"


def test_top_and_duplicated_ngram_fractions():
    # words: a b c d e f a b c d e f (12 one-letter words)
    text = "a b c d e f a b c d e f"
    s = _annotate(en.GopherRepetitionSignals("r"), [text])
    n = len(text)  # 23
    assert s["gopher_rep_top_2gram_frac_v1"] == [3 * 2 / n]  # "a b" twice
    assert s["gopher_rep_top_4gram_frac_v1"] == [7 * 2 / n]  # "a b c d" twice
    # find_all_duplicate: "abcde" seen again at word 6 -> 5 chars; 6-grams: "abcdef" -> 6
    assert s["gopher_rep_dup_5gram_frac_v1"] == [5 / n]
    assert s["gopher_rep_dup_6gram_frac_v1"] == [6 / n]
    assert s["gopher_rep_dup_7gram_frac_v1"] == [0.0]
    # most_common tie-break: the n-gram seen first wins, with its own length
    s = _annotate(en.GopherRepetitionSignals("r"), ["x yy zzz yy zzz x yy x"])
    # 2-grams: "x yy" x2 (first), "yy zzz" x2, ... -> "x yy" (4 chars) * 2
    assert s["gopher_rep_top_2gram_frac_v1"] == [4 * 2 / 22]


def test_empty_text_is_fully_repeated():
    s = _annotate(en.GopherRepetitionSignals("r"), [""])
    assert all(v == [1.0] for v in s.values())


# ---------------------------------------------------------------------------------------------
# Gopher quality
# ---------------------------------------------------------------------------------------------


def test_gopher_quality_values_on_a_crafted_text():
    text = "- The cat sat on the mat...\n- And the dog, #1, ran…\nok"
    s = _annotate(en.GopherQualitySignals("q"), [text])
    words = tf.word_tokenize(text)
    assert words == ["-", "The", "cat", "sat", "on", "the", "mat", "...", "-", "And", "the", "dog", ",", "#", "1",
                     ",", "ran", "…", "ok"]
    nonsym = [w for w in words if w not in {"-", "...", ",", "#", "…"}]
    assert s["gopher_word_count_v1"] == [len(nonsym)] == [12]
    assert s["gopher_mean_word_length_v1"] == [sum(map(len, nonsym)) / 12]
    assert s["gopher_hash_word_ratio_v1"] == [1 / 19]
    assert s["gopher_ellipsis_word_ratio_v1"] == [2 / 19]
    assert s["gopher_bullet_lines_ratio_v1"] == [2 / 3]
    assert s["gopher_ellipsis_lines_ratio_v1"] == [2 / 3]
    assert s["gopher_alpha_words_ratio_v1"] == [11 / 19]  # the 12 words but "1"
    assert s["gopher_stopword_count_v1"] == [1]  # "the" (case-sensitive: "The", "And" are not)


def test_short_documents_are_dropped():
    short = "This is far too short to be a useful web document."
    assert _annotate(en.GopherQualitySignals("q"), [short])["gopher_word_count_v1"] == [11]
    decisions, _ = _run_spec([short, PROSE])
    # as in datatrove, the repetition rules (which run first) already catch it: any 3-gram of a
    # 52-character text is more than 0.18 of it ("This is far": 11 / 52)
    assert decisions == {"0": "gopher_top_3_gram", "1": None}
    # 40 distinct words: no n-gram dominates, and 40 < 50 words
    forty = " ".join(f"word{i}" for i in range(40))
    decisions, _ = _run_spec([forty])
    assert decisions == {"0": "gopher_short_doc"}


# ---------------------------------------------------------------------------------------------
# C4
# ---------------------------------------------------------------------------------------------


def _c4(texts: list[str], **params):
    step = en.C4Lines("c4", en.C4LinesParams(**params))
    cache: dict = {}
    out = step.transform(_batch(texts), cache)
    return out, cache


def test_c4_removes_lines_like_datatrove():
    text = "\n".join([
        "Home | About | Contact",                                 # no terminal punctuation
        "This line talks about the JavaScript framework.",        # javascript
        "Too short.",                                             # < 3 words
        "By using this site you agree to our Terms of Use.",      # policy
        "A sentence that cites a source.[1] It goes on here.",    # citation stripped, kept
        "The river floods every spring, as it did in 1911.",
        "Is this a question that should stay?",
        "Trailing ellipsis is not a sentence end...",
        "She said \"yes.\"",
    ])
    out, cache = _c4([text])
    row = out.to_pylist()[0]
    assert row["text"] == (
        "A sentence that cites a source. It goes on here.\n"
        "The river floods every spring, as it did in 1911.\n"
        "Is this a question that should stay?\n"
        "She said \"yes.\""
    )
    assert row["c4_lines_v1"] == 9
    assert row["c4_lines_kept_v1"] == 4
    assert row["c4_lines_dropped_no_terminal_punct_v1"] == 2
    assert row["c4_lines_dropped_javascript_v1"] == 1
    assert row["c4_lines_dropped_few_words_v1"] == 1
    assert row["c4_lines_dropped_policy_v1"] == 1
    assert row["c4_num_sentences_v1"] == 5  # 2 + 1 + 1 + 1
    assert not row["c4_has_lorem_ipsum_v1"] and not row["c4_has_curly_bracket_v1"]
    # the cache now holds the words of the new text (FineWeb reads them without re-tokenising)
    assert tf.batch_words(out, cache).words(0) == tf.word_tokenize(row["text"])
    assert c4_matches_reference([text])


def test_c4_document_flags_and_sentence_rule():
    lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    code = "Use the function f(x) { return x; } in your code."
    out, _ = _c4([lorem + "\n" + PROSE, code + "\n" + PROSE, "Only one real sentence here."])
    rows = out.to_pylist()
    assert rows[0]["c4_has_lorem_ipsum_v1"] and not rows[0]["c4_has_curly_bracket_v1"]
    assert rows[1]["c4_has_curly_bracket_v1"] and not rows[1]["c4_has_lorem_ipsum_v1"]
    assert rows[2]["c4_num_sentences_v1"] == 1
    decisions, _ = _run_spec([lorem + "\n" + PROSE, code + "\n" + PROSE])
    assert decisions == {"0": "c4_lorem_ipsum", "1": "c4_curly_bracket"}


# ---------------------------------------------------------------------------------------------
# FineWeb
# ---------------------------------------------------------------------------------------------


def test_fineweb_signals():
    text = "Short line\nA much longer line that ends with a full stop.\nShort line\n  \nfinal words here!"
    s = _annotate(en.FineWebQualitySignals("f"), [text])
    # non-blank lines: 4; ending in terminal punctuation: 2; <= 30 chars: 3; repeated: "Short line"
    assert s["fineweb_line_punct_ratio_v1"] == [2 / 4]
    assert s["fineweb_short_line_ratio_v1"] == [3 / 4]
    assert s["fineweb_char_dup_ratio_v1"] == [10 / (len(text) - 4)]
    assert s["fineweb_list_ratio_v1"] == [4 / len(tf.word_tokenize(text))]
    lst = "\n".join(f"Item number {i}." for i in range(40))  # one line per 4 words
    s = _annotate(en.FineWebQualitySignals("f"), [lst])
    assert s["fineweb_list_ratio_v1"] == [39 / 160]


# ---------------------------------------------------------------------------------------------
# the recipe and the bench spec, end to end; decisions recorded from datatrove 0.10.1
# ---------------------------------------------------------------------------------------------

# datatrove 0.10.1: GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter ->
# FineWebQualityFilter (defaults) on each line of ../shared/data/english_web/*.jsonl
# (None = kept). Recorded with bench/bench_filters.py's decision script.
DATATROVE_DECISIONS = {
    "datajuicer_redpajama_pile_samples": [
        None, "duplicated_5_n_grams", None, None, None, None, "too_few_sentences", None, None, None, None,
        "gopher_below_alpha_threshold", None, None, None, None, None, "gopher_below_alpha_threshold",
        "gopher_below_alpha_threshold", None, "gopher_below_alpha_threshold", "gopher_enough_stop_words",
        "gopher_below_alpha_threshold", "gopher_below_alpha_threshold", "duplicated_5_n_grams",
        "gopher_below_alpha_threshold", "gopher_below_alpha_threshold", "top_4_gram", "duplicated_5_n_grams",
        "gopher_enough_stop_words", None, "gopher_below_alpha_threshold", "too_few_sentences", None,
        "too_few_sentences", None, "too_few_sentences", "gopher_below_alpha_threshold", None,
        "too_few_sentences", None, None, None, None, None, None, None, None, None, None],
    "dolma_ccnet_en_head": [
        "too_few_sentences", None, "too_few_sentences", None, "gopher_below_alpha_threshold", None, None, None,
        None, None, None, None, "gopher_below_alpha_threshold", None, None, "gopher_too_many_end_ellipsis",
        None, None, None, "gopher_short_doc"],
    "enwiki_sample": [
        "too_few_sentences"] * 12 + ["gopher_below_alpha_threshold"] + ["too_few_sentences"] * 4
        + ["gopher_below_alpha_threshold"] + ["too_few_sentences"] * 5 + ["gopher_below_alpha_threshold",
        "too_few_sentences", "gopher_below_alpha_threshold", "gopher_below_alpha_threshold"]
        + ["too_few_sentences"] * 3,
}
# datatrove reason -> heitu rule reason
REASONS = {"too_few_sentences": "c4_too_few_sentences", "duplicated_5_n_grams": "gopher_dup_5_grams",
           "top_4_gram": "gopher_top_4_gram"}


def test_decisions_match_datatrove_on_english_web(shared_data):
    texts, expected = [], []
    for name, decisions in DATATROVE_DECISIONS.items():
        lines = (shared_data / "english_web" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(decisions)
        texts += [json.loads(line)["text"] for line in lines]
        expected += [None if d is None else REASONS.get(d, d) for d in decisions]
    got, survivors = _run_spec(texts)
    assert list(got.values()) == expected
    assert Counter(expected)[None] == survivors.num_rows == 43


def test_recipe_builds_and_references_existing_signals():
    spec = PipelineSpec.model_validate(yaml.safe_load(RECIPE.read_text()))
    steps = build_steps(spec)
    produced = set()
    for step in steps:
        produced |= set(step.output_columns())
        if step.type_name == "select":
            needed = {c for r in step.params.rules for c in step.decided_by(r.reason)}
            assert needed <= produced, (step.name, needed - produced)
    bench = PipelineSpec.model_validate(yaml.safe_load(SPEC.read_text()))
    assert [s.type for s in bench.steps] == [s.type for s in spec.steps if s.type not in
                                             ("normalize", "lang_id", "pii_redact", "exact_dedup")][1:]


# ---------------------------------------------------------------------------------------------
# numba kernels == plain-Python transcriptions of datatrove's code
# ---------------------------------------------------------------------------------------------

_ALPHABET = list("ab .,-#…•!?\"'[]{}0123\n\n\n\r\t ") + ["\u00a0", "\u2028", "\x1c", "\x85", "é", "İ", "K", "١",
                                                       "...", "[1]", "[edit]", "javascript", "Lorem Ipsum",
                                                       "cookie policy", "\u212aookies", "the", "and"]


def _fuzz_texts(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(0, 80))) for _ in range(n)]


def _py_dups(items):
    seen, de, dc = set(), 0, 0
    for x in items:
        if x in seen:
            de, dc = de + 1, dc + len(x)
        else:
            seen.add(x)
    return de, dc


def _py_rep(text):
    paras = re.split(r"\n{2,}", text.strip())
    lines = re.split("\n+", text)
    return [*_py_dups(paras)[:1], len(paras), _py_dups(paras)[1], _py_dups(lines)[0], len(lines),
            _py_dups(lines)[1], len(text)]


def _py_quality(text):
    lines = text.splitlines()
    return [text.count("#"), text.count("...") + text.count("…"), len(lines),
            sum(s.lstrip().startswith(("•", "-")) for s in lines),
            sum(s.rstrip().endswith(("...", "…")) for s in lines)]


def _py_fineweb(text):
    lines = [x for x in text.split("\n") if x.strip()]
    return [len(lines), sum(x[-1] in tf.DT_TERMINAL_PUNCTUATION for x in lines), sum(len(x) <= 30 for x in lines),
            _py_dups(lines)[1], text.count("\n"), len(text)]


def _py_ngrams(words, n_top=(2, 3, 4), n_dup=(5, 6, 7, 8, 9, 10)):
    top = []
    for n in n_top:
        grams = [" ".join(words[i: i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            top.append(0)
            continue
        g, c = Counter(grams).most_common(1)[0]
        top.append(len(g) * c)
    dup = []
    for n in n_dup:
        seen, rep, idx = set(), 0, 0
        while idx < len(words) - n + 1:
            g = "".join(words[idx: idx + n])
            if g in seen:
                rep += len(g)
                idx += n
            else:
                seen.add(g)
                idx += 1
        dup.append(rep)
    return top, dup


def _corpus(shared_data) -> list[str]:
    texts = [json.loads(line)["text"] for f in sorted((shared_data / "english_web").glob("*.jsonl"))
             for line in f.open(encoding="utf-8")]
    return texts + _fuzz_texts(400)


def test_line_kernels_match_python(shared_data):
    texts = _corpus(shared_data)
    data, offs = tf.text_bytes(_batch(texts))
    rep = en._rep_lines(data, offs)
    qual = en._quality_lines(data, offs)
    stop = np.array(sorted(ord(c) for c in tf.DT_TERMINAL_PUNCTUATION), np.int64)
    fw = en._fineweb_lines(data, offs, stop, 30)
    for i, t in enumerate(texts):
        assert rep[i].tolist() == _py_rep(t), (i, t)
        assert qual[i].tolist() == _py_quality(t), (i, t)
        assert fw[i].tolist() == _py_fineweb(t), (i, t)


def test_ngram_kernel_matches_python(shared_data):
    texts = _corpus(shared_data) + ["a b " * 40, "x " * 3, "ab c a bc " * 10]
    bw = tf.batch_words(_batch(texts), {})
    top, dup = tf.ngram_repetition(bw.tok_off, bw.tok_ids, bw.t_len, bw.t_hash, bw.t_pow,
                                   np.array([2, 3, 4]), np.array([5, 6, 7, 8, 9, 10]))
    for i in range(len(texts)):
        assert (top[i].tolist(), dup[i].tolist()) == _py_ngrams(bw.words(i)), i


def c4_matches_reference(texts) -> bool:
    out, _ = _c4(texts)
    rows = out.to_pylist()
    for t, row in zip(texts, rows):
        new, counts, lorem, curly, sentences = en.c4_reference(t)
        got = (row["text"], [row[c] for c in en.C4_COUNT_COLUMNS], row["c4_has_lorem_ipsum_v1"],
               row["c4_has_curly_bracket_v1"], row["c4_num_sentences_v1"])
        assert got == (new, counts, lorem, curly, sentences), t
    return True


def test_c4_kernel_matches_reference(shared_data):
    assert c4_matches_reference(_corpus(shared_data))


def test_tokenizer_equals_spacy_itself_on_real_text(shared_data):
    """The fast affix loop drives spaCy's own rules; its tokens equal spaCy's on every chunk."""
    import spacy

    from heitu.data.steps.textfeat import SENT_PUNCT_CHARS, get_tokenizer

    nlp = spacy.blank("en")
    texts = [json.loads(line)["text"] for f in sorted((shared_data / "english_web").glob("*.jsonl"))
             for line in f.read_text(encoding="utf-8").splitlines()]
    chunks = sorted({c for t in texts for c in t.split()})
    assert len(chunks) > 20_000
    ours = get_tokenizer()
    bad = [c for c in chunks if ours.tokenize_chunk(c) != [t.text for t in nlp.tokenizer(c)]]
    assert bad == []
    assert SENT_PUNCT_CHARS == frozenset(nlp.add_pipe("sentencizer").punct_chars)
