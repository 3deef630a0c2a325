"""The targets of a batch run as a lazy stream: the command line, then -i FILE (or stdin), blocks expanded,
one shard taken. Nothing holds the whole list, so memory stays flat however long the input is.

What can be checked before anything is sent is checked first, in one pass that keeps nothing: a block over the
cap, a malformed block or range, a bad --shard, no targets at all. Standard input cannot be read twice: there
a bad block ends the run when it is reached (still one line and exit 2).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailprobe.errors import UsageError
from mailprobe.targets import checked_block, expand_blocks, parse_target, read_target_lines


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """`I/N` -> (I, N); None when no shard is asked for."""
    if not shard:
        return None
    index_text, sep, count_text = shard.partition("/")
    if not sep or not index_text.isdigit() or not count_text.isdigit():
        raise UsageError(f"bad --shard {shard!r}: use I/N, e.g. 1/4")
    index, count = int(index_text), int(count_text)
    if not 1 <= index <= count:
        raise UsageError(f"bad --shard {shard!r}: I must be between 1 and N")
    return index, count


def take_shard(texts: Iterable[str], shard: tuple[int, int] | None) -> Iterator[str]:
    """Every N-th target starting at the I-th (1-based), like zmap's --shard: deterministic, disjoint."""
    if shard is None:
        yield from texts
        return
    index, count = shard
    yield from itertools.islice(texts, index - 1, None, count)


@dataclass(frozen=True)
class TargetInput:
    """Where the targets come from and how they are read."""

    given: tuple[str, ...]
    input_file: Path | None
    blocks: bool  # expand CIDR blocks and ranges (ports, handshake); else they are per-target errors
    cap: int  # addresses per block at most
    shard: tuple[int, int] | None

    def _lines(self) -> Iterator[str]:
        yield from self.given
        if self.input_file is None:
            return
        if str(self.input_file) == "-":
            yield from read_target_lines(sys.stdin)
            return
        try:
            with self.input_file.open(encoding="utf-8", errors="replace") as handle:
                yield from read_target_lines(handle)
        except OSError as exc:
            raise UsageError(f"--input {self.input_file}: {exc.strerror or exc}") from None

    @property
    def rereadable(self) -> bool:
        return self.input_file is None or str(self.input_file) != "-"

    def check(self) -> tuple[int | None, bool]:
        """(targets after expansion and sharding, whether any is a valid target), one pass, nothing kept.

        (None, True) for standard input, which cannot be read twice.
        """
        if not self.rereadable:
            return None, True
        total, valid = 0, False
        for line in self._lines():
            block = checked_block(line, self.cap) if self.blocks else None
            total += block.size if block is not None else 1
            valid = valid or block is not None or _valid(line)
        if total == 0:
            raise UsageError("no targets given")
        if self.shard is not None:
            index, count = self.shard
            total = max(0, (total - index) // count + 1)
        return total, valid

    def stream(self) -> Iterator[str]:
        """The targets, lazily, blocks expanded, the shard taken."""
        lines = self._lines()
        if not self.rereadable:
            first = next(lines, None)
            if first is None:
                raise UsageError("no targets given")
            lines = itertools.chain([first], lines)
        texts = expand_blocks(lines, self.cap) if self.blocks else lines
        return take_shard(texts, self.shard)


def _valid(text: str) -> bool:
    try:
        parse_target(text)
    except UsageError:
        return False
    return True
