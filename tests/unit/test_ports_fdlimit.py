"""Thousands of targets under `ulimit -n 256`: no EMFILE, every result right (in subprocesses: the scan's own
functions, and the CLI reading a target file)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, resource, socket, time
    from collections import Counter
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    from mailprobe.config import Config, Limits
    from mailprobe.probes.ports import scan

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))  # every 127.x.y.z reaches it
    server.listen(4096)
    open_port = server.getsockname()[1]
    spare = socket.socket(); spare.bind(("127.0.0.1", 0)); closed_port = spare.getsockname()[1]; spare.close()
    targets = [(f"t{i}", f"127.0.{i // 250}.{i % 250 + 1}") for i in range(2000)]

    async def main():
        states = Counter()
        bad = []
        accepted = 0
        server.setblocking(False)
        async for r in scan(targets, [open_port, closed_port], Config(limits=Limits(global_concurrency=4096))):
            states[(r.port == open_port, r.state.value)] += 1
            if r.state.value == "error":
                bad.append(r.reason)
            while True:  # keep the accept queue short, as a real server would
                try:
                    server.accept()[0].close()
                    accepted += 1
                except BlockingIOError:
                    break
        return states, bad

    started = time.monotonic()
    states, bad = asyncio.run(main())
    print(json.dumps({"states": {f"{k[0]}:{k[1]}": v for k, v in states.items()},
                      "errors": bad[:5], "seconds": time.monotonic() - started}))
    """
)


def test_thousands_of_targets_under_256_descriptors() -> None:
    # The subprocess inherits MAILPROBE_ALLOW_ONLY (loopback is allowed) and pytest-socket is not loaded there.
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["states"] == {"True:open": 2000, "False:closed": 2000}


# `ulimit -n 256; python -m mailprobe ...`, without a shell or a preexec_fn.
UNDER_256 = (
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
    "runpy.run_module('mailprobe', run_name='__main__')"
)


@pytest.fixture
def accepting() -> Iterator[int]:
    """A listener on every loopback address that accepts (and drops) connections in a thread."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(4096)
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


def test_the_cli_streams_thousands_of_targets_under_256_descriptors(accepting: int, tmp_path: Path) -> None:
    """`mailprobe ports -i FILE` as a user runs it under `ulimit -n 256`: every target once, every state right."""
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    closed = spare.getsockname()[1]
    spare.close()
    listed = tmp_path / "targets.txt"
    listed.write_text("127.0.1.0/24\n127.0.2.0/24\n" + "".join(f"127.0.3.{i}\n" for i in range(1, 201)))
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", UNDER_256, "ports", "-i", str(listed), "--ports", f"{accepting},{closed}",
         "--format", "jsonl", "--output", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    states: Counter[tuple[bool, str]] = Counter()
    targets: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        if obj["type"] == "run":
            targets.update(obj["targets"])
        elif obj["type"] == "target":
            states.update((p["port"] == accepting, p["state"]) for p in obj["ports"])
    assert len(targets) == 712 and set(targets.values()) == {1}  # 256 + 256 + 200, each once
    assert states == {(True, "open"): 712, (False, "closed"): 712}
