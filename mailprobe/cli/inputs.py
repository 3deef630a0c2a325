"""The targets of a batch run as a lazy stream: the command line, then -i FILE (or stdin), blocks expanded,
one shard taken. Nothing holds the whole list, so memory stays flat however long the input is: where each
target came from is kept as one line number per target (for "FILE:LINE" in error messages).

What can be checked before anything is sent is checked first, in one pass that keeps nothing: a binary file
(a NUL byte, bytes that are not UTF-8), a block over the cap, a malformed block or range, a bad --shard, no
targets at all. Standard input cannot be read twice: there a bad line ends the run when it is reached (still
one line and exit 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import threading
from array import array
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from mailprobe.decimal_text import is_decimal
from mailprobe.errors import UsageError
from mailprobe.report.escape import terminal_safe
from mailprobe.targets import checked_block, parse_target


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """`I/N` -> (I, N); None when no shard is asked for."""
    if not shard:
        return None
    index_text, sep, count_text = shard.partition("/")
    if not sep or not is_decimal(index_text) or not is_decimal(count_text):
        raise UsageError(f"bad --shard {shard!r}: use I/N, e.g. 1/4")
    index, count = int(index_text), int(count_text)
    if not 1 <= index <= count:
        raise UsageError(f"bad --shard {shard!r}: I must be between 1 and N")
    return index, count


def take_shard(texts: Iterable[T], shard: tuple[int, int] | None) -> Iterator[T]:
    """Every N-th target starting at the I-th (1-based), like zmap's --shard: deterministic, disjoint."""
    if shard is None:
        yield from texts
        return
    index, count = shard
    yield from itertools.islice(texts, index - 1, None, count)


T = TypeVar("T")
ARGUMENT = 0  # the line number recorded for a target given on the command line


@dataclass
class TargetInput:
    """Where the targets come from and how they are read."""

    given: tuple[str, ...]
    input_file: Path | None
    blocks: bool  # expand CIDR blocks and ranges (ports, handshake); else they are per-target errors
    cap: int  # addresses per block at most
    shard: tuple[int, int] | None
    lines: array[int] = field(default_factory=lambda: array("l"))  # per streamed target: its --input line

    @property
    def name(self) -> str:
        return "stdin" if str(self.input_file) == "-" else str(self.input_file)

    def origin(self, index: int) -> str:
        """Where the index-th streamed target came from: "" for the command line, else "FILE:LINE"."""
        number = self.lines[index] if index < len(self.lines) else ARGUMENT
        return "" if number == ARGUMENT else f"{terminal_safe(self.name)}:{number}"

    def _numbered(self) -> Iterator[tuple[int, str]]:
        yield from ((ARGUMENT, text) for text in self.given)
        if self.input_file is None:
            return
        if str(self.input_file) == "-":
            yield from self._read(_stdin_lines())
            return
        try:
            with self.input_file.open("rb") as handle:
                yield from self._read(handle)
        except OSError as exc:
            raise UsageError(f"--input {terminal_safe(self.name)}: {exc.strerror or exc}") from None

    def _where(self, number: int) -> str:
        return f"--input {terminal_safe(self.name)}:{number}"

    @contextlib.contextmanager
    def _at(self, number: int) -> Iterator[None]:
        """A UsageError about one target (a bad block, one over the cap, a bad service) names "--input
        FILE:LINE:" when the target came from --input; the command line's are named by the message alone."""
        try:
            yield
        except UsageError as exc:
            if number == ARGUMENT:
                raise
            raise UsageError(f"{self._where(number)}: {exc}") from None

    def _expanded(self, numbered: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
        """Blocks expanded, lazily (as targets.expand_blocks), each line's errors named FILE:LINE."""
        for number, line in numbered:
            with self._at(number):
                block = checked_block(line, self.cap)
            if block is None:
                yield number, line
            else:
                yield from ((number, text) for text in block.targets())

    def _read(self, handle: BinaryIO | Iterator[bytes]) -> Iterator[tuple[int, str]]:
        """Target lines with their numbers: `#` comments and blank lines skipped; a binary file refused."""
        for number, raw in enumerate(handle, start=1):
            where = self._where(number)
            if b"\x00" in raw:
                raise UsageError(f"{where}: a binary file, not a list of targets (NUL byte)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{where}: not UTF-8 text (a binary file?)") from None
            text = line.split("#", 1)[0].strip()
            if text:
                yield number, text

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
        for number, line in self._numbered():
            with self._at(number):
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
        """The targets, lazily, blocks expanded, the shard taken; each one's line recorded as it goes out."""
        numbered = self._numbered()
        if not self.rereadable:
            first = next(numbered, None)
            if first is None:
                raise UsageError("no targets given")
            numbered = itertools.chain([first], numbered)
        expanded = self._expanded(numbered) if self.blocks else numbered
        for number, text in take_shard(expanded, self.shard):
            self.lines.append(number)
            yield text


def _stdin_lines() -> Iterator[bytes]:
    """Standard input's lines, read from its descriptor without Python's buffered reader: a thread blocked
    here holds no lock that the interpreter needs to exit (cli/inputs.read_in_thread). Stand-ins without a
    descriptor (tests) are read as they are."""
    try:
        descriptor = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        yield from getattr(sys.stdin, "buffer", None) or _encoded(sys.stdin)
        return
    pending = b""
    while chunk := os.read(descriptor, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in lines)
    if pending:
        yield pending


def _encoded(stream: Iterable[str]) -> Iterator[bytes]:
    """A text stream without a byte buffer (tests' stand-ins), as bytes."""
    for line in stream:
        yield line.encode("utf-8", "surrogateescape")


def _valid(text: str) -> bool:
    try:
        parse_target(text)
    except UsageError:
        return False
    return True


READ_AHEAD = 256  # targets a reader thread reads ahead of the run, at most


async def read_in_thread(texts: Iterator[str]) -> AsyncIterator[str]:
    """`texts` read by a daemon thread: a read that blocks (standard input, a terminal) never blocks the event
    loop, so Ctrl-C is seen at once, and the process can end while the thread still waits for a line.
    What reading raises (a binary line: UsageError) is raised here, in order."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[tuple[str | None, BaseException | None]] = asyncio.Queue()
    room = threading.Semaphore(READ_AHEAD)

    def read() -> None:
        try:
            for text in texts:
                room.acquire()
                loop.call_soon_threadsafe(arrived.put_nowait, (text, None))
            loop.call_soon_threadsafe(arrived.put_nowait, (None, None))
        except BaseException as exc:  # handed to the reader, raised there
            loop.call_soon_threadsafe(arrived.put_nowait, (None, exc))

    threading.Thread(target=read, name="mailprobe-input", daemon=True).start()
    while True:
        text, error = await arrived.get()
        if error is not None:
            raise error
        if text is None:
            return
        room.release()
        yield text
