"""Fixtures for the real-server lab (tests/lab/labnet.py documents the Lab API).

Every test under tests/lab is marked `lab`. Without root or the lab's packages these tests skip, unless
MAILPROBE_REQUIRE_LAB=1 (CI), where a missing lab fails them. The router policy is reset to `open` before
each test that uses the lab. Teardown runs after failures and Ctrl-C too (pytest finishes its session).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labnet import Lab, LabUnavailable
from required import unavailable

LAB_DIR = Path(__file__).resolve().parent
DELAYED_RTT_MS = 50.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LAB_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.lab)


def _start(rtt_ms: float | None) -> Lab:
    try:
        return Lab.up(rtt_ms=rtt_ms)
    except LabUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The session's lab; its round-trip time comes from env LAB_RTT_MS (default 0)."""
    instance = _start(None)
    try:
        yield instance
    finally:
        instance.down()


@pytest.fixture(scope="session")
def delayed_lab(lab: Lab) -> Iterator[Lab]:
    """A lab with a round-trip time: the session lab when LAB_RTT_MS is set, else a second one at 50 ms."""
    if lab.rtt_ms > 0:
        yield lab
        return
    instance = _start(DELAYED_RTT_MS)
    try:
        yield instance
    finally:
        instance.down()


@pytest.fixture(autouse=True)
def _lab_policy_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with the router open, and leaves it open: the next module's module-scoped fixtures
    (they run before this fixture does for that module's first test) must not inherit a test's policy."""
    labs = [request.getfixturevalue(name) for name in ("lab", "delayed_lab") if name in request.fixturenames]
    for lab in labs:
        lab.set_policy("open")
    yield
    for lab in labs:
        if lab.policy != "open":
            lab.set_policy("open")
