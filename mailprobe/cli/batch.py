"""The shared body of the probing commands (audit, mx, ports, handshake): targets in, one report out.

Targets stream through the engine one report each: JSONL is written as each finishes (memory stays flat),
other formats are merged at the end in input order. Profiles and baselines turn into findings here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from mailprobe.cli import common as c
from mailprobe.config import Config
from mailprobe.errors import UsageError
from mailprobe.model import Report


def apply_shard(texts: list[str], shard: str | None) -> list[str]:
    """`I/N`: every N-th target starting at the I-th (1-based), like zmap's --shard: deterministic, disjoint."""
    if not shard:
        return texts
    index_text, sep, count_text = shard.partition("/")
    if not sep or not index_text.isdigit() or not count_text.isdigit():
        raise UsageError(f"bad --shard {shard!r}: use I/N, e.g. 1/4")
    index, count = int(index_text), int(count_text)
    if not 1 <= index <= count:
        raise UsageError(f"bad --shard {shard!r}: I must be between 1 and N")
    return [t for position, t in enumerate(texts) if position % count == index - 1]


def _progress(done: int, total: int, last: str) -> None:
    if sys.stderr.isatty() and not os.environ.get("CI"):
        sys.stderr.write(f"\r\x1b[K[{done}/{total}] {c.terminal_text(last)[:60]}")  # the target, escaped
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
) -> int:
    from mailprobe.profiles import Profile, load_profile

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
    given = list(targets or (prof.targets if prof else ()))
    sources = c.gather_target_sources(given, input_file)
    texts = apply_shard([text for text, _ in sources], shard)
    where = dict(sources)
    chosen = stages or (prof.stages if prof else ("dns", "ports", "handshake"))
    prior = _load_baseline(baseline) if baseline else None
    return c.run(_checked_stream(command, texts, cfg, chosen, out, prof, prior, where))


def _valid(text: str) -> bool:
    from mailprobe.targets import parse_target

    try:
        parse_target(text)
    except UsageError:
        return False
    return True


async def _checked_stream(
    command: str,
    texts: list[str],
    cfg: Config,
    stages: tuple[str, ...],
    out: c.Output,
    prof: Any,
    prior: Report | None,
    where: dict[str, str],
) -> int:
    if cfg.resolver is not None and any(_valid(text) for text in texts):
        from mailprobe.dns import check_resolver

        await check_resolver(cfg)  # an unusable --resolver is bad input, not a finding per target
    return await _stream(command, texts, cfg, stages, out, prof, prior, where)


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


async def _stream(
    command: str,
    texts: list[str],
    cfg: Config,
    stages: tuple[str, ...],
    out: c.Output,
    prof: Any,
    prior: Report | None,
    where: dict[str, str],
) -> int:
    from mailprobe.engine import Stages, audit_stream, merge

    chosen = Stages(dns="dns" in stages, ports="ports" in stages, handshake="handshake" in stages)
    order = {text: index for index, text in enumerate(texts)}
    kept: list[Report] = []
    worst_code = c.EXIT_OK
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
        async for report in audit_stream(texts, cfg, chosen):
            report = _finish(report, command, order, prof, prior, cfg)
            c.report_errors(report, where)  # also on stderr: a target that could not be probed is never silent
            done += 1
            _progress(done, len(texts), report.targets[0] if report.targets else "")
            if streaming:
                from mailprobe.report.jsonl import jsonl_lines

                for line in jsonl_lines(report):
                    sink.write(line + "\n")
                sink.flush()
                worst_code = max(worst_code, c.exit_code(report, out.fail_on))
            else:
                kept.append(report)
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
    kept.sort(key=lambda r: order.get(r.targets[0], 0) if r.targets else 0)
    merged = merge(kept, command, prof.name if prof else None)
    return c.emit(merged, out)


def _finish(
    report: Report, command: str, order: dict[str, int], prof: Any, prior: Report | None, cfg: Config
) -> Report:
    from mailprobe.checks.baseline import compare

    index = order.get(report.targets[0], 0) if report.targets else 0
    report = replace(
        report,
        command=command,
        profile=prof.name if prof else None,
        meta=(*report.meta, ("index", str(index))),
    )
    if prior is not None:
        report = replace(report, findings=report.findings + tuple(compare(prior, report)))
    return report
