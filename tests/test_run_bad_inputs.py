"""Bad input through a whole run: every bad record lands in errors/ with file, offset and
reason; the run completes and says how many failed; --max-errors fails fast and keeps work."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from heitu.core.errors import UserError
from heitu.data.run import run_pipeline

from conftest import real_docs, write_jsonl

SPEC = "name: bad\nsteps:\n  - type: exact_dedup\n"


@pytest.fixture
def messy(tmp_path, shared_data):
    d = tmp_path / "in"
    docs = real_docs(shared_data, n_zh=40, n_en=0)
    write_jsonl(d / "good.jsonl", docs[:20])
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in docs[20:30]]
    lines.insert(3, b'{"text": "unterminated')  # invalid JSON at line 4
    lines.insert(6, b'{"text": "caf\xe9 latin-1"}')  # invalid UTF-8 at line 7
    lines.insert(8, b'{"body": "no text field"}')  # missing text at line 9
    lines.insert(9, b'{"text": 42}')  # non-string text at line 10
    (d / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    full = gzip.compress(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in docs[30:40]))
    (d / "cut.jsonl.gz").write_bytes(full[: len(full) * 2 // 3])  # truncated gzip
    (d / "empty.jsonl").write_bytes(b"")
    (d / "blob.jsonl").write_bytes(bytes(range(256)) * 64)  # binary
    (d / "page.html").write_text("<html><body><script>var x=1;</script></body></html>")  # no text
    return d


def _errors(out):
    rows = []
    for f in sorted((out / "errors").glob("*.jsonl")):
        rows += [json.loads(l) for l in f.read_text().splitlines()]
    return rows


def test_run_completes_and_records_every_bad_record(heitu_home, tmp_path, messy):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    res = run_pipeline(spec, [str(messy)], tmp_path / "out", show_progress=False)
    errs = _errors(res.out_dir)
    by_code = {}
    for e in errs:
        by_code.setdefault(e["reason"].split(":")[0], []).append(e)
    assert {"invalid_json", "invalid_utf8", "missing_text", "text_not_string", "truncated_compressed",
            "empty_file", "binary_file", "no_text"} <= set(by_code)
    assert (by_code["invalid_json"][0]["file"], by_code["invalid_json"][0]["offset"]) == ("mixed.jsonl", 4)
    assert by_code["invalid_utf8"][0]["offset"] == 7
    assert by_code["missing_text"][0]["offset"] == 9 and by_code["text_not_string"][0]["offset"] == 10
    assert by_code["binary_file"][0]["file"] == "blob.jsonl"
    counts = res.manifest["counts"]
    assert counts["read_errors"] == len(errs)
    assert counts["read_errors_by_reason"]["invalid_json"] == 1
    # the good records around the bad ones are all there: 20 + 10 + those before the gzip cut
    assert 30 < counts["docs_read"] < 40


def test_max_errors_fails_fast_and_keeps_finished_work(tmp_path, messy):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    env = {**os.environ, "HEITU_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "heitu.cli", "data", "run", str(spec), "-i", str(messy), "-o", str(out),
           "--max-errors", "2"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 1
    assert "--max-errors" in res.stderr and "Traceback" not in res.stderr
    assert not (out / "manifest.json").exists()
    finished = list((out / "_work" / "s0").glob("*.done.json"))
    assert finished  # shards done before the failure are kept
    # raising the limit and resuming finishes the run without redoing them
    res = subprocess.run(cmd[:-1] + ["100", "--resume"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "records could not be read" in res.stdout


def test_too_many_errors_message_names_file_and_offset(heitu_home, tmp_path, messy):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    with pytest.raises(UserError, match=r"mixed\.jsonl.*offset"):
        run_pipeline(spec, [str(messy / "mixed.jsonl")], tmp_path / "out", max_errors=1, show_progress=False)
