"""CIDR blocks and ranges: parsed, expanded lazily one target per address, capped with one clear line (exit 2)
before anything is sent, refused by the commands that do not take them, sharded after expansion."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from mailprobe.cli.inputs import TargetInput
from mailprobe.errors import UsageError
from mailprobe.targets import expand_blocks, parse_block, parse_target


@pytest.mark.parametrize(
    ("text", "size", "first", "last"),
    [
        ("198.51.100.0/30", 4, "198.51.100.0", "198.51.100.3"),
        ("198.51.100.10-12", 3, "198.51.100.10", "198.51.100.12"),
        ("198.51.100.10-198.51.100.11:25", 2, "198.51.100.10:25", "198.51.100.11:25"),
        ("[2001:db8::/126]:587", 4, "[2001:db8::]:587", "[2001:db8::3]:587"),
        ("2001:db8::fe-2001:db8::101", 4, "2001:db8::fe", "2001:db8::101"),
        ("203.0.113.7/32", 1, "203.0.113.7", "203.0.113.7"),
    ],
)
def test_blocks_expand_in_order(text: str, size: int, first: str, last: str) -> None:
    block = parse_block(text)
    assert block is not None and block.size == size
    targets = list(block.targets())
    assert (len(targets), targets[0], targets[-1]) == (size, first, last)
    assert all(parse_target(t).is_address for t in targets)


@pytest.mark.parametrize("text", ["mx-1.example.org", "2001:db8::1", "203.0.113.7:25", "[2001:db8::1]:25", "a-b:25"])
def test_names_and_addresses_are_not_blocks(text: str) -> None:
    assert parse_block(text) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("198.51.100.20-10", "ends before it starts"),
        ("198.51.100.1-300", "not an octet"),
        ("198.51.100.0/33", "bad block"),
        ("198.51.100.1-2001:db8::1", "same family"),
    ],
)
def test_malformed_blocks_say_why(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_block(text)


def test_expansion_is_lazy_and_capped() -> None:
    stream = expand_blocks(["2001:db8::/64"], cap=1 << 70)
    assert list(islice(stream, 3)) == ["2001:db8::", "2001:db8::1", "2001:db8::2"]  # 2^64 never listed
    with pytest.raises(UsageError, match=r"10.0.0.0/8: 16,777,216 addresses, over the limit of 65,536 per block"):
        list(expand_blocks(["198.51.100.7", "10.0.0.0/8"], cap=65536))


def mailprobe(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailprobe", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_block_over_the_cap_is_one_line_and_exit_2_before_anything_is_sent() -> None:
    # 198.51.100.7 comes first and would be probed (and refused by the guard) if the check came late.
    done = mailprobe("ports", "198.51.100.7", "203.0.0.0/8", "--ports", "25", "--format", "jsonl")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "mailprobe: error: 203.0.0.0/8: 16,777,216 addresses, over the limit of 65,536 per block; "
        "split it into smaller blocks"
    ]


def test_from_standard_input_the_cap_ends_the_run_when_reached() -> None:
    done = mailprobe("ports", "-i", "-", "--ports", "25", "--format", "jsonl", stdin="2001:db8::/16\n")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [  # named --input FILE:LINE like every bad line
        "mailprobe: error: --input stdin:1: 2001:db8::/16: 5,192,296,858,534,827,628,530,496,329,220,096 "
        "addresses, over the limit of 65,536 per block; split it into smaller blocks"
    ]
    assert "Traceback" not in done.stderr


def test_commands_without_blocks_name_the_ones_that_take_them() -> None:
    done = mailprobe("audit", "198.51.100.0/24", "--json", "--fail-on", "never")
    assert done.returncode == 2  # a target that could not be probed
    report = json.loads(done.stdout)
    assert report["targets"] == ["198.51.100.0/24"] and not report["ports"]
    assert "an address block; only `mailprobe ports` and `mailprobe handshake` take blocks" in done.stderr


def test_input_is_counted_without_being_kept_and_sharded_after_expansion(tmp_path: Path) -> None:
    listed = tmp_path / "targets.txt"
    listed.write_text("# blocks and single targets\n198.51.100.0/30\nmx.example.test\n[2001:db8::/127]:25\n")
    source = TargetInput(("203.0.113.9",), listed, True, 65536, (2, 3))
    everything = ["203.0.113.9", "198.51.100.0", "198.51.100.1", "198.51.100.2", "198.51.100.3",
                  "mx.example.test", "[2001:db8::]:25", "[2001:db8::1]:25"]  # fmt: skip
    assert list(source.stream()) == everything[1::3]
    assert source.check() == (len(everything[1::3]), True)


@pytest.fixture
def listener() -> Iterator[int]:
    """A listener on every loopback address, accepting (and dropping) connections in a thread."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(256)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_ports_scans_every_address_of_a_block(listener: int) -> None:
    # A subprocess: pytest-socket lets this process connect to 127.0.0.1 only, the block is 127.0.0.4-7.
    done = mailprobe("ports", "127.0.0.4/30", "--ports", str(listener), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["targets"] == ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]
    assert [(p["address"], p["state"]) for p in report["ports"]] == [
        (f"127.0.0.{i}", "open") for i in range(4, 8)
    ]
