"""A user-space wire with a fixed one-way delay between two TAP devices in two network namespaces.

The kernel here has no sch_netem, so the lab adds round-trip time this way: the router's server-side link is
a TAP device in the router namespace and another in the servers namespace, and this process copies every
Ethernet frame from one to the other after holding it for delay_ms (= rtt / 2), in both directions. The delay
is constant, so a FIFO per direction keeps frame order and is its own timer queue.

    python3 delay.py --delay-ms 25 ROUTER_NS ROUTER_DEV SERVERS_NS SERVERS_DEV

It creates both TAP devices itself (inside the namespaces, via setns), prints "ready" on stdout, and runs
until it gets SIGTERM, its parent dies (PR_SET_PDEATHSIG) or a device goes away. The devices vanish with it.
Standard library only: it runs under whatever python3 started it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import fcntl
import os
import selectors
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
MAX_FRAME = 65536
# Frames waiting in one direction before new ones are dropped, like a full router queue.
MAX_QUEUED = 20000
# epoll waits in whole milliseconds, rounded up; releasing frames due within half of one centres the error.
EARLY_S = 0.0005

_libc = ctypes.CDLL(None, use_errno=True)


def _enter_netns(name: str) -> None:
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tap(netns: str, dev: str) -> int:
    """Create TAP `dev` inside `netns` and return its non-blocking file descriptor."""
    _enter_netns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Wire:
    """Two TAP descriptors joined with a constant one-way delay."""

    def __init__(self, fd_a: int, fd_b: int, delay_s: float) -> None:
        self.delay_s = delay_s
        self.peer = {fd_a: fd_b, fd_b: fd_a}
        # Frames bound for a descriptor: (due time, frame), oldest first.
        self.queues: dict[int, collections.deque[tuple[float, bytes]]] = {
            fd_a: collections.deque(),
            fd_b: collections.deque(),
        }
        self.selector = selectors.DefaultSelector()
        for fd in (fd_a, fd_b):
            self.selector.register(fd, selectors.EVENT_READ)

    def _read_all(self, fd: int, now: float) -> None:
        queue = self.queues[self.peer[fd]]
        due = now + self.delay_s
        while True:
            try:
                frame = os.read(fd, MAX_FRAME)
            except BlockingIOError:
                return
            if not frame:
                raise EOFError("TAP device closed")
            if len(queue) < MAX_QUEUED:
                queue.append((due, frame))

    def _flush(self, now: float) -> None:
        for fd, queue in self.queues.items():
            while queue and queue[0][0] <= now + EARLY_S:
                _, frame = queue.popleft()
                # A TAP write only fails when the device is down: the frame is lost, as on a wire.
                with contextlib.suppress(OSError):
                    os.write(fd, frame)

    def run(self) -> None:
        while True:
            now = time.monotonic()
            self._flush(now)
            heads = [queue[0][0] for queue in self.queues.values() if queue]
            timeout = max(0.0, min(heads) - now - EARLY_S) if heads else None
            for key, _ in self.selector.select(timeout):
                self._read_all(key.fd, time.monotonic())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay (half the RTT)")
    parser.add_argument("netns_a")
    parser.add_argument("dev_a")
    parser.add_argument("netns_b")
    parser.add_argument("dev_b")
    args = parser.parse_args(argv)

    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    fd_a = open_tap(args.netns_a, args.dev_a)
    fd_b = open_tap(args.netns_b, args.dev_b)
    wire = Wire(fd_a, fd_b, args.delay_ms / 1000.0)

    # SIGTERM keeps its default action (exit at once); Ctrl-C is for the lab's owner, who ends us by PID.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("ready", flush=True)
    try:
        wire.run()
    except (EOFError, OSError) as exc:
        print(f"delay wire stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
