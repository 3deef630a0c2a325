"""The shared body of the probing commands (audit, mx, ports, handshake): targets in, one report out.

`run_batch` turns a command's Options into a Run: the output checked before anything is sent, the Config
with a profile's settings and a baseline in it (the engine judges both, as for the library), the targets as
a lazy stream (cli/inputs.py). `ports` and `handshake` expand CIDR blocks and ranges. cli/stream.py runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailprobe.cluster.options import ClusterOptions
    from mailprobe.jobs import Workers
    from mailprobe.profiles import Profile

from dataclasses import dataclass, replace

from mailprobe.cli import common as c
from mailprobe.cli.inputs import TargetInput, parse_shard, take_shard
from mailprobe.cli.options import Options
from mailprobe.config import Config
from mailprobe.model import Report

BLOCK_COMMANDS = ("ports", "handshake")  # the commands that take CIDR blocks and ranges
ALL_STAGES = ("dns", "ports", "handshake")
MAX_JOBS = 64  # --jobs: processes on one machine, at most
# --jobs 0 (the default): one process per usable core for `ports` and `handshake`, whose listed targets share
# nothing across processes, once each would have this many targets; never more than AUTO_JOBS_MAX. `audit`
# and `mx` stay in one process: there the targets share what DNS leads to (a provider's MX probed once).
AUTO_JOBS_COMMANDS = ("ports", "handshake")
AUTO_TARGETS_PER_JOB = 32
AUTO_JOBS_MAX = 8


def apply_shard(texts: list[str], shard: str | None) -> list[str]:
    """`I/N`: every N-th target starting at the I-th (1-based), like zmap's --shard: deterministic, disjoint."""
    return list(take_shard(texts, parse_shard(shard)))


@dataclass(frozen=True)
class Run:
    """What a batch run does: its command, settings, stages, output, and where its targets come from."""

    command: str
    cfg: Config
    stages: tuple[str, ...]
    out: c.Output
    total: int | None  # targets to expect (None: reading standard input)
    source: TargetInput  # the targets, and where each came from (for error messages)
    cluster: ClusterOptions | None = None  # --cluster: the targets run on Dask workers
    workers: Workers | None = None  # --jobs N: the targets run in N forked processes (mailprobe.jobs)


def run_batch(command: str, opts: Options, stages: tuple[str, ...] | None = None) -> int:
    """Check everything that can be checked before sending, then run; the exit code."""
    prof: Profile | None = None
    if opts.profile:
        from mailprobe.profiles import load_profile  # TOML and the profiles' checks: only when one is run

        prof = load_profile(opts.profile)
    out = opts.output()
    if not opts.fail_on and prof is not None:
        out = replace(out, fail_on=prof.fail_on, fail_on_chosen=True)
    if opts.report_dir is not None:
        c.check_writable_dir(opts.report_dir, "--report")
        out = replace(out, report_dir=opts.report_dir)
    base = Config(check_legacy_tls=command == "audit")  # audit asks about TLS 1.0/1.1 unless a profile says no
    cfg = opts.config(prof.configure(base) if prof is not None else base)
    if opts.baseline is not None:
        cfg = replace(cfg, baseline=load_baseline(opts))
    given = opts.targets or (prof.targets if prof is not None else ())
    blocks = command in BLOCK_COMMANDS
    source = TargetInput(given, opts.input_file, blocks, cfg.limits.max_block_addresses, parse_shard(opts.shard))
    total, any_valid = source.check()
    chosen = stages or (prof.stages if prof is not None else ALL_STAGES)
    on_cluster = _cluster_options(opts.cluster)
    jobs = _jobs(opts.jobs, total, on_cluster is not None, command, opts.raw)
    from mailprobe.cli.stream import checked_stream

    workers = _fork(jobs, cfg, chosen, chose=opts.jobs == 0) if jobs > 1 else None  # before any thread starts
    try:
        return c.run(checked_stream(Run(command, cfg, chosen, out, total, source, on_cluster, workers), any_valid))
    finally:
        if workers is not None:
            workers.stop()


def _fork(jobs: int, cfg: Config, stages: tuple[str, ...], *, chose: bool) -> Workers | None:
    """The forked processes; None when mailprobe `chose` them (--jobs 0) and the system would not give them: the
    run is then this process's, as with --jobs 1 (asked for with --jobs N, their absence is an error)."""
    from mailprobe.cli.status import wanted
    from mailprobe.engine import Stages
    from mailprobe.jobs import ForkFailed, Workers

    try:
        return Workers.fork(jobs, cfg, Stages.named(stages), progress=wanted())
    except ForkFailed:
        if not chose:
            raise
        return None


def _jobs(jobs: int, total: int | None, on_cluster: bool, command: str, raw: bool) -> int:
    """--jobs checked: processes to fork, never more than there are targets (1: none, the run is this process);
    0 chooses (auto_jobs)."""
    from mailprobe.errors import UsageError

    if not 0 <= jobs <= MAX_JOBS:
        raise UsageError(f"bad --jobs {jobs}: give 1 to {MAX_JOBS} processes, or 0 to let mailprobe choose")
    if jobs > 1 and on_cluster:
        raise UsageError("--jobs and --cluster exclude each other (a cluster's workers are its processes)")
    if jobs == 0:
        return auto_jobs(command, total, usable_cores(), raw=raw) if not on_cluster else 1
    return min(jobs, total) if total is not None else jobs


def auto_jobs(command: str, total: int | None, cores: int, *, raw: bool = False) -> int:
    """--jobs 0: a process per usable core, for a `ports` or `handshake` run large enough to share; else 1.
    Standard input (total unknown) stays in one process: its targets may trickle in. So does `--raw`: its SYNs
    leave one socket at a paced rate, cheap per probe, and N processes would each pace 1/N of it."""
    if command not in AUTO_JOBS_COMMANDS or total is None or raw:
        return 1
    return max(1, min(cores, total // AUTO_TARGETS_PER_JOB, AUTO_JOBS_MAX))


def usable_cores(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The cores this process may run on (its CPU affinity), fewer under a cgroup v2 CPU quota (cpu.max)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open(cpu_max, encoding="ascii") as limit:
            quota = quota_cores(limit.read())
    except OSError:
        quota = None  # no cgroup v2 here: the affinity is the limit
    return max(1, min(cores, quota) if quota is not None else cores)


def quota_cores(cpu_max: str) -> int | None:
    """Whole cores a cgroup v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD") allows, at least 1; None: no quota."""
    words = cpu_max.split()
    if len(words) != 2 or words[0] == "max":
        return None
    try:
        quota, period = int(words[0]), int(words[1])
    except ValueError:
        return None
    return max(1, quota // period) if quota > 0 and period > 0 else None


def _cluster_options(cluster: str | None) -> ClusterOptions | None:
    """--cluster parsed (mailprobe.cluster.options.ClusterOptions), Dask known to be installed; None without."""
    if not cluster:
        return None
    from mailprobe.cluster.options import parse_cluster, require_dask

    options = parse_cluster(cluster)
    require_dask()
    return options


def load_baseline(opts: Options) -> Report:
    """The --baseline report (a UsageError naming the option when it cannot be read)."""
    from mailprobe.api import read_report
    from mailprobe.errors import UsageError

    assert opts.baseline is not None
    try:
        return read_report(opts.baseline)
    except UsageError as exc:
        raise UsageError(f"--baseline {exc}") from None
