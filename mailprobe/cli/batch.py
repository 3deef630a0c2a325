"""The shared body of the probing commands (audit, mx, ports, handshake): targets in, one report out.

Targets are read lazily (cli/inputs.py) and stream through the engine one report each: JSONL is written as
each target completes (memory stays flat), other formats are merged at the end in input order. Profiles and
baselines turn into findings here. `ports` and `handshake` expand CIDR blocks and ranges.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from mailprobe.cli import common as c
from mailprobe.cli.inputs import TargetInput, parse_shard, take_shard
from mailprobe.config import Config
from mailprobe.errors import UsageError
from mailprobe.model import Report

BLOCK_COMMANDS = ("ports", "handshake")  # the commands that take CIDR blocks and ranges


def apply_shard(texts: list[str], shard: str | None) -> list[str]:
    """`I/N`: every N-th target starting at the I-th (1-based), like zmap's --shard: deterministic, disjoint."""
    return list(take_shard(texts, parse_shard(shard)))


def _progress(done: int, total: int | None, last: str) -> None:
    if sys.stderr.isatty() and not os.environ.get("CI"):
        sys.stderr.write(f"\r\x1b[K[{done}/{total if total is not None else '?'}] {c.terminal_text(last)[:60]}")
        sys.stderr.flush()


def run_batch(
    *,
    command: str,
    targets: list[str] | None,
    input_file: Path | None,
    fmt: str = "table",
    json_flag: bool = False,
    output_path: Path | None = None,
    fail_on: str = "",
    warning_on: str = "",
    critical_on: str = "",
    transcript: bool = False,
    config_options: dict[str, Any],
    profile: str | None = None,
    shard: str | None = None,
    baseline: Path | None = None,
    report_dir: Path | None = None,
    stages: tuple[str, ...] | None = None,
    cluster: str | None = None,
) -> int:
    from mailprobe.profiles import Profile, load_profile

    on_cluster = _cluster_options(cluster)

    prof: Profile | None = load_profile(profile) if profile else None
    out = c.output_options(
        fmt,
        json_flag,
        output_path,
        fail_on or "high",
        transcript,
        warning_on=warning_on,
        critical_on=critical_on,
        fail_on_chosen=bool(fail_on),
    )
    if not fail_on and prof is not None:
        out = replace(out, fail_on=prof.fail_on, fail_on_chosen=True)
    if report_dir is not None:
        c.check_writable_dir(report_dir, "--report")
        out = replace(out, report_dir=report_dir)
    cfg = c.build_config(base=_profile_config(prof, config_options), **config_options)
    given = tuple(targets or (prof.targets if prof else ()))
    blocks = command in BLOCK_COMMANDS
    source = TargetInput(given, input_file, blocks, cfg.limits.max_block_addresses, parse_shard(shard))
    total, any_valid = source.check()
    chosen = stages or (prof.stages if prof else ("dns", "ports", "handshake"))
    prior = _load_baseline(baseline) if baseline else None
    run = Run(command, cfg, chosen, out, prof, prior, total, source, on_cluster)
    return c.run(_checked_stream(run, source.stream(), any_valid))


def _cluster_options(cluster: str | None) -> Any:
    """--cluster parsed (mailprobe.cluster.ClusterOptions), and Dask known to be installed; None without it."""
    if not cluster:
        return None
    from mailprobe.cluster.options import parse_cluster, require_dask

    options = parse_cluster(cluster)
    require_dask()
    return options


@dataclass(frozen=True)
class Run:
    """What a batch run does with each report."""

    command: str
    cfg: Config
    stages: tuple[str, ...]
    out: c.Output
    prof: Any
    prior: Report | None
    total: int | None  # targets to expect (None: reading standard input)
    source: TargetInput  # where each target came from, for error messages
    cluster: Any = None  # --cluster: mailprobe.cluster.ClusterOptions (targets run on Dask workers)


async def _checked_stream(run: Run, texts: Iterator[str], any_valid: bool) -> int:
    if run.cfg.resolver is not None and any_valid:
        from mailprobe.dns import check_resolver

        await check_resolver(run.cfg)  # an unusable --resolver is bad input, not a finding per target
    return await _stream(run, texts)


def _profile_config(prof: Any, options: dict[str, Any]) -> Config:
    cfg = Config()
    if prof is None:
        return cfg
    changes: dict[str, Any] = {"services": prof.services, "check_legacy_tls": prof.legacy_tls, "expect": prof.expect}
    if prof.allow_nonpublic:
        changes["allow_nonpublic"] = True
    cfg = replace(cfg, **changes)
    if prof.timeout is not None and options.get("timeout") is None:
        options["timeout"] = prof.timeout
    return cfg


def _load_baseline(path: Path) -> Report:
    import json

    from mailprobe.report.serialize import report_from_jsonable

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--baseline {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--baseline {path}: not JSON ({exc})") from None
    return report_from_jsonable(data)


async def _stream(run: Run, texts: Iterator[str]) -> int:
    from mailprobe.engine import Stages, import_meanwhile, indexed_stream, merge

    chosen = Stages(dns="dns" in run.stages, ports="ports" in run.stages, handshake="handshake" in run.stages)
    import_meanwhile("mailprobe.report.jsonl" if run.out.fmt == "jsonl" else "mailprobe.report")
    # Everything imported so far lives as long as the process: keep it out of every later collection.
    gc.freeze()
    kept: list[tuple[int, Report]] = []
    worst_code = c.EXIT_OK
    out = run.out
    streaming = out.fmt == "jsonl"
    sink: TextIO
    partial = out.path.with_name(f".{out.path.name}.{os.getpid()}.tmp") if out.path is not None else None
    if streaming and out.path is not None and partial is not None:
        try:  # written beside the file, renamed over it when complete: a reader never sees half a file
            sink = partial.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {out.path}: {exc.strerror or exc}") from None
    else:
        sink = sys.stdout
    try:
        done = 0
        if run.cluster is not None:
            from mailprobe.cluster.run import cluster_stream

            stream = cluster_stream(texts, run.cfg, chosen, run.cluster, total=run.total)
        else:
            stream = indexed_stream(texts, run.cfg, chosen)
        async for index, report in stream:
            report = _finish(report, run, index)
            c.report_errors(report, run.source.origin(index))  # on stderr too: never silent, FILE:LINE named
            done += 1
            _progress(done, run.total, report.targets[0] if report.targets else "")
            if streaming:
                from mailprobe.report.jsonl import jsonl_lines

                for line in jsonl_lines(report):
                    sink.write(line + "\n")
                sink.flush()
                worst_code = max(worst_code, c.exit_code(report, out.fail_on))
            else:
                kept.append((index, report))
    finally:
        if sys.stderr.isatty() and not os.environ.get("CI"):
            sys.stderr.write("\r\x1b[K")
        if sink is not sys.stdout and out.path is not None and partial is not None:
            sink.close()
            try:  # what was streamed (whole reports only) replaces the file, even when interrupted
                os.replace(partial, out.path)
            except OSError as exc:
                raise UsageError(f"--output {out.path}: {exc.strerror or exc}") from None
    if streaming:
        return worst_code
    kept.sort(key=lambda item: item[0])
    merged = merge([report for _, report in kept], run.command, run.prof.name if run.prof else None)
    return c.emit(merged, out)


def _finish(report: Report, run: Run, index: int) -> Report:
    from mailprobe.checks.baseline import compare

    report = replace(
        report,
        command=run.command,
        profile=run.prof.name if run.prof else None,
        meta=(*report.meta, ("index", str(index))),
    )
    if run.prior is not None:
        report = replace(report, findings=report.findings + tuple(compare(run.prior, report)))
    return report
