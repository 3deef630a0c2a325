"""What a run is doing right now, for a status line: which target, where, what it waits for, since when.

A run given a Progress (`engine.indexed_stream(..., progress=Progress())`) records one Step per thing in
flight: a target's DNS, its port probes, each session (the session itself says what it waits for: a
connect, the greeting, the reply to EHLO, a TLS handshake). Without one nothing is recorded: every hook is a
single `is not None` test. Steps are plain objects read by whoever shows them (the CLI's status line polls
`Progress.longest()` a few times a second on the same event loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Step:
    """One thing in flight: `place` ("mx1.example.org 587", "example.org") and what it is doing."""

    target: str  # the target as given
    place: str
    doing: str  # "resolving", "probing ports", "connecting", "waiting for greeting", ...
    session: bool = False  # one session with a server (else a whole target's stage)
    since: float = field(default_factory=time.monotonic)  # when `doing` began

    def now(self, doing: str) -> None:
        """A new activity begins (its clock starts again)."""
        self.doing, self.since = doing, time.monotonic()

    def describe(self, at: float | None = None) -> str:
        """'mx1.example.org 587: waiting for greeting (3.1 s)'."""
        elapsed = (time.monotonic() if at is None else at) - self.since
        return f"{self.place}: {self.doing} ({elapsed:.1f} s)"


class Progress:
    """The steps in flight in a run."""

    def __init__(self) -> None:
        self._live: dict[int, Step] = {}

    def begin(self, target: str, place: str, doing: str, *, session: bool = False) -> Step:
        step = Step(target, place, doing, session)
        self._live[id(step)] = step
        return step

    def end(self, step: Step) -> None:
        self._live.pop(id(step), None)

    def steps(self) -> list[Step]:
        return list(self._live.values())

    def longest(self) -> Step | None:
        """What the run is waiting for: the session that has been at what it is doing the longest (the most
        precise answer), else the target stage that has."""
        return min(self._live.values(), key=lambda step: (not step.session, step.since), default=None)


def command_word(data: bytes) -> str:
    """The command a client line sends, for "waiting for the reply to EHLO": the first word, or the second
    after an IMAP tag ("mp1 CAPABILITY")."""
    words = data.split(None, 2)[:2]
    if not words:
        return "a command"
    first = words[0].decode("ascii", "replace")
    if len(words) > 1 and not first.isupper() and any(ch.isdigit() for ch in first):
        return words[1].decode("ascii", "replace").upper()
    return first.upper().split(":", 1)[0]
