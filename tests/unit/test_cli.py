"""The CLI shell: every format from the embedded demo, bad input as one line and exit 2, cheap --help."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.model import SCHEMA_VERSION

runner = CliRunner()


def mailprobe(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailprobe", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("mailprobe ")


def test_help_does_not_import_scapy_or_the_engine() -> None:
    code = (
        "import sys; from mailprobe.cli.app import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scapy', 'mailprobe.engine', 'dns.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ports", "127.0.0.1", "--ports", "0"], "must be 1-65535"),
        (["ports", "127.0.0.1", "--ports", "25,abc"], "not a number"),
        (["ports", "127.0.0.1", "--ports", "30-20"], "start after end"),
        (["mx", "bad..domain", "--resolver", "127.0.0.1"], "empty label"),
        (["mx", "example.test", "--resolver", "not-an-ip"], "bad --resolver"),
        (["audit", "example.test", "--timeout", "-1"], "bad --timeout"),
        (["audit", "example.test", "--format", "yaml"], "bad --format"),
        (["audit", "example.test", "--port", "smtp:25"], "SERVICE=PORT"),
        (["audit", "example.test", "--port", "gopher=70"], "unknown service"),
        (["audit", "example.test", "--fail-on", "bad"], "bad --fail-on"),
        (["audit", "example.test", "--shard", "5/4"], "bad --shard"),
        (["audit", "example.test", "--profile", "nope"], "unknown profile"),
        (["audit", "--input", "/nonexistent/targets.txt"], "No such file"),
        (["explain", "NOT-A-CODE"], "unknown finding code"),
        (["audit"], "no targets given"),
        (["ports", "--no-such-option"], "No such option"),
        (["handshake", "127.0.0.1:70000"], "must be 1-65535"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = mailprobe(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_unreachable_resolver_is_a_clear_error() -> None:
    result = mailprobe("mx", "example.test", "--resolver", "127.0.0.1:9", "--timeout", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stdout + result.stderr


def test_findings_and_explain() -> None:
    listed = runner.invoke(app, ["findings", "--json"])
    codes = {row["code"] for row in json.loads(listed.output)}
    assert {"SMTP-NO-STARTTLS", "AUTH-BEFORE-TLS", "TLS-CERT-EXPIRED", "TLS-HOSTNAME-MISMATCH"} <= codes
    explained = runner.invoke(app, ["explain", "auth-before-tls"])
    assert explained.exit_code == 0 and "How to fix it" in explained.output


def test_profiles_lists_the_shipped_ones() -> None:
    result = runner.invoke(app, ["profiles"])
    for name in ("isp-check", "mail-host", "submission", "ci-health"):
        assert name in result.output


class _Strict(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out: dict[str, str] = {}
    for fmt in ("table", "json", "jsonl", "junit", "markdown", "html", "nagios"):
        result = runner.invoke(app, ["demo", "--format", fmt])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        out[fmt] = result.stdout
    return out


def test_demo_table_shows_every_stage(demo_outputs: dict[str, str]) -> None:
    table = demo_outputs["table"]
    for needle in ("MX", "Ports", "Handshake smtp", "Handshake imaps", "TLSv1.3", "STARTTLS", "Findings"):
        assert needle in table


def test_demo_json_is_complete_and_valid(demo_outputs: dict[str, str]) -> None:
    import jsonschema

    data = json.loads(demo_outputs["json"])
    schema = json.loads((Path(__file__).parents[2] / "mailprobe/schema/report.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert data["schema_version"] == SCHEMA_VERSION
    assert len(data["handshakes"]) == 7 and len(data["ports"]) == 7
    assert {h["status"] for h in data["handshakes"]} == {"success"}
    assert data["dns"][0]["status"] == "found"


def test_demo_jsonl_and_merge_round_trip(demo_outputs: dict[str, str], tmp_path: Path) -> None:
    lines = [json.loads(line) for line in demo_outputs["jsonl"].splitlines()]
    assert lines[0]["type"] == "run" and lines[-1]["type"] == "summary"
    shard = tmp_path / "shard.jsonl"
    shard.write_text(demo_outputs["jsonl"])
    merged = runner.invoke(app, ["merge", str(shard), "--json", "--fail-on", "never"])
    assert merged.exit_code == 0, merged.output
    assert len(json.loads(merged.stdout)["handshakes"]) == 7


def test_demo_junit_html_markdown_nagios(demo_outputs: dict[str, str]) -> None:
    root = ET.fromstring(demo_outputs["junit"])
    assert root.iter("testcase") is not None and len(list(root.iter("testcase"))) >= 14
    parser = _Strict()
    parser.feed(demo_outputs["html"])
    assert "script" not in parser.tags and "html" in parser.tags
    assert demo_outputs["markdown"].lstrip().startswith("#")
    assert demo_outputs["nagios"].startswith("MAILPROBE ")


def test_demo_is_fast() -> None:
    result = mailprobe("demo", "--format", "json", timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["elapsed_ms"] < 5000
