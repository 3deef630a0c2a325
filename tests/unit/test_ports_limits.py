"""Adaptive timeouts and descriptor budgets as pure arithmetic."""

from __future__ import annotations

import pytest

from mailprobe.net.limits import INITIAL_TIMEOUT, RTT_FLOOR, RttEstimator, fd_budget
from mailprobe.net.timing import RETRY_BACKOFF


def test_no_sample_means_the_initial_timeout_backed_off_under_the_ceiling() -> None:
    timing = RttEstimator(ceiling=5.0)
    assert timing.timeout("203.0.113.25") == INITIAL_TIMEOUT == 1.0
    assert timing.timeout("203.0.113.25", attempt=1) == INITIAL_TIMEOUT * RETRY_BACKOFF
    assert RttEstimator(ceiling=0.5).timeout("203.0.113.25", attempt=20) == 0.5  # never above the ceiling
    assert timing.srtt("203.0.113.25") is None
    assert RttEstimator(ceiling=0.3).timeout("h") == 0.3
    assert RttEstimator(ceiling=5.0, initial=5.0).timeout("h") == 5.0  # probe_port's fixed timeout


def test_first_sample_rfc6298() -> None:
    timing = RttEstimator(ceiling=5.0)
    timing.observe("h", 0.2)  # srtt 0.2, rttvar 0.1 -> 0.2 + 0.4
    assert timing.timeout("h") == pytest.approx(0.6)


def test_stable_round_trips_shrink_to_a_few_rtts_not_less() -> None:
    timing = RttEstimator(ceiling=5.0)
    for _ in range(200):
        timing.observe("h", 0.2)
    assert timing.srtt("h") == pytest.approx(0.2)
    assert timing.timeout("h") == pytest.approx(2 * 0.2)  # RTT_MULTIPLE x srtt: rttvar has decayed to ~0
    for _ in range(200):
        timing.observe("h", 0.04)
    assert timing.timeout("h") == RTT_FLOOR  # 2 x 40 ms is under the floor


def test_an_unseen_address_uses_its_paths_round_trips_before_the_runs() -> None:
    timing = RttEstimator(ceiling=5.0)
    for _ in range(50):
        timing.observe("203.0.113.25", 0.3)  # a far network
        timing.observe("198.51.100.7", 0.01)  # a near one
    assert timing.settled("203.0.113.99") and timing.settled("127.0.0.9")
    assert timing.srtt("203.0.113.99") == pytest.approx(0.3)  # same /24: the far path's figure
    assert timing.srtt("198.51.100.200") == pytest.approx(0.01)
    assert 0.01 < (timing.srtt("127.0.0.9") or 0) < 0.3  # no path known: the blend of the run's IPv4 answers
    assert RttEstimator(ceiling=5.0).settled("203.0.113.1") is False


def test_an_ipv6_path_does_not_borrow_ipv4_round_trips() -> None:
    """A first IPv6 try waits the initial timeout, not IPv4's few round trips, until IPv6 answers."""
    timing = RttEstimator(ceiling=5.0)
    for _ in range(20):
        timing.observe("203.0.113.25", 0.05)
    assert not timing.settled("2001:db8::25") and timing.timeout("2001:db8::25") == INITIAL_TIMEOUT
    timing.observe("2001:db8:1::7", 0.2)
    assert timing.srtt("2001:db8::25") == pytest.approx(0.2)  # another /48, same family
    assert timing.srtt("203.0.113.99") == pytest.approx(0.05)
    assert timing.timeout("") == pytest.approx(timing.timeout("anything"))  # a non-address: the whole run


def test_jitter_widens_the_timeout() -> None:
    steady, jittery = RttEstimator(5.0), RttEstimator(5.0)
    for i in range(50):
        steady.observe("h", 0.1)
        jittery.observe("h", 0.05 if i % 2 else 0.15)
    assert jittery.timeout("h") > steady.timeout("h")


def test_floor_and_ceiling() -> None:
    fast = RttEstimator(ceiling=5.0)
    fast.observe("h", 0.0001)
    assert fast.timeout("h") == RTT_FLOOR
    slow = RttEstimator(ceiling=1.0)
    slow.observe("h", 3.0)
    assert slow.timeout("h") == 1.0
    tiny = RttEstimator(ceiling=0.05)
    assert tiny.floor == 0.05


def test_retry_backs_off_but_stays_under_the_ceiling() -> None:
    timing = RttEstimator(ceiling=1.0)
    timing.observe("h", 0.1)
    first, second = (timing.timeout("h", attempt) for attempt in range(2))
    assert first == pytest.approx(0.3)  # the first sample: srtt 0.1 + 4 x rttvar 0.05
    assert second == pytest.approx(first * RETRY_BACKOFF)
    assert timing.timeout("h", 30) <= 1.0


def test_hosts_without_samples_use_the_run_wide_estimate() -> None:
    timing = RttEstimator(ceiling=5.0)
    timing.observe("near", 0.01)
    timing.observe("far", 0.4)
    assert timing.timeout("near") < timing.timeout("far")
    assert RTT_FLOOR <= timing.timeout("unknown") < 5.0  # learned from the others


def test_fd_budget() -> None:
    assert fd_budget(256, open_fds=10, reserve=32) == 214
    assert fd_budget(40, open_fds=30, reserve=32) == 1  # never zero: progress, slowly
    assert fd_budget(-1, open_fds=10) > 100_000  # RLIM_INFINITY


def test_a_path_that_lost_syns_gives_its_silent_ports_more_tries_each_waiting_longer() -> None:
    from mailprobe.net.timing import LOSS_BACKOFF, MAX_TRIES, TRIES

    timing = RttEstimator(ceiling=5.0)
    assert timing.tries("203.0.113.25") == TRIES == 2  # one retry, as nmap -T4
    timing.observe("203.0.113.25", 0.1, 1)
    assert timing.tries("203.0.113.99") == 2  # answers at the first try say nothing of loss
    timing.observe("203.0.113.25", 0.1, 2)  # a port there answered only its retry: its first SYN was lost
    assert timing.tries("203.0.113.99") == 3  # the same /24 (nmap: max_successful_tryno + 1)
    assert timing.tries("198.51.100.7") == 2  # another path
    timing.observe("203.0.113.7", 0.1, 9)
    assert timing.tries("203.0.113.25") == MAX_TRIES == 4
    timing.observe("203.0.113.25", 0.1)
    waits = [timing.timeout("203.0.113.25", attempt) for attempt in range(4)]
    assert waits[1] == waits[0] * RETRY_BACKOFF
    assert waits[3] == pytest.approx(waits[2] * LOSS_BACKOFF) and waits[2] == pytest.approx(waits[1] * LOSS_BACKOFF)
