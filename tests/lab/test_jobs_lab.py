"""`--jobs 3` against the real servers (Postfix, Dovecot, Exim, NSD): three forked processes in the lab's client
namespace, and their reports equal the single-process run's."""

from __future__ import annotations

from pathlib import Path

from compare_runs import same_as_one_process
from labnet import Lab


def test_forked_processes_in_the_lab_give_the_single_process_reports(lab: Lab, tmp_path: Path) -> None:
    same_as_one_process(lab, tmp_path, "--jobs", "3")
