"""Start-up of a run: only the named command registered (cli/app.py), command-line words coerced without
pydantic (cli/coercion.py) into the same values and errors as typer's own coercion, and a port scan that
imports none of pydantic, dnspython, cryptography or pyOpenSSL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import _coercion
from typer.models import ArgumentInfo, OptionInfo

from mailprobe.cli import coercion

WORDS = [
    "0", "7", "-3", "+5", "007", "1.5", "-.5", ".5", "5.", "1e3", "1E-2", "2.5e+2", "10.0", "inf", "-inf", "nan",
    "", " 1", "1 ", "1_000", "0x10", "\u0661\u0662", "abc", "1e", "e3", "--1", "99999999999999999999",
    "123456789012345678", "1.000000000000001",
]  # fmt: skip


def typer_coerced(annotation: Any, info: Any, value: Any) -> tuple[str, Any]:
    """What typer's own (pydantic) coercion makes of the value: ("value", v) or ("error", message)."""
    descriptor = _coercion.resolve_type_descriptor(annotation, info)
    try:
        return "value", _coercion.build_runtime_param(descriptor)._coerce_value(value, param=None, ctx=None)
    except typer.BadParameter as exc:
        return "error", exc.format_message()


def fast_coerced(annotation: Any, info: Any, value: Any) -> tuple[str, Any] | None:
    """What the fast path makes of it, None when it leaves the value to typer."""
    convert = coercion.fast_converter(annotation, info)
    assert convert is not None
    done = convert(value, None, None)
    return None if done is coercion._UNSURE else ("value", done)


@pytest.mark.parametrize(("annotation", "taken"), [(int, 6), (float, 14), (str, len(WORDS))])
def test_every_word_the_fast_path_takes_comes_out_as_typer_makes_it(annotation: type, taken: int) -> None:
    agreed = []
    for word in WORDS:
        fast = fast_coerced(annotation, OptionInfo(), word)
        if fast is not None:
            expected = typer_coerced(annotation, OptionInfo(), word)
            assert fast == expected and type(fast[1]) is type(expected[1]), word
            agreed.append(word)
    assert len(agreed) == taken, agreed  # the rest (odd spellings, errors) typer coerces itself


@pytest.mark.parametrize(
    ("annotation", "word", "value"),
    [(int, "25", 25), (int, "-3", -3), (float, "1.5", 1.5), (float, "5", 5.0), (float, "1e-3", 0.001), (str, "x", "x")],
)
def test_the_usual_words_take_the_fast_path(annotation: type, word: str, value: object) -> None:
    assert fast_coerced(annotation, OptionInfo(), word) == ("value", value)


def test_paths_and_lists_come_out_as_typer_makes_them(tmp_path: Path) -> None:
    existing = tmp_path / "targets.txt"
    existing.write_text("x\n")
    for word in (str(existing), str(tmp_path / "missing.txt"), str(tmp_path), "-"):
        assert fast_coerced(Path, OptionInfo(), word) == typer_coerced(Path, OptionInfo(), word)
    words = ["example.test", "203.0.113.1"]
    assert fast_coerced(list[str], ArgumentInfo(), words) == typer_coerced(list[str], ArgumentInfo(), words)
    paths = [str(existing)]
    assert fast_coerced(list[Path], ArgumentInfo(), paths) == typer_coerced(list[Path], ArgumentInfo(), paths)


def test_what_the_fast_path_does_not_know_goes_to_typer() -> None:
    assert coercion.fast_converter(float, OptionInfo(min=0)) is None  # a range: typer checks it
    assert coercion.fast_converter(tuple[int, int], OptionInfo()) is None
    assert fast_coerced(float, OptionInfo(), "abc") is None  # typer words the error
    assert typer_coerced(float, OptionInfo(), "abc")[0] == "error"


def test_a_port_scan_imports_neither_pydantic_nor_the_dns_and_tls_libraries() -> None:
    with socket.socket() as listener:  # one open port and, closed at once, one closed port on loopback
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            closed = spare.getsockname()[1]
        ports = f"{listener.getsockname()[1]},{closed}"
        code = (
            "import sys\nfrom mailprobe.cli.app import main\ntry:\n"
            f" main(['ports', '127.0.0.1', '--ports', '{ports}', '--timeout', '2', '--format', 'jsonl'])\n"
            "except SystemExit as exc:\n print('exit', exc.code)\n"
            "heavy = ('pydantic', 'dns', 'cryptography', 'OpenSSL', 'scapy', 'tabulate', 'mailprobe.report.html')\n"
            "print(sorted(name for name in heavy if name in sys.modules))"
        )
        env = {**os.environ, "MAILPROBE_ALLOW_ONLY": "127.0.0.0/8"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == ["exit 0", "[]"], (done.stdout, done.stderr)
    assert '"state":"open"' in done.stdout and '"state":"closed"' in done.stdout


def test_a_port_scan_sends_its_first_probe_before_importing_what_it_does_not_need_yet() -> None:
    """The record parsers, the profiles (and TOML), the nagios renderer and ctypes stay out of the start-up
    of a `ports` run without --profile: its first SYN waits for nothing it does not use. Background imports
    are switched off here, so that what the main thread imported is all there is when the first probe leaves."""
    code = (
        "import sys\nimport mailprobe.engine as engine\nimport mailprobe.net.connectscan as scan\n"
        "engine.import_meanwhile = lambda *names: None\nseen = []\nsubmit = scan.ConnectScanner.submit\n"
        "def first(self, *args):\n"
        "    if not seen:\n        seen.append(sorted(sys.modules))  # as the first probe leaves\n"
        "    return submit(self, *args)\n"
        "scan.ConnectScanner.submit = first\nfrom mailprobe.cli.app import main\ntry:\n"
        " main(['ports', '127.0.0.1', '--ports', '1', '--timeout', '1', '--format', 'jsonl', '--jobs', '1'])\n"
        "except SystemExit as exc:\n print('exit', exc.code)\n"
        "print([n for n in seen[0] if n.startswith(('mailprobe.records', 'mailprobe.profiles', 'tomllib', "
        "'mailprobe.report.nagios', 'ctypes'))])"
    )
    env = {**os.environ, "MAILPROBE_ALLOW_ONLY": "127.0.0.0/8"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip().splitlines()[-2:] == ["exit 0", "[]"], (done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("words", "named"),
    [
        (["ports", "-i", "targets.txt"], "ports"),
        (["--version"], None),
        ([], None),
        (["--help"], None),
        (["-h", "ports"], None),  # the root's help lists every command
        (["ports", "--help"], "ports"),
        (["nosuch", "x"], None),  # every command registered: click names the unknown one
        (["audit", "ports"], "audit"),
    ],
)
def test_main_registers_the_command_the_words_name(words: list[str], named: str | None) -> None:
    from mailprobe.cli.app import command_named

    assert command_named(words) == named


def test_root_help_lists_every_command_and_a_command_s_help_is_its_own() -> None:
    root = subprocess.run([sys.executable, "-m", "mailprobe", "--help"], capture_output=True, text=True, timeout=60)
    assert all(f"  {name} " in root.stdout for name in ("audit", "ports", "handshake", "merge", "explain"))
    ports = subprocess.run(
        [sys.executable, "-m", "mailprobe", "ports", "--help"], capture_output=True, text=True, timeout=60
    )
    assert ports.stdout.startswith("Usage: mailprobe ports [OPTIONS]") and "--raw" in ports.stdout


@pytest.mark.parametrize(
    ("code", "status", "err"),
    [("None", 0, ""), ("3", 3, ""), ("'mailprobe: bye'", 1, "mailprobe: bye\n")],
)
def test_the_program_leaves_with_its_output_flushed_and_its_code(code: str, status: int, err: str) -> None:
    """entry.leave: SystemExit's meaning of the code, stdout flushed, and no wait for a thread still at work
    (a non-daemon one sleeping 30 s here: the interpreter's teardown would wait for it)."""
    script = (
        "import sys, threading, time\nfrom mailprobe.cli.entry import leave\n"
        "threading.Thread(target=time.sleep, args=(30,)).start()\n"
        f"sys.stdout.write('written, not yet flushed')\nleave({code})\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 10
    assert (done.returncode, done.stdout, done.stderr) == (status, "written, not yet flushed", err)


def test_the_session_code_leaves_the_tls_libraries_to_a_background_import() -> None:
    """cryptography and pyOpenSSL (~80 ms) are first needed after a TLS handshake: the probes do not import
    them, the engine imports them in a thread while the first sessions wait for the network."""
    code = (
        "import sys\nimport mailprobe.probes.registry, mailprobe.scheduler, mailprobe.net.transport\n"
        "print(sorted(name for name in ('cryptography', 'OpenSSL', 'mailprobe.protocols.tls') if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_profiled_run_still_writes_its_profile(tmp_path: Path) -> None:
    """Under cProfile (or coverage) the program exits normally, so the tool's exit handler writes its data."""
    profile = tmp_path / "run.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "mailprobe", "--version"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("mailprobe "), done.stderr
    assert profile.stat().st_size > 0
