"""Thousands of targets under `ulimit -n 256`: no EMFILE, every result right (in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
