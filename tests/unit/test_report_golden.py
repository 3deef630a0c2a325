"""Golden files from real pipeline output: the embedded lab audited through the engine, normalised.

audit.json is the normalised report of a real run (see golden_run.py); every other golden file is that report
rendered in one format. A fresh run must normalise to the same JSON, so the golden files can only show what
the pipeline really produces, and every finding code in them must be in the catalogue.

Regenerate after an intended change with MAILPROBE_UPDATE_GOLDEN=1, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from golden_run import pipeline_report

from mailprobe.checks.defs import all_codes
from mailprobe.model import Report
from mailprobe.report import render
from mailprobe.report.serialize import report_from_jsonable

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report"
SOURCE = GOLDEN / "audit.json"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "audit.table.txt": ("table", {}),
    "audit.table-80-transcript.txt": ("table", {"transcript": True, "width": 80}),
    "audit.jsonl": ("jsonl", {}),
    "audit.junit.xml": ("junit", {}),
    "audit.md": ("markdown", {"transcript": True}),
    "audit.html": ("html", {"transcript": True}),
    "audit.nagios.txt": ("nagios", {}),
}
UPDATE = os.environ.get("MAILPROBE_UPDATE_GOLDEN") == "1"


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs; see the module docstring to regenerate"


def golden_report() -> Report:
    return report_from_jsonable(json.loads(SOURCE.read_text(encoding="utf-8")))


async def test_the_golden_report_is_what_the_pipeline_produces() -> None:
    _check(SOURCE, render(await pipeline_report(), "json"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    fmt, options = CASES[name]
    _check(GOLDEN / name, render(golden_report(), fmt, **options))


def test_the_golden_report_has_passes_findings_and_errors() -> None:
    report = golden_report()
    statuses = {c.status.value for c in report.checks}
    assert statuses == {"passed", "failed"}
    assert {f.severity.value for f in report.findings} >= {"critical", "info"}
    assert {p.state.value for p in report.ports} == {"open", "blocked"}  # no verdict, and no "passed", for those


def test_every_finding_code_in_the_golden_files_is_in_the_catalogue() -> None:
    report = golden_report()
    codes = {f.code for f in report.findings} | {code for c in report.checks for code in c.codes}
    assert codes and codes <= set(all_codes()), codes - set(all_codes())
    for name in CASES:
        text = (GOLDEN / name).read_text(encoding="utf-8")
        shown = [code for code in codes if code in text]
        assert shown, f"{name} shows no finding code"
    assert not [p.name for p in GOLDEN.iterdir() if p.name.startswith("sample.")], "stale hand-built goldens"
