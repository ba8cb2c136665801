"""The `heitu` command as a user runs it: commands, output, and one-paragraph errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import real_docs, write_jsonl

from heitu import __version__


def heitu(*args: str, home: Path, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEITU_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "heitu.cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture
def dataset(tmp_path, shared_data):
    write_jsonl(tmp_path / "in" / "docs.jsonl", real_docs(shared_data, n_zh=60, n_en=5))
    out = tmp_path / "out"
    res = heitu("data", "run", "recipes/zh-web.yaml".replace("recipes", str(Path(__file__).parents[1] / "recipes")),
                "-i", str(tmp_path / "in"), "-o", str(out), home=tmp_path / "home")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    return tmp_path, out, manifest


def test_run_ls_show_explain_rejects(dataset):
    tmp, out, m = dataset
    home = tmp / "home"
    version = m["version"]
    ls = heitu("data", "ls", home=home)
    assert version in ls.stdout and "zh-web" in ls.stdout
    show = heitu("data", "show", version[:10], home=home)
    assert show.returncode == 0 and "docs.jsonl" in show.stdout and "zh_quality" in show.stdout
    shown = json.loads(heitu("data", "show", str(out), "--json", home=home).stdout)
    assert shown["version"] == version
    rej = heitu("data", "rejects", version, "--step", "zh_quality", "--limit", "3", home=home)
    assert rej.returncode == 0 and "zh_quality" in rej.stdout
    import polars as pl

    doc = pl.read_parquet(next((out / "data").glob("*.parquet")))["id"][0]
    ex = heitu("data", "explain", version, doc, home=home)
    assert ex.returncode == 0 and "kept" in ex.stdout and "zh_signals" in ex.stdout


def test_user_mistakes_print_one_paragraph_not_a_traceback(tmp_path):
    home = tmp_path / "home"
    cases = [
        ("data", "run", str(tmp_path / "missing.yaml"), "-i", "x", "-o", str(tmp_path / "o")),
        ("data", "show", "ds-doesnotexist"),
        ("data", "explain", str(tmp_path), "some-id"),
        ("data", "redact", str(tmp_path / "nofile.txt")),
    ]
    for args in cases:
        res = heitu(*args, home=home)
        assert res.returncode == 1, args
        assert "error:" in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)
    res = heitu("--debug", "data", "show", "ds-doesnotexist", home=home)
    assert res.returncode == 1 and "Traceback" in res.stderr


def test_usage_errors_show_usage_not_a_traceback(tmp_path):
    # typer >= 0.2x raises its own copy of click's exceptions; both must end as a usage message
    home = tmp_path / "home"
    for args, message in [
        (("data", "dedup", "-i", "x", "-o", "y", "--no-such-option"), "No such option: --no-such-option"),
        (("data", "nosuch"), "No such command 'nosuch'"),
        (("data", "dedup", "-i", "x", "-o", "y", "--threshold", "high"), "Invalid value for '--threshold'"),
    ]:
        res = heitu(*args, home=home)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)
    res = heitu("--version", home=home)
    assert res.returncode == 0 and res.stdout.strip() == __version__


def test_input_glob_that_matches_nothing(tmp_path):
    spec = Path(__file__).parents[1] / "recipes" / "zh-web.yaml"
    res = heitu("data", "run", str(spec), "-i", str(tmp_path / "nothing-*.jsonl"), "-o", str(tmp_path / "o"),
                home=tmp_path / "home")
    assert res.returncode == 1 and "nothing-*.jsonl" in res.stderr and "Traceback" not in res.stderr


def test_redact_plain_text_and_jsonl(tmp_path):
    home = tmp_path / "home"
    text = "请联系 13800138000 或 a.b@example.com\n没有个人信息的一行\n"
    res = heitu("data", "redact", "-", home=home, stdin=text)
    assert res.returncode == 0
    assert res.stdout.splitlines() == ["请联系 <PHONE> 或 <EMAIL>", "没有个人信息的一行"]
    jl = tmp_path / "x.jsonl"
    jl.write_text(json.dumps({"id": 1, "text": "IP 10.0.0.1", "other": "13800138000"}, ensure_ascii=False) + "\n")
    res = heitu("data", "redact", str(jl), "--counts", home=home)
    rec = json.loads(res.stdout)
    assert rec == {"id": 1, "text": "IP <IP>", "other": "13800138000"}  # only the text field
    assert json.loads(res.stderr.strip().splitlines()[-1])["ip"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    res = heitu("data", "redact", str(bad), home=home)
    assert res.returncode == 1 and "line 2" in res.stderr and "Traceback" not in res.stderr


def test_missing_extra_names_the_extra():
    import pickle

    from heitu.core.errors import MissingExtra, require

    with pytest.raises(MissingExtra, match=r"pip install 'heitu\[ray\]'") as exc:
        require("surely_not_installed_pkg", extra="ray", feature="The Ray executor")
    # raised inside a worker process, it must cross back to the parent intact
    again = pickle.loads(pickle.dumps(exc.value))
    assert str(again) == str(exc.value) and again.extra == "ray"


def test_help_is_fast_and_does_not_import_heavy_modules(tmp_path):
    code = ("import sys; from heitu.cli import app; "
            "print(','.join(m for m in ('polars','pyarrow','trafilatura','torch') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == ""


def test_report_and_diff_commands(dataset, shared_data):
    tmp, out, m = dataset
    home = tmp / "home"
    lm = tmp / "ref.lm.gz"
    res = heitu("data", "reference-lm", "train", "-i", str(shared_data / "chinese_text" / "fewclue_csldcp_test_public.jsonl"),
                "-o", str(lm), home=home)
    assert res.returncode == 0 and lm.is_file()
    res = heitu("data", "report", m["version"], "--reference-lm", str(lm), "--html", str(tmp / "r.html"),
                "--json", str(tmp / "card.json"), home=home)
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp / "card.json").read_text())
    assert card["dataset"] == m["version"] and "overall" in res.stdout
    assert card["dimensions"]["informativeness"]["metrics"].get("perplexity") is not None
    assert "<svg" in (tmp / "r.html").read_text()
    # a stricter length rule: the diff names the rule that explains the change
    spec = (Path(__file__).parents[1] / "recipes" / "zh-web.yaml").read_text()
    strict = tmp / "strict.yaml"
    strict.write_text(spec.replace('keep: "zh_char_len_v1 >= 80"', 'keep: "zh_char_len_v1 >= 400"'))
    out2 = tmp / "out2"
    assert heitu("data", "run", str(strict), "-i", str(tmp / "in"), "-o", str(out2), home=home).returncode == 0
    res = heitu("data", "diff", str(out), str(out2), "--json", home=home)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["documents"]["added"] == 0 and d["documents"]["removed"] > 0
    top = d["explained_by"][0]
    assert (top["reason"], top["rule_changed"]) == ("too_short", True) and top["delta"] == d["documents"]["removed"]
    res = heitu("data", "report", m["version"], "--reference-lm", str(tmp / "missing.lm"), home=home)
    assert res.returncode == 1 and "missing.lm" in res.stderr and "Traceback" not in res.stderr


def test_dedup_command_removes_a_planted_near_duplicate(tmp_path, shared_data):
    docs = real_docs(shared_data, n_zh=40, n_en=10)
    orig = docs[5]["text"]
    near = orig[:-6] + "数据集。"  # the last few characters reworded
    write_jsonl(tmp_path / "in" / "a.jsonl", docs + [{"id": "near-copy", "text": near}])
    out = tmp_path / "out"
    res = heitu("data", "dedup", "-i", str(tmp_path / "in"), "-o", str(out), "--threshold", "0.8",
                home=tmp_path / "home")
    assert res.returncode == 0, res.stderr
    assert "near_duplicate: 1" in res.stdout
    ex = heitu("data", "explain", str(out), "near-copy", home=tmp_path / "home")
    assert "near_duplicate" in ex.stdout and "duplicate of" in ex.stdout
    bad = heitu("data", "dedup", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--threshold", "1.5",
                home=tmp_path / "home")
    assert bad.returncode == 1 and "threshold" in bad.stderr and "Traceback" not in bad.stderr
