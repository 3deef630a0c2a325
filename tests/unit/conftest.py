"""Fixtures shared by the unit tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from processes import end_started


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback port that accepts connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def control(listener: int) -> int:
    """egress's control port: a loopback port that accepts connections."""
    return listener


@pytest.fixture(autouse=True)
def no_mailprobe_left() -> Iterator[None]:
    """A test that started `mailprobe` processes (processes.start) and failed before ending them leaves none
    running (until its --timeout) to disturb the next tests."""
    yield
    end_started()
