"""`--jobs 3` against the real servers (Postfix, Dovecot, Exim, NSD): three forked processes in the lab's client
namespace, and their reports equal the single-process run's."""

from __future__ import annotations

from pathlib import Path

from compare_runs import DOMAINS, differences, run
from labnet import Lab


def test_forked_processes_in_the_lab_give_the_single_process_reports(lab: Lab, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    targets = tmp_path / "domains.txt"
    targets.write_text("\n".join(DOMAINS) + "\n")
    single = run(lab, targets)
    forked = run(lab, targets, "--jobs", "3")
    assert not differences(forked, single)
    assert sum(len(r["handshakes"]) for r in forked) >= 14  # real sessions with the lab's servers
