"""Every output format from a real dialogue with a server whose banner is hostile: nothing it sends can
reach the terminal raw, break XML or HTML, or forge Markdown; JSON keeps the bytes losslessly."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hostile_server import NASTY_TEXT, HostileMode, HostileServer
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.model import Protocol

runner = CliRunner()


@pytest.fixture(scope="module")
def hostile_port() -> Iterator[int]:
    """The hostile SMTP server on its own event loop in a thread (the CLI runs asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    server = HostileServer(HostileMode.NASTY_BANNER, Protocol.SMTP)
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def run(port: int, fmt: str, *extra: str) -> str:
    result = runner.invoke(
        app, ["handshake", f"127.0.0.1:{port}", "--port", f"smtp={port}", "--format", fmt, "--timeout", "2", *extra]
    )
    allowed = (0, 1, 2) if fmt == "nagios" else (0, 1)  # nagios: 2 is CRITICAL, as monitoring plugins say
    assert result.exit_code in allowed, result.output
    return result.stdout


def test_table_and_transcript_escape_terminal_controls(hostile_port: int) -> None:
    out = run(hostile_port, "table", "--transcript")
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b[31;1mRED" in out  # shown, visibly escaped


def test_json_keeps_the_bytes(hostile_port: int) -> None:
    data = json.loads(run(hostile_port, "json"))
    entries = data["handshakes"][0]["transcript"]
    raw = b"".join(base64.b64decode(e["data"]["base64"]) for e in entries if e["direction"] == "S")
    assert NASTY_TEXT in raw


def test_junit_is_valid_xml(hostile_port: int, tmp_path: Path) -> None:
    out = run(hostile_port, "junit", "--transcript")
    ET.fromstring(out)
    if shutil.which("xmllint"):
        path = tmp_path / "junit.xml"
        path.write_text(out)
        subprocess.run(["xmllint", "--noout", str(path)], check=True)


def test_html_has_no_markup_from_the_server(hostile_port: int) -> None:
    out = run(hostile_port, "html", "--transcript")
    tags: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)

    Collect().feed(out)
    assert "script" not in tags and "<script>" not in out
    assert "&lt;script&gt;" in out


def test_markdown_cells_stay_cells(hostile_port: int) -> None:
    out = run(hostile_port, "markdown")
    assert "<script>" not in out and "\x1b" not in out
    for line in out.splitlines():
        if line.startswith("|") and "pipe" in line:
            assert "pipe\\|cell" in line  # the server's pipe cannot add a column


def test_nagios_and_jsonl_are_single_safe_lines(hostile_port: int) -> None:
    first = run(hostile_port, "nagios").splitlines()[0]
    assert first.startswith("MAILPROBE ") and "\x1b" not in first
    for line in run(hostile_port, "jsonl").splitlines():
        json.loads(line)
