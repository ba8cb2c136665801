"""Every class of bad input: the reader yields one ReadError with a stable code, the right file and
line/offset, and still yields the good records around it. Inputs are built from shared data."""

from __future__ import annotations

import gzip
import json
import os
import re
import tracemalloc
import uuid
import zlib
from pathlib import Path

import pytest

from heitu.data.readers import ReaderOptions, ReadError, read_documents

RES = ReaderOptions(extractor="resiliparse")


def read_all(path, name=None, opts=None) -> list:
    return list(read_documents(str(path), name or Path(path).name, opts or ReaderOptions()))


def split(items) -> tuple[list[dict], list[ReadError]]:
    return [i for i in items if isinstance(i, dict)], [i for i in items if isinstance(i, ReadError)]


@pytest.fixture
def good_lines(shared_data) -> list[bytes]:
    """40 real jsonl lines (with ids), newline-terminated."""
    lines = (shared_data / "chinese_text" / "fewclue_eprstmt_test_public.jsonl").read_bytes().splitlines(keepends=True)
    return lines[:40]


def ids_of(lines: list[bytes]) -> list[str]:
    return [str(json.loads(line)["id"]) for line in lines]


def assert_one_error(items, code: str, file: str, offset) -> ReadError:
    _docs, errors = split(items)
    assert len(errors) == 1, errors
    err = errors[0]
    assert (err.code, err.file, err.offset) == (code, file, offset), err
    assert err.reason.startswith(code + ": ") or err.reason == code
    return err


# --- jsonl ------------------------------------------------------------------------------------


@pytest.fixture
def many_lines(shared_data) -> list[bytes]:
    """1784 real jsonl lines (1.2 MB, with ids): big enough for several compressed blocks."""
    return (shared_data / "chinese_text" / "fewclue_csldcp_test_public.jsonl").read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_truncated_compressed_jsonl_keeps_records_read_so_far(tmp_path, many_lines, codec):
    lines = many_lines
    data = b"".join(lines)
    if codec == "gzip":
        packed, name = gzip.compress(data), "part.jsonl.gz"
    else:
        import zstandard

        packed, name = zstandard.ZstdCompressor().compress(data), "part.jsonl.zst"
    (tmp_path / name).write_bytes(packed[: len(packed) * 2 // 3])
    items = read_all(tmp_path / name)
    docs, _ = split(items)
    assert items[-1] is not None and isinstance(items[-1], ReadError)  # the error comes last
    err = assert_one_error(items, "truncated_compressed", name, len(docs) + 1)
    assert len(docs) >= 500  # the records before the cut are all there, in order
    assert [d["id"] for d in docs] == ids_of(lines[: len(docs)])
    assert f"line {len(docs) + 1}" in err.reason


def test_corrupt_gzip_is_unreadable_after_good_records(tmp_path, many_lines):
    packed = bytearray(gzip.compress(b"".join(many_lines), compresslevel=1))
    packed[-200:-100] = b"\x00" * 100  # damage near the end (CRC will not match either)
    (tmp_path / "c.jsonl.gz").write_bytes(bytes(packed))
    docs, errors = split(read_all(tmp_path / "c.jsonl.gz"))
    assert len(errors) == 1 and errors[0].code in ("unreadable", "truncated_compressed")
    assert len(docs) > 500


def test_invalid_json_line(tmp_path, good_lines):
    lines = list(good_lines)
    lines[4] = b'{"id": 9999, "text": "unterminated\n'
    lines[9] = b"[1, 2, 3]\n"  # valid JSON, not an object
    (tmp_path / "j.jsonl").write_bytes(b"".join(lines))
    docs, errors = split(read_all(tmp_path / "j.jsonl"))
    assert [(e.code, e.file, e.offset) for e in errors] == [
        ("invalid_json", "j.jsonl", 5),
        ("invalid_json", "j.jsonl", 10),
    ]
    assert "column" in errors[0].reason and "list" in errors[1].reason
    assert [d["id"] for d in docs] == ids_of(lines[:4] + lines[5:9] + lines[10:])
    assert [d["source"]["offset"] for d in docs][:5] == [1, 2, 3, 4, 6]


def test_invalid_utf8_line(tmp_path, good_lines):
    lines = list(good_lines)
    lines[2] = b'{"id": "x", "text": "caf\xe9 \xff bad bytes"}\n'  # latin-1 bytes in a UTF-8 file
    (tmp_path / "u.jsonl").write_bytes(b"".join(lines))
    items = read_all(tmp_path / "u.jsonl")
    err = assert_one_error(items, "invalid_utf8", "u.jsonl", 3)
    assert "column" in err.reason
    assert [d["id"] for d in split(items)[0]] == ids_of(lines[:2] + lines[3:])


@pytest.mark.parametrize(
    "bad_line,code",
    [
        (b'{"id": "m1", "content": "text under another key"}\n', "missing_text"),
        (b'{"id": "m2", "text": null}\n', "missing_text"),
        (b'{"id": "n1", "text": 42}\n', "text_not_string"),
        (b'{"id": "n2", "text": ["a", "list"]}\n', "text_not_string"),
        (b'{"id": "n3", "text": {"nested": "object"}}\n', "text_not_string"),
    ],
)
def test_missing_or_non_string_text(tmp_path, good_lines, bad_line, code):
    lines = list(good_lines)
    lines.insert(7, bad_line)
    (tmp_path / "t.jsonl").write_bytes(b"".join(lines))
    items = read_all(tmp_path / "t.jsonl")
    assert_one_error(items, code, "t.jsonl", 8)
    assert len(split(items)[0]) == len(good_lines)


@pytest.mark.parametrize(
    "name,content",
    [
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n\n   \n"),
        ("empty.jsonl.gz", gzip.compress(b"", mtime=0)),  # mtime=0: the same bytes on every xdist worker
        ("empty.txt", b""),
        ("empty.html", b""),
    ],
    ids=["empty.jsonl", "blank.jsonl", "empty.jsonl.gz", "empty.txt", "empty.html"],
)
def test_empty_file(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    assert_one_error(read_all(tmp_path / name), "empty_file", name, None)


def test_50mb_single_document_is_doc_too_large_with_bounded_memory(tmp_path, good_lines):
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(good_lines[0])
        f.write(b'{"id": "huge", "text": "')
        block = ("这是一段很长的文本。" * 1000).encode()
        f.writelines(block for _ in range(50 * 1024 * 1024 // len(block) + 1))
        f.write(b'"}\n')
        f.write(good_lines[1])
    assert path.stat().st_size > 50 * 1024 * 1024
    opts = ReaderOptions()  # 8 MiB limit
    tracemalloc.start()
    try:
        items = read_all(path, opts=opts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = assert_one_error(items, "doc_too_large", "huge.jsonl", 2)
    assert str(opts.max_doc_bytes) in err.reason
    assert [d["id"] for d in split(items)[0]] == ids_of(good_lines[:2])
    # never the 50 MB line: at most the limit plus a read block or two
    assert peak < opts.max_doc_bytes + 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"

    # the same with a small limit and the big line last, without a final newline, gzip-compressed
    gz = tmp_path / "huge_last.jsonl.gz"
    gz.write_bytes(gzip.compress(good_lines[0] + b'{"text": "' + b"x" * 3_000_000 + b'"}', compresslevel=1))
    items = read_all(gz, opts=ReaderOptions(max_doc_bytes=1_000_000))
    assert_one_error(items, "doc_too_large", "huge_last.jsonl.gz", 2)
    assert len(split(items)[0]) == 1


def test_binary_file(tmp_path):
    png_like = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(20000)
    for name in ("image.jsonl", "image.txt", "image.jsonl.gz"):
        data = gzip.compress(png_like) if name.endswith(".gz") else png_like
        (tmp_path / name).write_bytes(data)
        assert_one_error(read_all(tmp_path / name), "binary_file", name, None)
    # UTF-16 text is not UTF-8 text either
    (tmp_path / "utf16.jsonl").write_bytes('{"text": "hello"}\n'.encode("utf-16"))
    assert_one_error(read_all(tmp_path / "utf16.jsonl"), "binary_file", "utf16.jsonl", None)


def test_text_and_parquet_limits_and_errors(tmp_path, shared_data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "big.txt").write_bytes(b"word " * 300_000)
    assert_one_error(
        read_all(tmp_path / "big.txt", opts=ReaderOptions(max_doc_bytes=1_000_000)), "doc_too_large", "big.txt", 0
    )

    pq.write_table(
        pa.table({"id": ["a", "b", "c", "d"], "text": ["ok", None, "x" * 2000, "fine"]}), tmp_path / "p.parquet"
    )
    docs, errors = split(read_all(tmp_path / "p.parquet", opts=ReaderOptions(max_doc_bytes=1000)))
    assert [(e.code, e.offset) for e in errors] == [("missing_text", 1), ("doc_too_large", 2)]
    assert [d["id"] for d in docs] == ["a", "d"]

    pq.write_table(pa.table({"id": [1], "body": ["no text column"]}), tmp_path / "nocol.parquet")
    assert_one_error(read_all(tmp_path / "nocol.parquet"), "missing_text", "nocol.parquet", None)
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    assert_one_error(read_all(tmp_path / "ints.parquet"), "text_not_string", "ints.parquet", None)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 this is not parquet")
    assert_one_error(read_all(tmp_path / "junk.parquet"), "unreadable", "junk.parquet", None)


def test_missing_file_is_unreadable(tmp_path):
    assert_one_error(read_all(tmp_path / "gone.jsonl"), "unreadable", "gone.jsonl", None)


# --- WARC -------------------------------------------------------------------------------------


def gzip_members(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        out.append(d.decompress(data[pos:]))
        pos = len(data) - len(d.unused_data)
    return out


CORRUPTIONS = {
    "garbled_first_line": lambda rec: rec.replace(b"WARC/1.0\r\n", b"WARX/1.0\r\n", 1),
    "garbage_header": lambda rec: b"\x00\x01garbage\r\n" + rec[30:],
    "content_length_not_a_number": lambda rec: re.sub(rb"Content-Length: \d+", b"Content-Length: zz", rec, count=1),
    "content_length_too_small": lambda rec: re.sub(rb"Content-Length: \d+", b"Content-Length: 100", rec, count=1),
    "content_length_too_large": lambda rec: re.sub(rb"Content-Length: \d+", b"Content-Length: 99999999", rec, count=1),
}


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_warc_broken_record_header(tmp_path, shared_data, corruption, compressed):
    src = shared_data / "warc" / "dolma_sample-0000.warc.gz"
    good = {d["id"]: d for d in split(read_all(src, opts=RES))[0]}
    records = gzip_members(src.read_bytes())  # one record per gzip member
    victim = [i for i, r in enumerate(records) if b"WARC-Type: response" in r[:2000]][4]
    victim_id = re.search(rb"WARC-Record-ID: <([^>]+)>", records[victim]).group(1).decode()
    records[victim] = CORRUPTIONS[corruption](records[victim])
    if compressed:
        parts = [gzip.compress(r) for r in records]
        name = "broken.warc.gz"
    else:
        parts = records
        name = "broken.warc"
    (tmp_path / name).write_bytes(b"".join(parts))
    bad_offset = sum(len(p) for p in parts[:victim])

    docs, errors = split(read_all(tmp_path / name, opts=RES))
    assert [(e.code, e.file, e.offset) for e in errors] == [("warc_bad_header", name, bad_offset)]
    # every other document is still there, with the same text
    assert {d["id"] for d in docs} == set(good) - {victim_id}
    for d in docs:
        assert d["text"] == good[d["id"]]["text"]


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_truncated_warc(tmp_path, shared_data, compressed):
    src = shared_data / "warc" / "dolma_sample-0001.warc.gz"
    data = src.read_bytes() if compressed else gzip.decompress(src.read_bytes())
    name = "cut.warc.gz" if compressed else "cut.warc"
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    items = read_all(tmp_path / name, opts=RES)
    docs, errors = split(items)
    assert len(errors) == 1 and items[-1] is errors[0]
    assert errors[0].code == ("truncated_compressed" if compressed else "unreadable")
    assert "cut by the end of the file" in errors[0].reason
    assert errors[0].offset > max(d["source"]["offset"] for d in docs)
    assert len(docs) >= 5


# --- HTML with no text -------------------------------------------------------------------------

NO_TEXT_PAGE = b"""<!doctype html><html><head><title></title>
<script>var x = "only scripts here";</script><style>body{color:red}</style></head>
<body><img src="a.png"><div>   </div><noscript>   </noscript></body></html>"""


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_html_file_with_no_text(tmp_path, extractor):
    (tmp_path / "blank.html").write_bytes(NO_TEXT_PAGE)
    assert_one_error(
        read_all(tmp_path / "blank.html", opts=ReaderOptions(extractor=extractor)), "no_text", "blank.html", 0
    )


def warc_response(uri: str, body: bytes) -> bytes:
    """One gzip member holding a WARC response record with an HTML payload."""
    block = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-02T03:04:05Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri)}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n")


def test_warc_record_with_no_text(tmp_path, shared_data):
    page = gzip.decompress(
        (shared_data / "html" / "readability_test_pages" / "guardian-1" / "source.html.gz").read_bytes()
    )
    parts = [
        warc_response("http://a.example/", page),
        warc_response("http://empty.example/", NO_TEXT_PAGE),
        warc_response("http://c.example/", page),
    ]
    (tmp_path / "mixed.warc.gz").write_bytes(b"".join(parts))
    items = read_all(tmp_path / "mixed.warc.gz")
    err = assert_one_error(items, "no_text", "mixed.warc.gz", len(parts[0]))
    assert "http://empty.example/" in err.reason
    assert [d["source"]["url"] for d in split(items)[0]] == ["http://a.example/", "http://c.example/"]


def test_warc_oversized_payload_is_doc_too_large(tmp_path):
    small = b"<html><body><p>" + b"A short but real paragraph of text. " * 20 + b"</p></body></html>"
    big = b"<html><body><p>" + b"word " * 400_000 + b"</p></body></html>"
    parts = [warc_response("http://s1/", small), warc_response("http://big/", big), warc_response("http://s2/", small)]
    (tmp_path / "big.warc.gz").write_bytes(b"".join(parts))
    items = read_all(tmp_path / "big.warc.gz", opts=ReaderOptions(max_doc_bytes=1_000_000, extractor="resiliparse"))
    assert_one_error(items, "doc_too_large", "big.warc.gz", len(parts[0]))
    assert [d["source"]["url"] for d in split(items)[0]] == ["http://s1/", "http://s2/"]
