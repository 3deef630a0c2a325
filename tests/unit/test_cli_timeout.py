"""`--timeout` is the bound the help promises: connects and each reply wait at most that long, and a whole
dialogue at most SESSION_FACTOR times as long, also against a server that answers every read just in time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from hostile_server import HostileMode, HostileServer
from threaded import serving
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.cli.options import Options
from mailprobe.cli.settings import build_config
from mailprobe.config import SESSION_FACTOR, Config
from mailprobe.profiles import load_profile

runner = CliRunner()


@pytest.fixture(scope="module")
def drip_port() -> Iterator[int]:
    """A greeting one byte every 0.2 s, never finished: each read is answered well within --timeout."""
    with serving(HostileServer(HostileMode.DRIP, interval=0.2, lifetime=60)) as [port]:
        yield port


@pytest.mark.parametrize("timeout", [1.0, 2.0])
def test_a_drip_feeding_server_holds_a_session_for_the_session_limit_only(drip_port: int, timeout: float) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["handshake", f"127.0.0.1:{drip_port}/smtp", "--timeout", f"{timeout:g}", "--json"])
    took = time.monotonic() - started
    [handshake] = json.loads(result.stdout)["handshakes"]
    assert handshake["status"] == "session-timeout" and handshake["reason"] == "session deadline reached"
    limit = SESSION_FACTOR * timeout
    assert limit * 0.9 <= handshake["elapsed_ms"] / 1000 <= limit + 0.5
    assert took < limit + 2.0  # the whole run, not only the session


def test_the_session_limit_scales_with_the_timeout() -> None:
    limits = build_config(Options(timeout=4)).limits
    assert (limits.connect_timeout, limits.read_timeout, limits.session_timeout) == (4, 4, 4 * SESSION_FACTOR)
    default = Config().limits
    assert default.session_timeout == SESSION_FACTOR * default.read_timeout  # the documented default, 30 s
    profiled = load_profile("ci-health").configure(Config()).limits  # a profile's timeout scales it the same way
    assert profiled.session_timeout == SESSION_FACTOR * 5
    assert build_config(Options(timeout=2), load_profile("ci-health").configure(Config())).limits.session_timeout == 6


def test_the_help_says_what_the_timeout_bounds() -> None:
    text = " ".join(runner.invoke(app, ["handshake", "--help"]).stdout.split())
    option = text[text.index("--timeout SECONDS") :]
    assert option.startswith(
        f"--timeout SECONDS Wait at most this long for a connect and for each reply; a whole dialogue gets "
        f"{SESSION_FACTOR} times as long. Default: 5 for a connect, 10 for a reply, 30 for a dialogue."
    )
