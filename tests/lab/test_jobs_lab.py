"""`--jobs 3` against the real servers (Postfix, Dovecot, Exim, NSD): three forked processes in the lab's client
namespace, and their reports equal the single-process run's; and a fork that fails, in a pids cgroup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from compare_runs import same_as_one_process
from labnet import Lab
from required import unavailable

from mailprobe.cli.batch import auto_jobs, usable_cores

PIDS_CGROUPS = Path("/sys/fs/cgroup/pids")


def test_forked_processes_in_the_lab_give_the_single_process_reports(lab: Lab, tmp_path: Path) -> None:
    same_as_one_process(lab, tmp_path, "--jobs", "3")


def test_a_process_that_cannot_be_forked_ends_the_run_in_one_line(tmp_path: Path) -> None:
    """In a pids cgroup that has room for the CLI and one child (root ignores RLIMIT_NPROC, not a cgroup's
    pids.max), `--jobs 3` cannot fork its second process: one line, exit 2, nothing on stdout, and no process
    of the run is left (the cgroup is empty once the CLI has exited)."""
    if os.geteuid() != 0 or not PIDS_CGROUPS.is_dir():
        unavailable(f"needs root and the cgroup v1 pids controller at {PIDS_CGROUPS}")
    group = PIDS_CGROUPS / f"mailprobe-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "pids.max").write_text("2\n")  # the CLI and its first child
        targets = tmp_path / "targets.txt"
        targets.write_text("".join(f"127.0.0.{n}\n" for n in range(1, 7)))
        script = f'echo $$ > {group}/cgroup.procs && exec "$0" "$@"'
        env = {**{k: v for k, v in os.environ.items() if k != "CI"}, "MAILPROBE_ALLOW_ONLY": "127.0.0.0/8"}
        argv = [sys.executable, "-m", "mailprobe", "ports", "-i", str(targets), "--ports", "1", "--jobs", "3"]
        done = subprocess.run(
            ["sh", "-c", script, *argv, "--format", "jsonl"], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            "mailprobe: error: --jobs 3: cannot start process 2: Resource temporarily unavailable"
        ]
        assert (group / "cgroup.procs").read_text() == ""  # no child left behind
    finally:
        group.rmdir()


def test_processes_mailprobe_chose_but_cannot_fork_leave_the_run_to_one(tmp_path: Path) -> None:
    """No --jobs: 64 listed targets would run in a process per core; in a pids cgroup with room for the CLI and
    one child, the second cannot be forked, and the run goes on in the CLI's own process: exit 0, every target
    reported, nothing on stderr, no process left (the user asked for no processes, so their absence is no error)."""
    if os.geteuid() != 0 or not PIDS_CGROUPS.is_dir():
        unavailable(f"needs root and the cgroup v1 pids controller at {PIDS_CGROUPS}")
    if auto_jobs("ports", 64, usable_cores()) < 2:
        unavailable("needs 2 usable cores (mailprobe forks nothing on one)")
    group = PIDS_CGROUPS / f"mailprobe-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "pids.max").write_text("2\n")  # the CLI and its first child (or, after, one thread of the CLI)
        targets = tmp_path / "targets.txt"
        targets.write_text("".join(f"127.0.0.{n}\n" for n in range(1, 65)))
        script = f'echo $$ > {group}/cgroup.procs && exec "$0" "$@"'
        env = {**{k: v for k, v in os.environ.items() if k != "CI"}, "MAILPROBE_ALLOW_ONLY": "127.0.0.0/8"}
        argv = [sys.executable, "-m", "mailprobe", "ports", "-i", str(targets), "--ports", "1", "--format", "jsonl"]
        done = subprocess.run(["sh", "-c", script, *argv], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [line["target"] for line in lines if line["type"] == "target"] == [
            f"127.0.0.{n}" for n in range(1, 65)
        ]
        assert (group / "cgroup.procs").read_text() == ""
    finally:
        group.rmdir()
