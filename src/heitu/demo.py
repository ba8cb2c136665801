"""`heitu demo`: the Chinese web recipe on the bundled sample data, end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from heitu.core.progress import console
from heitu.core.settings import get_settings

SAMPLES = Path(__file__).parent / "data" / "samples" / "zh-web"
RECIPE = Path(__file__).parent / "data" / "recipes" / "zh-web.yaml"
# documents whose trail is worth showing: a kept one with PII redacted, an exact duplicate,
# a reworded near-duplicate, spam
SHOWCASE = ("heitu-005", "heitu-011", "heitu-023", "heitu-007")


def run_demo(output: str | None, workers: int) -> Path:
    from heitu.data.cli import _print_summary
    from heitu.data.run import run_pipeline
    from heitu.data.cli import explain as explain_cmd
    from heitu.data.cli import report as report_cmd

    if output is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        output = str(get_settings().workspace / "demo" / f"zh-web-{stamp}")
    inputs = [str(p) for p in sorted(SAMPLES.iterdir()) if p.suffix in (".jsonl", ".gz")]
    console.print(f"[bold]heitu demo[/]: recipe {RECIPE.name} on {len(inputs)} bundled sample files "
                  f"({SAMPLES}; sources and licences in SOURCES.md)")
    res = run_pipeline(RECIPE, inputs, output, workers=workers)
    _print_summary(res.out_dir, res.manifest)
    for doc_id in SHOWCASE:
        console.rule(f"heitu data explain {res.version} {doc_id}")
        explain_cmd(str(res.out_dir), doc_id)
    console.rule(f"heitu data report {res.version}")
    report_cmd(str(res.out_dir), html=None, json_out=None, reference_lm=None, sample=2000)
    console.rule("what next")
    console.print(
        f"dataset  : {res.out_dir}/data (kept documents), rejects/, ledger/, errors/, manifest.json\n"
        f"report   : {res.out_dir}/report/report.html (open it in a browser), scorecard.json\n"
        f"explain  : heitu data explain {res.version} DOC_ID\n"
        f"rejects  : heitu data rejects {res.version} --step zh_quality --limit 5\n"
        f"manifest : heitu data show {res.version}\n"
        f"catalog  : heitu data ls",
        highlight=False,
    )
    return res.out_dir
