"""--resolver is checked beside the run, not before it: the first probes go out while the check's query travels,
nothing is written until the resolver has answered, and an unusable one is still one line, exit 2, no output."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import pytest

from mailprobe.cli import common
from mailprobe.cli.app import main

SAFE_ENV = {"MAILPROBE_ALLOW_ONLY": "127.0.0.0/8,::1/128", "NO_COLOR": "1"}
ANSWER_DELAY = 0.8  # seconds the slow resolver waits before it answers


@pytest.fixture(autouse=True)
def _safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SAFE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(common, "_interruption_said", False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@contextmanager
def looping(step: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """`step(stop)` again and again in a thread until the block ends (`stop` is then set)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            step(stop)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)


@contextmanager
def slow_resolver() -> Iterator[tuple[int, list[float]]]:
    """A UDP DNS server on 127.0.0.1 that answers every query (NOERROR, empty) ANSWER_DELAY seconds late;
    yields its port and the times (time.monotonic) at which it sent its answers."""
    answered: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.1)

        def answer_one(_stop: threading.Event) -> None:
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                return
            time.sleep(ANSWER_DELAY)
            sock.sendto(dns.message.make_response(dns.message.from_wire(data)).to_wire(), peer)
            answered.append(time.monotonic())

        with looping(answer_one):
            yield int(sock.getsockname()[1]), answered


@contextmanager
def accepting(drip: bool = False) -> Iterator[tuple[int, list[float]]]:
    """A TCP listener on 127.0.0.1 that records when each connection came (time.monotonic); with `drip` it
    keeps them open and sends a continuation line of a greeting every 0.3 s (a session that lasts until its
    deadline, 3 x --timeout)."""
    came: list[float] = []
    held: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.1)

        def accept_one(stop: threading.Event) -> None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            came.append(time.monotonic())
            if drip:
                held.append(conn)
                threading.Thread(target=dripping, args=(conn, stop), daemon=True).start()
            else:
                conn.close()

        try:
            with looping(accept_one):
                yield int(listener.getsockname()[1]), came
        finally:
            for conn in held:
                conn.close()


def dripping(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(0.3):
        try:
            conn.sendall(b"220-still greeting\r\n")
        except OSError:
            return


def test_the_first_probes_go_out_while_the_resolver_check_waits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with slow_resolver() as (dns_port, answered), accepting() as (port, came):
        code, _, err = run(
            capsys, "ports", "127.0.0.1", "--ports", str(port), "--format", "jsonl", "-o", str(out),
            "--resolver", f"127.0.0.1:{dns_port}",
        )  # fmt: skip
    assert code == 0, err
    assert came and answered, (came, answered)
    assert came[0] < answered[0] - ANSWER_DELAY / 2  # the connect did not wait for the check's answer
    assert '"state":"open"' in out.read_text()


def test_an_unusable_resolver_is_one_line_exit_2_and_no_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with accepting() as (port, _came):
        code, stdout, err = run(
            capsys, "ports", "127.0.0.1", "--ports", str(port), "--format", "jsonl", "-o", str(out),
            "--resolver", "127.0.0.1:9", "--timeout", "1",
        )  # fmt: skip
    assert code == 2 and stdout == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "resolver 127.0.0.1:9" in lines[0], err
    assert list(tmp_path.iterdir()) == []  # neither the output nor its partial file


def test_an_unusable_resolver_ends_a_long_run_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """A session to a server that never finishes its greeting lasts 3 x --timeout (6 s); the run ends when
    the check fails instead (its query times out after --timeout, 2 s), with the check's line."""
    with accepting(drip=True) as (port, came):
        started = time.monotonic()
        code, _, err = run(
            capsys, "handshake", f"127.0.0.1:{port}/smtp", "--resolver", "127.0.0.1:9", "--timeout", "2",
        )  # fmt: skip
        seconds = time.monotonic() - started
    assert code == 2 and "resolver 127.0.0.1:9" in err, err
    assert came  # the session had started
    assert seconds < 4.5, seconds


def test_a_resolver_the_guard_refuses_leaves_no_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """198.51.100.1 is outside MAILPROBE_ALLOW_ONLY here: refused before anything is sent, one line, and the
    output file is not created (the check failed before the first report was written)."""
    out = tmp_path / "out.jsonl"
    with accepting() as (port, _came):
        code, stdout, err = run(
            capsys, "ports", "127.0.0.1", "--ports", str(port), "--format", "jsonl", "-o", str(out),
            "--resolver", "198.51.100.1",
        )  # fmt: skip
    assert code != 0 and stdout == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "198.51.100.1" in lines[0] and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []
