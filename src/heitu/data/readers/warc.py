"""WARC / WET reader (FastWARC), plus ARC (warcio, which FastWARC cannot parse).

Documents: HTTP `response` records with a 2xx status and an HTML payload (main text extracted with
`opts.extractor`), and WET `conversion` records (already text). Everything else (request,
metadata, warcinfo, revisit, non-HTML responses) is skipped silently.
id = WARC-Record-ID; source.url = WARC-Target-URI; source.date = WARC-Date; offset = byte offset
of the record in the (compressed) file, i.e. where a `seek` + FastWARC finds it again.

Robustness: FastWARC stops at the first unparseable record header and reads records truncated by
the end of the file without complaint. This module therefore
- checks the record before a failure: if it was consistent with its Content-Length, the failure
  is a bad header at the next record (warc_bad_header at that offset); if not, that record
  overran (its Content-Length is wrong) and is reported instead of yielded;
- resynchronises at the next record start (a gzip member decompressing to "WARC/", or a
  "WARC/1." line in an uncompressed file) and goes on;
- holds each document back until the next record parsed (one record of look-ahead), so that a
  record cut by the end of the file becomes a truncated_compressed / unreadable error, not half
  a document.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from heitu.core.errors import require
from heitu.data.readers.base import (
    DOC_TOO_LARGE,
    NO_TEXT,
    TRUNCATED_COMPRESSED,
    UNREADABLE,
    WARC_BAD_HEADER,
    ReaderOptions,
    ReadError,
    error,
    make_doc,
)
from heitu.data.readers.compression import open_raw
from heitu.data.readers.html import decode_html, extract_main_text
from heitu.data.readers.text import decode_text

_GZIP_MAGIC = b"\x1f\x8b\x08"
_SCAN = 1 << 20
_MAX_HEADER = 1 << 16
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
# Payloads without a Content-Type (ClueWeb-style records) count as HTML when they contain markup.
_HTML_SNIFF = re.compile(rb"<(!doctype\s+html|html|head|body|div|p|table|title|meta)[\s>/]", re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml+xml")


# --- record boundaries ----------------------------------------------------------------------


def _gunzip_prefix(f: BinaryIO, off: int, n: int = 16) -> bytes:
    f.seek(off)
    try:
        return zlib.decompressobj(31).decompress(f.read(4096), n)
    except zlib.error:
        return b""


def _next_record_start(f: BinaryIO, start: int, gz: bool) -> int | None:
    """First offset >= start where a WARC record plausibly begins (see module docstring)."""
    needle = _GZIP_MAGIC if gz else b"WARC/1."
    pos = start
    while True:
        f.seek(pos)
        window = f.read(_SCAN)
        if not window:
            return None
        i = window.find(needle)
        while i >= 0:
            cand = pos + i
            if gz:
                if _gunzip_prefix(f, cand).startswith(b"WARC/"):
                    return cand
            elif cand == 0 or (i > 0 and window[i - 1 : i] == b"\n") or (i == 0 and _byte_before(f, cand) == b"\n"):
                return cand
            i = window.find(needle, i + 1)
        if len(window) < _SCAN:
            return None
        pos += len(window) - len(needle)  # overlap: a needle may straddle two windows


def _byte_before(f: BinaryIO, off: int) -> bytes:
    f.seek(off - 1)
    return f.read(1)


def _split_header(block: bytes) -> tuple[int, int] | None:
    """(header length incl. blank line, WARC Content-Length) of the record starting `block`."""
    end = block.find(b"\r\n\r\n")
    if end < 0:
        return None
    m = _CONTENT_LENGTH.search(block, 0, end + 2)
    return (end + 4, int(m.group(1))) if m else None


def _record_status(f: BinaryIO, off: int, gz: bool, size: int) -> tuple[str, int | None]:
    """(status, end offset) of the record at `off`. status: 'ok' (complete and consistent with its
    Content-Length; `end` is where the next record must start), 'truncated' (cut by the end of the
    file), 'bad' (its Content-Length does not match what follows), or 'unknown' (a gzip member
    holding several records: nothing to check against)."""
    if gz:
        f.seek(off)
        if f.read(3) != _GZIP_MAGIC:
            return "unknown", None
        f.seek(off)
        d, head, total, consumed = zlib.decompressobj(31), b"", 0, 0
        parts, probe, skip = None, b"", 0  # probe: the decompressed bytes where the record should end
        try:
            while not d.eof:
                chunk = f.read(_SCAN)
                if not chunk:
                    return "truncated", None
                out = d.decompress(chunk)
                consumed += len(chunk)
                if parts is None and len(head) < _MAX_HEADER:
                    head += out[: _MAX_HEADER - len(head)]
                    # badly chunked writers leave the previous record's CRLFs in this member
                    skip = len(head) - len(head.lstrip(b"\r\n"))
                    parts = _split_header(head[skip:])
                if parts is not None and len(probe) < 5:
                    at = skip + parts[0] + parts[1] + 4 + len(probe) - total
                    if 0 <= at < len(out):
                        probe += out[at : at + 5 - len(probe)]
                total += len(out)
        except zlib.error:
            return "bad", None
        if parts is None:
            return "bad", None
        expected = skip + parts[0] + parts[1] + 4
        if total == expected:
            return "ok", off + consumed - len(d.unused_data)
        # more data than the record: fine if another record follows inside the same member
        # (whole-file gzip), else the Content-Length is wrong
        return ("unknown" if total > expected and probe == b"WARC/" else "bad"), None
    f.seek(off)
    parts = _split_header(f.read(_MAX_HEADER))
    if parts is None:
        return "bad", None
    end = off + parts[0] + parts[1] + 4
    if end > size:
        # cut by the end of the file, unless another record starts inside the claimed length
        # (then the Content-Length is simply wrong)
        nxt = _next_record_start(f, off + parts[0], gz)
        return ("truncated" if nxt is None else "bad"), None
    f.seek(end - 4)
    trailer = f.read(4 + 5)
    ok = trailer[:4] == b"\r\n\r\n" or trailer[4:] == b"WARC/" or end == size
    return ("ok" if ok else "bad"), end


# --- records -> documents ------------------------------------------------------------------


def _convert(rec, name: str, opts: ReaderOptions, types) -> dict | ReadError | None:
    """The document (or error) for one FastWARC record; None for records that are not documents."""
    off = rec.stream_pos
    h = rec.headers
    # WARC/1.0 writers (wget, dolma) wrap the URI in <...>; WARC/1.1 dropped the brackets
    url, date = (h.get("WARC-Target-URI") or "").strip("<> ") or None, h.get("WARC-Date")
    rid = (h.get("WARC-Record-ID") or "").strip("<> ") or None
    rtype = rec.record_type
    if rtype == types.conversion:
        meta = {"warc_type": "conversion", "lang": h.get("WARC-Identified-Content-Language")}
        payload = rec.reader.read(opts.max_doc_bytes + 1)
        if len(payload) > opts.max_doc_bytes:
            return error(name, off, DOC_TOO_LARGE, f"record of more than {opts.max_doc_bytes} bytes ({url})")
        text = (decode_text(payload) or payload.decode("utf-8", "replace")).strip()
    elif rtype == types.response:
        if not rec.is_http or not 200 <= (rec.http_headers.status_code or 0) < 300:
            return None
        mime = (rec.http_content_type or "").lower()
        if mime and mime not in _HTML_TYPES and mime not in ("application/octet-stream", "text/plain"):
            return None  # images, PDFs, JSON...: not HTML documents
        payload = rec.reader.read(opts.max_doc_bytes + 1)  # auto-decoded (gzip, chunked)
        if len(payload) > opts.max_doc_bytes:
            return error(name, off, DOC_TOO_LARGE, f"payload of more than {opts.max_doc_bytes} bytes ({url})")
        if mime not in _HTML_TYPES and not _HTML_SNIFF.search(payload, 0, 4096):
            return None
        text = extract_main_text(decode_html(payload, rec.http_charset), opts.extractor, url)
        meta = {"warc_type": "response", "content_type": mime, "http_status": rec.http_headers.status_code}
    else:
        return None
    if not text:
        return error(name, off, NO_TEXT, f"no extractable text ({url})")
    return make_doc(name, off, text, doc_id=rid, meta={k: v for k, v in meta.items() if v}, url=url, date=date)


def read_warc(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    """Documents of one WARC/WET file; see the module docstring for the contract."""
    fastwarc = require("fastwarc.warc", extra="web", feature="Reading WARC files", package="fastwarc")
    types = fastwarc.WarcRecordType
    try:
        f = open_raw(path)
        size = f.seek(0, 2)
        f.seek(0)
        gz = f.read(3) == _GZIP_MAGIC
    except OSError as exc:
        yield error(name, None, UNREADABLE, str(exc))
        return
    cut = TRUNCATED_COMPRESSED if gz else UNREADABLE
    pos: int | None = 0
    try:
        while pos is not None and pos < size:
            f.seek(pos)
            records = iter(fastwarc.ArchiveIterator(f, parse_http=True, auto_decode="all"))
            pending: tuple[int, dict | ReadError | None] | None = None  # one record of look-ahead
            failure: OSError | None = None
            while True:
                try:
                    rec = next(records)
                    item = _convert(rec, name, opts, types)
                except StopIteration:
                    break
                except OSError as exc:
                    failure = exc
                    break
                if pending is not None and pending[1] is not None:
                    yield pending[1]
                pending = (rec.stream_pos, item)
            if pending is None:
                if failure is None:
                    break
                # the record at `pos` itself is unreadable
                yield error(name, pos, WARC_BAD_HEADER, str(failure))
                pos = _next_record_start(f, pos + 1, gz)
                continue
            last, item = pending
            status, end = _record_status(f, last, gz, size)
            if status == "truncated":
                yield error(name, last, cut, "record cut by the end of the file")
                break
            if status == "bad":  # its Content-Length is wrong: it may hold the next records
                yield error(name, last, WARC_BAD_HEADER, "Content-Length missing or inconsistent with the record")
                pos = _next_record_start(f, last + 1, gz)
                continue
            if item is not None:
                yield item
            if failure is None:
                break
            # the record before is fine, so the header right after it is the broken one
            bad = end if end is not None else _next_record_start(f, last + 1, gz)
            yield error(name, bad if bad is not None else last, WARC_BAD_HEADER, str(failure))
            pos = _next_record_start(f, bad + 1, gz) if bad is not None else None
    except OSError as exc:
        yield error(name, None, UNREADABLE, str(exc))
    finally:
        f.close()


def read_arc(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    """Documents of a legacy ARC file (.arc / .arc.gz) via warcio; stops at the first bad record."""
    warcio = require("warcio.archiveiterator", extra="web", feature="Reading ARC files", package="warcio")
    try:
        f = open_raw(path)
    except OSError as exc:
        yield error(name, None, UNREADABLE, str(exc))
        return
    it = warcio.ArchiveIterator(f, arc2warc=True)
    off = 0
    try:
        for rec in it:
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            status = rec.http_headers.get_statuscode() or "0"
            mime = (rec.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
            if not status.isdigit() or not 200 <= int(status) < 300:
                continue
            payload = rec.content_stream().read(opts.max_doc_bytes + 1)
            off = it.get_record_offset()  # only after the payload: asking first makes warcio skip it
            if len(payload) > opts.max_doc_bytes:
                yield error(name, off, DOC_TOO_LARGE, f"payload of more than {opts.max_doc_bytes} bytes")
                continue
            if mime not in _HTML_TYPES and not _HTML_SNIFF.search(payload, 0, 4096):
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            text = extract_main_text(decode_html(payload), opts.extractor, url)
            if not text:
                yield error(name, off, NO_TEXT, f"no extractable text ({url})")
                continue
            yield make_doc(
                name,
                off,
                text,
                meta={"warc_type": "response", "content_type": mime, "http_status": int(status)},
                url=url,
                date=rec.rec_headers.get_header("WARC-Date"),
            )
    except Exception as exc:  # noqa: BLE001 - warcio raises ArchiveLoadFailed, ValueError...
        yield error(name, off, WARC_BAD_HEADER, str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    finally:
        f.close()
