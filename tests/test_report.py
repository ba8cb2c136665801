"""The dataset report page: built from a real zh-web run, checked as HTML and in headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import REPO_ROOT, real_docs, write_jsonl

from heitu.data.quality.report import _source_keys, build_report, parse_thresholds
from heitu.data.run import run_pipeline

PLANTED = "<script>alert('heitu-xss')</script><b>bold</b> & \"quoted\" plain English text that is not Chinese."
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

SCORECARD = {
    "dataset": "test",
    "dimensions": {
        "cleanliness": {"grade": "A", "metrics": {"boilerplate_share": 0.004, "read_error_rate": 0.0}},
        "duplication": {"grade": "B", "metrics": {"residual_exact_dup_rate": 0.0, "clusters": {"2": 3}}},
        "safety": {"grade": "D", "metrics": {"flagged_keyword_share": 0.03}},
        "diversity": {"grade": None, "metrics": {"distinct_1": 0.2}},
    },
    "overall": {"grade": "D", "rule": "worst graded dimension"},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_HOME", str(tmp / "home"))
        from heitu.core.settings import get_settings

        get_settings.cache_clear()
        docs = real_docs(shared_data, n_zh=200, n_en=30)
        spam = {"text": "在线赌场注册就送888元！\n百家乐、老虎机、六合彩，天天返水，提现秒到账！\n"
                        "加微信立即领取彩金，澳门真人娱乐等你来玩！\n博彩娱乐平台，充值优惠，代理招募，高额返佣！\n"
                        "体育投注、真人视讯、电子游戏一应俱全，新会员首存再送百分之百彩金。\n"
                        "信誉第一，资金安全，二十四小时在线客服为您服务。"}
        rows = docs[:150] + [dict(docs[10]), dict(docs[10]), dict(docs[11])]
        rows += [{"text": PLANTED * 3}, spam]
        write_jsonl(tmp / "in" / "a.jsonl", rows)
        write_jsonl(tmp / "in" / "b.jsonl", docs[150:])
        res = run_pipeline(REPO_ROOT / "recipes" / "zh-web.yaml", [str(tmp / "in" / "*.jsonl")], tmp / "out",
                           show_progress=False)
        get_settings.cache_clear()
    return res.out_dir, res.manifest


@pytest.fixture(scope="module")
def page(dataset) -> str:
    out, manifest = dataset
    return build_report(out, manifest, SCORECARD)


def _blocks(html: str, opening: str) -> list[str]:
    """Chunks of the page starting at each occurrence of `opening` (up to the next one)."""
    idx = [m.start() for m in re.finditer(re.escape(opening), html)]
    return [html[a:b] for a, b in zip(idx, idx[1:] + [len(html)])]


def test_grades_and_key_metrics(page):
    assert re.search(r'data-dimension="overall"><span class="badge big grade" data-grade="D"', page)
    for name, d in SCORECARD["dimensions"].items():
        m = re.search(rf'data-dimension="{name}"><h3><span class="[^"]*" data-grade="([A-E]?)"', page)
        assert m, name
        assert m.group(1) == (d["grade"] or "")
    assert "boilerplate share" in page and "0.004" in page
    assert "worst graded dimension" in page


def test_every_thresholded_signal_has_a_chart_with_its_threshold_line(dataset, page):
    _, manifest = dataset
    ths = parse_thresholds(manifest)
    # the zh-web recipe: 10 simple rules plus the lang_score_v1 clause of the lang_not_zh conjunction
    assert len(ths) == 11
    assert {t.reason for t in ths} >= {"not_chinese", "too_short", "lang_not_zh", "gambling_keywords"}
    figures = {re.search(r'data-signal="([^"]+)"', b).group(1): b for b in _blocks(page, '<figure class="card signal"')}
    for t in ths:
        fig = figures[t.column]
        assert "<svg" in fig and "</title></rect>" in fig, t.column  # at least one bar
        assert f'class="threshold" data-threshold="{t.value:g}"' in fig, t.column
        assert html.escape(f"{t.reason}: keep {t.op} {t.value:g}") in fig
    # the rule-less signals get a chart too; PII counts are a table
    assert "zh_kw_sensitive_density_v1" in figures and "pii_phone_count_v1" not in figures
    assert "pii_phone_count_v1" in page


def test_waterfall_lists_each_step_and_reason(dataset, page):
    _, manifest = dataset
    water = page[page.index('id="waterfall"'):page.index('id="lengths"')]
    steps = manifest["counts"]["steps"]
    assert any(s["dropped"] for s in steps)
    for s in steps:
        assert f'data-step="{s["name"]}"' in water
        for reason, n in s["dropped"].items():
            assert f"{s['name']} · {reason}" in water
            assert f"−{n:,} (" in water
    assert f"{manifest['counts']['docs_kept']:,} (" in water
    assert {"exact_duplicate", "gambling_keywords", "not_chinese"} <= {r for s in steps for r in s["dropped"]}


def test_sections_and_rejected_examples_are_escaped(dataset, page):
    _, manifest = dataset
    for section in ("scorecard", "waterfall", "lengths", "signals", "mix", "duplicates", "rates", "examples"):
        assert f'id="{section}"' in page
    # the planted markup only appears escaped
    assert "<script" not in page and "alert('heitu-xss')" not in page
    assert "&lt;script&gt;alert(&#x27;heitu-xss&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in page
    # examples for every reason with drops, text truncated
    for s in manifest["counts"]["steps"]:
        for reason in s["dropped"]:
            assert f'data-step="{s["name"]}" data-reason="{reason}"' in page
    longest = max(len(m) for m in re.findall(r"<pre>(.*?)</pre>", page, re.DOTALL))
    assert longest < 2000
    # languages, sources (URL host, else input file), duplicate clusters of size 3 and 2
    assert ">zh<" in page and ">en<" in page
    assert "a.jsonl" in page and "b.jsonl" in page
    dup = page[page.index('id="duplicates"'):page.index('id="rates"')]
    assert "exact_dedup" in dup and ">3<" in dup
    # self-contained: nothing fetched from anywhere
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "@import" not in page and "<link rel=\"stylesheet\"" not in page


def test_source_key_is_url_host_else_file():
    src = pa.array([{"file": "a.warc.gz", "url": "https://www.Example.com:443/x?y=1"},
                    {"file": "b.jsonl", "url": None},
                    {"file": "c.warc", "url": "http://user@news.example.cn/path"}],
                   pa.struct([("file", pa.string()), ("url", pa.string())]))
    assert _source_keys(src).to_pylist() == ["example.com", "b.jsonl", "news.example.cn"]


def test_report_without_scorecard(dataset):
    out, manifest = dataset
    html = build_report(out, manifest, {})
    assert "No scorecard was computed" in html and 'id="signals"' in html


# --------------------------------------------------------------------------- Chromium

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# Added to a copy of the page only (the report itself has no script): records script errors and
# failed resource loads, every fetched resource, and each chart's rendered size into the DOM,
# which --dump-dom then prints.
_PROBE_HEAD = ("<script>window.__errs=[];addEventListener('error',function(e){window.__errs.push("
               "String(e.message||(e.target&&(e.target.src||e.target.href))||'error'))},true);</script>")
_PROBE_TAIL = ("<script>(function(){var s=[].slice.call(document.querySelectorAll('svg.chart')).map(function(e){"
               "var r=e.getBoundingClientRect();return [r.width,r.height,e.querySelectorAll('rect').length]});"
               "var res=performance.getEntriesByType('resource').map(function(r){return r.name});"
               "document.body.setAttribute('data-probe',JSON.stringify({svgs:s,errors:window.__errs,"
               "resources:res,scroll:document.documentElement.scrollWidth}));})();</script>")


def _run_chromium(exe: str, url: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
             "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args, url],
            check=False, capture_output=True, text=True, timeout=120)


def _console_lines(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if ":CONSOLE" in l]


def test_renders_in_headless_chromium(dataset, tmp_path):
    exe = _chromium()
    if exe is None:
        if os.environ.get("HEITU_REQUIRE_CHROMIUM") == "1":
            pytest.fail("HEITU_REQUIRE_CHROMIUM=1 but no chromium found (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    out, manifest = dataset
    try:
        from heitu.data.quality.scorecard import compute_scorecard

        scorecard = compute_scorecard(out, manifest)
    except ImportError:
        scorecard = SCORECARD
    html = build_report(out, manifest, scorecard)
    report = tmp_path / "report.html"
    report.write_text(html, encoding="utf-8")

    # the console check itself works: a control page that logs is caught
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><body><script>console.error('control-error')</script></body></html>")
    assert any("control-error" in l for l in _console_lines(_run_chromium(exe, control.as_uri(), "--dump-dom").stderr))

    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace("</body>", _PROBE_TAIL + "</body>", 1),
                     encoding="utf-8")
    res = _run_chromium(exe, probe.as_uri(), "--window-size=1280,4000", "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_lines(res.stderr) == []
    m = re.search(r'data-probe="([^"]*)"', res.stdout)
    assert m, res.stdout[:2000]
    data = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert data["errors"] == []
    assert data["resources"] == []            # nothing fetched: fonts, styles, images all inline
    assert data["scroll"] <= 1280             # no horizontal overflow at 1280 px
    n_signals = len(re.findall(r'<figure class="card signal"', html))
    assert n_signals >= 11
    assert len(data["svgs"]) == html.count('<svg class="chart')
    assert len(data["svgs"]) >= n_signals + 4   # + waterfall, lengths, languages, sources
    for w, h, rects in data["svgs"]:
        assert w > 100 and h > 20 and rects >= 1

    # the report itself: no console output at all, and a screenshot kept as a test artifact
    shot = tmp_path / "report.png"
    res = _run_chromium(exe, report.as_uri(), "--window-size=1280,4000", f"--screenshot={shot}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_lines(res.stderr) == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 1280 and int.from_bytes(png[20:24], "big") == 4000
    assert len(png) > 50_000                   # a blank page compresses to a few kB
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for dest in [ARTIFACTS] + ([Path(os.environ["HEITU_TEST_ARTIFACTS"])] if os.environ.get("HEITU_TEST_ARTIFACTS") else []):
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "report.png")
        shutil.copy(report, dest / "report.html")


def test_report_when_every_document_is_dropped(tmp_path, heitu_home, shared_data):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: drop-all\nsteps:\n  - type: zh_signals\n  - name: q\n    type: select\n    params:\n"
                    "      rules:\n        - {reason: too_short, keep: \"zh_char_len_v1 >= 1000000 OR zh_cjk_ratio_v1 > 2\"}\n")
    write_jsonl(tmp_path / "in" / "a.jsonl", real_docs(shared_data, n_zh=20, n_en=2))
    res = run_pipeline(spec, [str(tmp_path / "in" / "a.jsonl")], tmp_path / "out", show_progress=False)
    assert res.manifest["counts"]["docs_kept"] == 0
    page = build_report(res.out_dir, res.manifest, None)
    assert parse_thresholds(res.manifest) == []          # an OR rule has no single threshold line
    assert "q · too_short" in page and 'data-reason="too_short"' in page
    assert 'data-signal="zh_char_len_v1"' in page and 'class="threshold"' not in page
