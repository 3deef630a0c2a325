"""How fast a run asks one resolver, and how long each try waits: learnt from what the resolver does.

A resolver that limits its answer rate (NSD's and BIND's response rate limiting, a public resolver's limit
per client) drops or truncates what exceeds the limit, and goes on doing so while the rate stays above it: a
run that does not slow down gets a timeout for every dropped question, and a domain whose MX question timed
out looks broken (MX-TIMEOUT). So every UDP try a run sends to one resolver (all targets' lookups together)
takes its turn at a paced rate. Each second the tries that went unanswered or came back truncated (a rate
limit's "slip", which sends the client to TCP) are counted: when more than LOSS_SHARE of them did, the rate
halves; when the rate was in use and almost none did, it grows by a quarter. A few slow domains (a recursive
resolver waiting on dead name servers) and the odd answer too big for UDP stay under that share and cost
nothing; a rate limit loses far more.

A try waits a few of the resolver's round trips (at least MIN_TRY, for a recursive resolver's cold
lookups), twice as long on each resend, until the lookup's deadline; the time spent waiting for a turn is
not counted against the resolver. Timing arithmetic and one sleep: no sockets.
"""

from __future__ import annotations

import asyncio

START_RATE = 1000.0  # tries per second to one resolver before anything is known
FLOOR_RATE, CEILING_RATE = 20.0, 20000.0
LOSS_SHARE = 0.1  # more of a second's tries unanswered or truncated than this: the resolver is limiting us
CLEAN_SHARE = 0.02  # at most this many lost: the rate may grow
GROWTH = 1.25  # per second in which the rate was used and the resolver kept up
MIN_TRY, INITIAL_TRY = 0.4, 1.0  # seconds a first try waits: at least; before any round trip is known
RTT_MULTIPLE = 4.0


class Pacer:
    """`await turn()` before each UDP try; then `answered(rtt)` (and `truncated()` if it was) or `unanswered()`."""

    def __init__(self, rate: float = START_RATE, ceiling: float = CEILING_RATE) -> None:
        self.rate = rate
        self.ceiling = ceiling
        self.srtt: float | None = None
        self._next = 0.0  # when the next try may go
        self._second = 0  # the second the counts below are for
        self._sent = self._lost = 0

    async def turn(self) -> float:
        """Wait for this try's turn; the seconds waited."""
        now = asyncio.get_running_loop().time()
        self._account(now)
        at = max(now, self._next)
        self._next = at + 1.0 / self.rate
        self._sent += 1
        if at > now:
            await asyncio.sleep(at - now)
        return at - now

    def answered(self, rtt: float) -> None:
        self.srtt = rtt if self.srtt is None else 0.875 * self.srtt + 0.125 * rtt

    def unanswered(self) -> None:
        self._account(asyncio.get_running_loop().time())
        self._lost += 1

    def truncated(self) -> None:
        """An answer with TC: too big for UDP, or a rate limit's slip. Counted as a loss (see above)."""
        self.unanswered()

    def try_timeout(self, attempt: int) -> float:
        """How long try number `attempt` (0 first) waits for its answer."""
        base = INITIAL_TRY if self.srtt is None else max(MIN_TRY, RTT_MULTIPLE * self.srtt)
        return base * 2.0**attempt

    def _account(self, now: float) -> None:
        """At each new second: judge the one before by the share of its tries that went unanswered."""
        second = int(now)
        if second == self._second:
            return
        if self._sent >= 10 and self._lost > LOSS_SHARE * self._sent:
            self.rate = max(FLOOR_RATE, self.rate / 2)
        elif self._sent >= self.rate / 2 and self._lost <= CLEAN_SHARE * self._sent and second == self._second + 1:
            self.rate = min(self.ceiling, self.rate * GROWTH)
        self._second, self._sent, self._lost = second, 0, 0


def pacer_for_share(processes: int = 1) -> Pacer:
    """A pacer for one of `processes` processes (--jobs): it starts at and is capped by its share of the
    rates, so they are as gentle together as one process."""
    share = max(1, processes)
    return Pacer(START_RATE / share, CEILING_RATE / share)
