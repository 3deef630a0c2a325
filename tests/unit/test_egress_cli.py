"""`mailprobe egress` and `mailprobe trace` on the command line: bad input is one line and exit 2."""

from __future__ import annotations

import json
import socket

import pytest

from mailprobe.cli.app import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["egress", "--target", "127.0.0.1", "--control-port", "0"], "bad control port 0: must be 1-65535"),
        (["egress", "--target", "127.0.0.1", "--control-port", "70000"], "must be 1-65535"),
        (["egress", "--target", "127.0.0.1", "--control-port", "587,,465"], "empty item"),
        (["egress", "--target", "127.0.0.1", "--control-port", "x"], "not a number"),
        (["egress", "--target", "127.0.0.1", "--control-port", "25"], "cannot include it"),
        (["egress", "--target", "127.0.0.1:25", "--control-port", "587"], "without a port"),
        (["egress", "--target", "bad name!", "--control-port", "587"], "bad name!"),
        (["egress", "--target", "127.0.0.1", "--control-port", "587", "--timeout", "0"], "bad --timeout"),
        (["trace", "127.0.0.1", "--port", "0"], "bad --port 0"),
        (["trace", "127.0.0.1", "--port", "25", "--control-port", "25"], "must differ"),
        (["trace", "127.0.0.1", "--max-hops", "100"], "bad --max-hops 100"),
        (["trace", "127.0.0.1:25"], "give the port with --port"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mailprobe: error: ")
    assert message in err
    assert "Traceback" not in err


def test_egress_json_and_exit_code_on_loopback(capsys: pytest.CaptureFixture[str], control: int) -> None:
    probe = socket.socket()
    if probe.connect_ex(("127.0.0.1", 25)) == 0:
        probe.close()
        pytest.skip("something listens on 127.0.0.1:25 here")
    probe.close()
    code, out, _err = run(capsys, "egress", "--target", "127.0.0.1", "--control-port", str(control), "--json")
    report = json.loads(out)
    assert report["command"] == "egress"
    assert report["egress"]["verdict"] == "blocked-reset"
    assert code == 1  # only "open" exits 0
    assert [f["code"] for f in report["findings"]] == ["PORT25-BLOCKED"]
