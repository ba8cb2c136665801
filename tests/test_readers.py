"""Readers on real shared data: every format, stable ids, WARC/WET/ARC, charset detection and
HTML main-text extraction. Bad inputs are in test_reader_bad_inputs.py."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import shutil
import uuid
from pathlib import Path

import orjson
import pytest

from heitu.core.errors import UserError
from heitu.data.readers import ReaderOptions, ReadError, detect_format, expand_inputs, read_documents
from heitu.data.readers.html import EXTRACTORS, decode_html, extract_main_text
from heitu.data.schema import make_doc_id

RES = ReaderOptions(extractor="resiliparse")  # fast extractor where extraction quality is not the point


def read_all(path, name=None, opts=None) -> tuple[list[dict], list[ReadError]]:
    docs, errors = [], []
    for item in read_documents(str(path), name or Path(path).name, opts or ReaderOptions()):
        (errors if isinstance(item, ReadError) else docs).append(item)
    return docs, errors


def check_doc(doc: dict) -> None:
    assert set(doc) == {"id", "text", "source", "meta"}
    assert isinstance(doc["id"], str) and doc["id"]
    assert isinstance(doc["text"], str)
    assert set(doc["source"]) == {"file", "offset", "url", "date"}
    assert doc["meta"] is None or isinstance(json.loads(doc["meta"]), dict)


def jsonl_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


# --- expand_inputs -----------------------------------------------------------------------------


def test_expand_inputs_glob_dir_file_and_url(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    for rel in ("a/x.jsonl", "a/sub/y.jsonl", "a/sub/z.txt", "a/.hidden.jsonl", "a/_SUCCESS"):
        (tmp_path / rel).write_text('{"text": "t"}\n')

    by_glob = expand_inputs([str(tmp_path / "a" / "**" / "*.jsonl")])
    assert [name for _, name in by_glob] == ["sub/y.jsonl", "x.jsonl"]
    assert all(Path(url).is_absolute() for url, _ in by_glob)

    by_dir = expand_inputs([str(tmp_path / "a")])  # recursive, hidden and _markers skipped
    assert [name for _, name in by_dir] == ["sub/y.jsonl", "sub/z.txt", "x.jsonl"]

    single = expand_inputs([str(tmp_path / "a" / "sub" / "z.txt")])
    assert single == [(str(tmp_path / "a" / "sub" / "z.txt"), "z.txt")]

    by_url = expand_inputs([f"file://{tmp_path}/a/*.jsonl"])
    assert [name for _, name in by_url] == ["x.jsonl"]

    # several patterns: union, sorted, de-duplicated
    both = expand_inputs([str(tmp_path / "a" / "*.jsonl"), str(tmp_path / "a" / "x.jsonl")])
    assert [name for _, name in both] == ["x.jsonl"]


def test_expand_inputs_source_names_do_not_depend_on_location(tmp_path, shared_data):
    src = shared_data / "english_web" / "dolma_ccnet_en_head.jsonl"
    for where in ("one", "two/deeper"):
        (tmp_path / where / "data").mkdir(parents=True)
        shutil.copy(src, tmp_path / where / "data" / "part.jsonl")
    one = expand_inputs([str(tmp_path / "one" / "data" / "*.jsonl")])
    two = expand_inputs([str(tmp_path / "two" / "deeper" / "data" / "*.jsonl")])
    assert [n for _, n in one] == [n for _, n in two] == ["part.jsonl"]


def test_expand_inputs_errors(tmp_path):
    with pytest.raises(UserError, match="nothing-here"):
        expand_inputs([str(tmp_path / "nothing-here" / "*.jsonl")])
    with pytest.raises(UserError, match="missing.jsonl"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "same.jsonl").write_text('{"text": "t"}\n')
    with pytest.raises(UserError, match="collide"):
        expand_inputs([str(tmp_path / "a" / "same.jsonl"), str(tmp_path / "b" / "same.jsonl")])


def test_format_detection_and_unsupported_type(tmp_path):
    assert detect_format("x.jsonl.zst") == "jsonl"
    assert detect_format("crawl.warc.wet.gz") == "warc"
    assert detect_format("x.arc.gz") == "arc"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.csv") is None
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="x.csv"):
        read_documents(str(tmp_path / "x.csv"), "x.csv", ReaderOptions())


# --- jsonl -------------------------------------------------------------------------------------


def test_jsonl_shared_data(shared_data):
    path = shared_data / "english_web" / "enwiki_sample.jsonl"
    expected = jsonl_lines(path)
    docs, errors = read_all(path, "english_web/enwiki_sample.jsonl")
    assert errors == []
    assert len(docs) == len(expected)
    for i, (doc, rec) in enumerate(zip(docs, expected)):
        check_doc(doc)
        assert doc["id"] == str(rec["id"])
        assert doc["text"] == rec["text"]
        assert doc["source"] == {"file": "english_web/enwiki_sample.jsonl", "offset": i + 1, "url": None, "date": None}
        meta = json.loads(doc["meta"])
        assert "text" not in meta and "id" not in meta
        assert meta == {k: v for k, v in rec.items() if k not in ("id", "text")}


def test_jsonl_chinese_and_custom_fields(shared_data):
    path = shared_data / "chinese_text" / "fewclue_tnews_test_public.jsonl"
    first = jsonl_lines(path)[0]
    other_field = next(k for k, v in first.items() if k not in ("id", "text") and isinstance(v, str))
    docs, errors = read_all(path, opts=ReaderOptions(text_field=other_field, id_field="nope"))
    assert errors == []
    assert docs[0]["text"] == first[other_field]
    assert docs[0]["id"] == make_doc_id(path.name, 1)  # no such id field: derived id
    assert json.loads(docs[0]["meta"])["text"] == first["text"]


@pytest.mark.parametrize(
    "suffix,compress",
    [
        (".jsonl.gz", gzip.compress),
        (".jsonl.zst", lambda b: __import__("zstandard").ZstdCompressor().compress(b)),
        (".jsonl.bz2", bz2.compress),
        (".jsonl.xz", lzma.compress),
    ],
)
def test_jsonl_compressed_equals_plain(tmp_path, shared_data, suffix, compress):
    src = shared_data / "sft" / "llamafactory_alpaca_en_demo.jsonl"
    packed = tmp_path / ("alpaca" + suffix)
    packed.write_bytes(compress(src.read_bytes()))
    plain_docs, _ = read_all(src, "alpaca.jsonl")
    docs, errors = read_all(packed)
    assert errors == []
    assert [(d["text"], d["source"]["offset"], d["meta"]) for d in docs] == [
        (d["text"], d["source"]["offset"], d["meta"]) for d in plain_docs
    ]


def test_jsonl_concatenated_gzip_members_and_misnamed_compression(tmp_path, shared_data):
    data = (shared_data / "english_web" / "dolma_ccnet_en_head.jsonl").read_bytes()
    lines = data.splitlines(keepends=True)
    multi = tmp_path / "multi.jsonl.gz"
    multi.write_bytes(gzip.compress(b"".join(lines[:7])) + gzip.compress(b"".join(lines[7:])))
    docs, errors = read_all(multi)
    assert errors == [] and len(docs) == len(lines)
    # a gzip file without .gz in its name is still decompressed (codec sniffed from magic bytes)
    misnamed = tmp_path / "really_gzip.jsonl"
    misnamed.write_bytes(gzip.compress(data))
    docs2, errors2 = read_all(misnamed)
    assert errors2 == [] and [d["text"] for d in docs2] == [d["text"] for d in docs]


def test_jsonl_ids_stable_and_derived_from_source_name(tmp_path, shared_data):
    # strip ids so they must be derived
    recs = [
        {k: v for k, v in r.items() if k != "id"}
        for r in jsonl_lines(shared_data / "dedup" / "stsb_en_dev_pairs.jsonl")
    ]
    payload = b"".join(orjson.dumps(r) + b"\n" for r in recs[:50])
    for where in ("m1/in", "m2/x/in"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "pairs.jsonl").write_bytes(payload)
    ((url1, n1),) = expand_inputs([str(tmp_path / "m1" / "in" / "*.jsonl")])
    ((url2, n2),) = expand_inputs([str(tmp_path / "m2" / "x" / "in" / "*.jsonl")])
    ids1 = [d["id"] for d in read_all(url1, n1)[0]]
    ids1_again = [d["id"] for d in read_all(url1, n1)[0]]
    ids2 = [d["id"] for d in read_all(url2, n2)[0]]
    assert ids1 == ids1_again == ids2  # same input read twice / elsewhere -> same ids
    assert len(set(ids1)) == 50
    assert ids1[0] == make_doc_id("pairs.jsonl", 1)
    assert str(tmp_path) not in json.dumps(read_all(url1, n1)[0])  # no absolute path leaks into docs


# --- parquet -----------------------------------------------------------------------------------


def test_parquet_converted_from_shared_jsonl(tmp_path, shared_data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    recs = jsonl_lines(shared_data / "pii" / "presidio_generated_small.jsonl")
    table = pa.Table.from_pylist(recs)
    pq.write_table(table, tmp_path / "pii.parquet", row_group_size=30)  # several row groups
    docs, errors = read_all(tmp_path / "pii.parquet")
    assert errors == []
    assert len(docs) == len(recs)
    for i, (doc, rec) in enumerate(zip(docs, recs)):
        check_doc(doc)
        assert doc["source"]["offset"] == i
        assert doc["text"] == rec["text"]
        assert doc["id"] == str(rec["id"])
        meta = json.loads(doc["meta"])
        assert set(meta) == set(rec) - {"id", "text"}
    # without an id column, ids derive from (source name, row)
    pq.write_table(table.drop_columns(["id"]), tmp_path / "noid.parquet")
    docs2, _ = read_all(tmp_path / "noid.parquet")
    assert [d["id"] for d in docs2[:3]] == [make_doc_id("noid.parquet", r) for r in range(3)]


# --- text folder -------------------------------------------------------------------------------


def test_text_folder_each_file_is_a_document(tmp_path, shared_data):
    folder = tmp_path / "corpus"
    (folder / "zh").mkdir(parents=True)
    shutil.copy(shared_data / "keywords" / "ldnoobw" / "en.txt", folder / "en.txt")
    shutil.copy(shared_data / "keywords" / "ldnoobw" / "zh.txt", folder / "zh" / "zh.txt")
    (folder / "notes.md").write_text("# Title\n\nSome *markdown* text.\n", "utf-8")
    (folder / "gbk.txt").write_bytes("这是一个用GBK编码的中文文本文件，用来测试编码检测是否正确。".encode("gbk"))
    inputs = expand_inputs([str(folder)])
    assert [n for _, n in inputs] == ["en.txt", "gbk.txt", "notes.md", "zh/zh.txt"]
    docs = []
    for url, name in inputs:
        got, errors = read_all(url, name)
        assert errors == [] and len(got) == 1
        docs += got
    for doc, (_, name) in zip(docs, inputs):
        check_doc(doc)
        assert doc["source"] == {"file": name, "offset": 0, "url": None, "date": None}
        assert doc["id"] == make_doc_id(name, 0)
    assert docs[0]["text"] == (shared_data / "keywords" / "ldnoobw" / "en.txt").read_text("utf-8")
    assert docs[1]["text"].startswith("这是一个用GBK编码的中文文本文件")
    assert docs[3]["text"] == (shared_data / "keywords" / "ldnoobw" / "zh.txt").read_text("utf-8")


# --- WARC / WET / ARC -------------------------------------------------------------------------


def warcio_offsets(path: Path) -> dict[str, int]:
    """Record id -> byte offset, computed independently with warcio."""
    from warcio.archiveiterator import ArchiveIterator

    out = {}
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for rec in it:
            rec.content_stream().read()
            out[rec.rec_headers.get_header("WARC-Record-ID").strip("<>")] = it.get_record_offset()
    return out


def test_warc_common_crawl_whirlwind_and_its_wet(shared_data):
    warc = shared_data / "warc" / "cc_whirlwind.warc.gz"
    docs, errors = read_all(warc, "warc/cc_whirlwind.warc.gz")
    assert errors == [] and len(docs) == 1
    doc = docs[0]
    check_doc(doc)
    assert doc["source"]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc["source"]["date"] == "2024-05-18T01:58:10Z"
    assert doc["source"]["file"] == "warc/cc_whirlwind.warc.gz"
    assert doc["source"]["offset"] == warcio_offsets(warc)[doc["id"]]
    assert json.loads(doc["meta"])["warc_type"] == "response"

    wet_docs, wet_errors = read_all(shared_data / "warc" / "cc_whirlwind.warc.wet.gz")
    assert wet_errors == [] and len(wet_docs) == 1
    wet = wet_docs[0]
    assert wet["source"]["url"] == doc["source"]["url"]
    assert json.loads(wet["meta"])["warc_type"] == "conversion"
    assert "Escopete" in wet["text"] and "Escopete" in doc["text"]
    # our main-text extraction is (much) shorter than CC's whole-page WET text but shares its prose
    words = lambda t: set(re.findall(r"\w{5,}", t.lower()))
    assert len(words(doc["text"]) & words(wet["text"])) / len(words(doc["text"])) > 0.8

    assert read_all(shared_data / "warc" / "cc_whirlwind.warc.wat.gz") == ([], [])  # WAT: metadata only


@pytest.mark.parametrize("name", ["dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz"])
def test_warc_dolma_samples(shared_data, name):
    path = shared_data / "warc" / name
    docs, errors = read_all(path, opts=RES)
    assert errors == []
    offsets = warcio_offsets(path)
    assert len(docs) >= 15
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        check_doc(doc)
        assert doc["source"]["url"].startswith("http")
        assert re.match(r"\d{4}-\d\d-\d\dT", doc["source"]["date"])
        assert doc["source"]["offset"] == offsets[doc["id"]]  # FastWARC offsets agree with warcio's
        assert doc["text"].strip()
    again, _ = read_all(path, opts=RES)
    assert [d["id"] for d in again] == [d["id"] for d in docs]


# Every WARC/ARC fixture (several intentionally broken): expected (documents, error codes).
WARC_FIXTURES = {
    "resiliparse_clueweb-quirk.warc.gz": (29, []),  # no HTTP Content-Type, EUC-JP pages
    "resiliparse_clipped.warc.gz": (0, ["truncated_compressed"]),
    "warcio_example.warc": (1, []),
    "warcio_example.warc.gz": (1, []),
    "warcio_example-bad-non-chunked.warc.gz": (1, []),  # whole-file gzip: warcio refuses it
    "warcio_example-wrong-chunks.warc.gz": (1, []),
    "warcio_example-iana.org-chunked.warc": (1, []),
    "warcio_example-trunc.warc": (0, ["warc_bad_header"]),
    "warcio_example-digest.warc": (0, []),
    "warcio_example-resource.warc.gz": (0, []),
    "warcio_example-wget-bad-target-uri.warc.gz": (1, []),
    "warcio_post-test.warc.gz": (0, []),
    "warcio_example.arc": (1, []),
    "warcio_example.arc.gz": (1, []),
    "warcio_example-space-in-url.arc": (1, []),
    "warcio_bad.arc": (0, []),
}


@pytest.mark.parametrize("name", sorted(WARC_FIXTURES))
def test_warc_edge_case_fixtures(shared_data, name):
    n_docs, codes = WARC_FIXTURES[name]
    docs, errors = read_all(shared_data / "warc" / name, opts=RES)
    assert len(docs) == n_docs
    assert [e.code for e in errors] == codes
    for doc in docs:
        check_doc(doc)
        assert doc["source"]["url"]


def test_warc_fixture_with_misleading_suffix_and_clueweb_encoding(tmp_path, shared_data):
    shutil.copy(shared_data / "warc" / "warcio_example-bad.warc.gz.bad", tmp_path / "bad.warc.gz")
    docs, _errors = read_all(tmp_path / "bad.warc.gz", opts=RES)
    assert len(docs) == 1 and "illustrative examples" in docs[0]["text"]
    quirk, _ = read_all(shared_data / "warc" / "resiliparse_clueweb-quirk.warc.gz", opts=RES)
    assert "ブリーフケース" in quirk[0]["text"]  # EUC-JP page without any declared charset


def test_arc_via_warcio(shared_data):
    docs, errors = read_all(shared_data / "warc" / "warcio_example.arc")
    assert errors == [] and len(docs) == 1
    assert docs[0]["source"]["url"] == "http://example.com/"
    assert docs[0]["source"]["offset"] == 151
    assert "This domain is established to be used for illustrative examples" in docs[0]["text"]


# --- charset detection --------------------------------------------------------------------------


def gbk_page(shared_data, file="tests__163__3.html.gz") -> tuple[str, bytes, str]:
    """A shared GNE page re-encoded as GBK with its charset declarations removed:
    (unicode html, GBK bytes, first sentence of GNE's reference extraction)."""
    base = shared_data / "html" / "gne_chinese_news"
    refs = {
        r["file"]: r
        for r in map(json.loads, (base / "gne_reference_extractions.jsonl").read_text("utf-8").splitlines())
    }
    html = gzip.decompress((base / file).read_bytes()).decode("utf-8")
    html = re.sub(r"<meta[^>]*charset[^>]*>", "", html, flags=re.IGNORECASE)
    data = html.encode("gbk", "xmlcharrefreplace")  # chars outside GBK become &#...; (still valid HTML)
    sentence = refs[file]["text"].split("\n")[1][:30]
    return html, data, sentence


def test_gbk_page_without_charset(shared_data):
    _html, data, _ = gbk_page(shared_data)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert decode_html(data).encode("gbk", "xmlcharrefreplace") == data


@pytest.mark.parametrize(
    "meta,http",
    [
        ('<meta charset="utf-8">', None),  # template says UTF-8, content is GBK
        ('<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">', None),  # single-byte lie
        ("", "utf-8"),  # wrong HTTP header
        ('<meta charset="big5">', "iso-8859-1"),  # both wrong
        ('<meta charset="gb2312">', "utf-8"),  # HTTP wrong, meta right (GBK chars beyond GB2312)
    ],
)
def test_gbk_page_with_wrong_charset(shared_data, meta, http):
    _html, data, _ = gbk_page(shared_data)
    page = meta.encode() + data
    assert decode_html(page, http).encode("gbk", "xmlcharrefreplace") == page


def test_utf8_page_declaring_gb2312_stays_utf8(shared_data):
    # 11 of the shared GNE pages declare GB2312 but are UTF-8: valid UTF-8 wins over the declaration
    raw = gzip.decompress((shared_data / "html" / "gne_chinese_news" / "tests__sina__2.html.gz").read_bytes())
    assert re.search(rb"charset=.?gb2312", raw, re.IGNORECASE)
    assert decode_html(raw, "gb2312") == raw.decode("utf-8")


def test_gbk_html_files_end_to_end(tmp_path, shared_data):
    _, data, sentence = gbk_page(shared_data)
    (tmp_path / "nocharset.html").write_bytes(data)
    (tmp_path / "wrongcharset.html").write_bytes(b'<meta charset="utf-8">' + data)
    for name in ("nocharset.html", "wrongcharset.html"):
        docs, errors = read_all(tmp_path / name)
        assert errors == [] and len(docs) == 1
        assert sentence in docs[0]["text"]
        assert "\ufffd" not in docs[0]["text"]


def warc_response(uri: str, body: bytes, content_type: str | None = "text/html", status: str = "200 OK") -> bytes:
    """One gzip member holding a WARC response record (what a crawler writes)."""
    http = f"HTTP/1.1 {status}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    block = (http + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-02T03:04:05Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri)}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n")


def test_gbk_pages_in_warc_with_wrong_http_charset(tmp_path, shared_data):
    _, data, sentence = gbk_page(shared_data)
    path = tmp_path / "gbk.warc.gz"
    path.write_bytes(
        warc_response("http://a.example/", data, "text/html; charset=utf-8")  # header lies
        + warc_response("http://b.example/", data, "text/html")  # no charset anywhere
        + warc_response("http://c.example/", data, None)  # not even a Content-Type
    )
    docs, errors = read_all(path)
    assert errors == []
    assert [d["source"]["url"] for d in docs] == ["http://a.example/", "http://b.example/", "http://c.example/"]
    for doc in docs:
        assert sentence in doc["text"]


# --- HTML main-text extraction -----------------------------------------------------------------

READABILITY_CASES = {
    "guardian-1": (
        ["Whale whisperer Hori Parata was just seven years old when he attended his first mass stranding",
         "Man’s greed in the ocean is hurting the whales"],
        ["Skip to main content", "The Guardian - Back to home", "Love & sex", "Opinion videos"],
    ),
    "quanta-1": (
        ["A little over half a century ago, chaos started spilling out of a famous experiment",
         "Using the LGP-30, Lorenz made paradigm-wrecking discoveries"],
        ["Get Quanta Magazine delivered to your inbox", "View PDF/Print Mode", "Share this article"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("extractor", sorted(EXTRACTORS))
@pytest.mark.parametrize("page", sorted(READABILITY_CASES))
def test_extraction_keeps_article_drops_navigation(shared_data, page, extractor):
    keep, drop = READABILITY_CASES[page]
    raw = gzip.decompress((shared_data / "html" / "readability_test_pages" / page / "source.html.gz").read_bytes())
    text = extract_main_text(decode_html(raw), extractor)
    squashed = re.sub(r"\s+", " ", text)
    for sentence in keep:
        assert sentence in squashed
    for boiler in drop:
        assert boiler not in squashed


def test_extractor_is_selectable(tmp_path, shared_data):
    raw = gzip.decompress(
        (shared_data / "html" / "readability_test_pages" / "guardian-1" / "source.html.gz").read_bytes()
    )
    (tmp_path / "page.html").write_bytes(raw)
    default, _ = read_all(tmp_path / "page.html")
    assert ReaderOptions().extractor == "trafilatura"
    assert json.loads(default[0]["meta"]) == {"extractor": "trafilatura"}
    other, _ = read_all(tmp_path / "page.html", opts=RES)
    assert json.loads(other[0]["meta"]) == {"extractor": "resiliparse"}
    assert other[0]["id"] == default[0]["id"] == make_doc_id("page.html", 0)
    with pytest.raises(UserError, match="Unknown HTML extractor"):
        list(read_documents(str(tmp_path / "page.html"), "page.html", ReaderOptions(extractor="nope")))


def test_remote_urls_via_fsspec(shared_data):
    """Remote files (here fsspec's in-memory filesystem, standing in for s3:// or gs://): the full
    URL is the source name, and every reader works through fsspec file objects."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"memory:///heitu-test-{uuid.uuid4().hex}"  # the canonical form of memory URLs
    fs.pipe(
        f"{root}/crawl/a.jsonl.gz",
        gzip.compress((shared_data / "english_web" / "dolma_ccnet_en_head.jsonl").read_bytes()),
    )
    fs.pipe(f"{root}/crawl/b.warc.gz", (shared_data / "warc" / "cc_whirlwind.warc.gz").read_bytes())
    try:
        inputs = expand_inputs([f"{root}/crawl/"])
        assert [name for _, name in inputs] == [f"{root}/crawl/a.jsonl.gz", f"{root}/crawl/b.warc.gz"]
        assert [url for url, _ in inputs] == [name for _, name in inputs]
        jsonl_docs, errors = read_all(inputs[0][0], inputs[0][1])
        assert errors == [] and len(jsonl_docs) == 20
        assert jsonl_docs[0]["source"]["file"] == f"{root}/crawl/a.jsonl.gz"
        warc_docs, errors = read_all(inputs[1][0], inputs[1][1], RES)
        assert errors == [] and warc_docs[0]["source"]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)
