"""A handshake's dialogue in HTML: one line per protocol line, coloured by C:/S:/TLS, each line an anchor,
and the line a finding quotes highlighted (the finding links to it).

Every string passes html_safe (terminal_safe first); the lines are the same as the table's transcript.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailprobe.model import Direction, Finding, HandshakeResult
from mailprobe.report.escape import html_safe, terminal_safe

_CLASS = {Direction.CLIENT: "c", Direction.SERVER: "s", Direction.TLS: "tls", Direction.NOTE: "note"}
_REPLY_CODE = re.compile(r"^(?:\d{3}[ -]|\+OK |-ERR |\* (?:OK |NO |BAD |BYE )?|[A-Za-z0-9]+ (?:OK|NO|BAD) )")
MIN_QUOTE = 4  # shorter reply texts ("OK") are too common to say which line a finding quotes


@dataclass(frozen=True, slots=True)
class Line:
    direction: Direction
    at_ms: float | None  # on the first line of an entry
    text: str  # raw (unescaped), without CR LF
    note: str = ""


def lines_of(h: HandshakeResult) -> list[Line]:
    out: list[Line] = []
    for entry in h.transcript:
        note = entry.note
        if entry.direction is Direction.TLS:
            text = terminal_safe(entry.data).strip()
            texts = [f"---- TLS {text} ----" if text else "---- TLS ----"]
        elif entry.direction is Direction.NOTE:
            texts = [terminal_safe(entry.data) or note]
            note = "" if not entry.data else note
        else:
            pieces = entry.data.split(b"\r\n")
            ended = pieces[-1] == b""
            if ended:
                pieces.pop()
            texts = [terminal_safe(piece) for piece in pieces] or ["(no data)"]
            if not ended:
                texts[-1] += " (no CRLF)"
        for index, text in enumerate(texts):
            out.append(Line(entry.direction, entry.at_ms if index == 0 else None, text, note if index == 0 else ""))
    return out


def quoted_line(lines: list[Line], evidence: str) -> int | None:
    """The first server (else client) line whose reply text the evidence quotes, or None."""
    for direction in (Direction.SERVER, Direction.CLIENT):
        for index, line in enumerate(lines):
            if line.direction is not direction:
                continue
            body = line.text.strip()
            reply = _REPLY_CODE.sub("", body, count=1)
            if len(body) >= MIN_QUOTE and body in evidence:
                return index
            if len(reply) >= MIN_QUOTE and reply in evidence:
                return index
    return None


def render(h: HandshakeResult, anchor: str, title: str, flagged: Iterable[tuple[int, Finding, str]]) -> str:
    """`<details>` holding the dialogue (a block per line, no newline between them in the <pre>), open when a
    finding points into it; `flagged`: (line index, finding, finding's anchor) to highlight."""
    marks: dict[int, list[tuple[Finding, str]]] = {}
    for index, finding, finding_anchor in flagged:
        marks.setdefault(index, []).append((finding, finding_anchor))
    rows = []
    for index, line in enumerate(lines_of(h)):
        css = _CLASS[line.direction] + (" offending" if index in marks else "")
        when = f"{line.at_ms:.1f} ms" if line.at_ms is not None else ""
        marker = f"{line.direction.value}: " if line.direction in (Direction.CLIENT, Direction.SERVER) else ""
        if line.direction is Direction.NOTE:
            marker = "NOTE: "
        note = f'<span class="note-text"># {html_safe(line.note)}</span>' if line.note else ""
        links = "".join(
            f' <a class="flag" href="#{finding_anchor}">&larr; {html_safe(finding.code)}</a>'
            for finding, finding_anchor in marks.get(index, [])
        )
        rows.append(
            f'<span class="line {css}" id="{anchor}-{index}"><span class="at">{when}</span>'
            f'<span class="text">{html_safe(marker + line.text)}</span>{note}{links}</span>'
        )
    body = "".join(rows) if rows else '<span class="line note">(no transcript recorded)</span>'
    return (
        f'<details class="transcript" id="{anchor}"{" open" if marks else ""}>'
        f"<summary>transcript: {html_safe(title)}</summary>"
        f'<div class="scroll"><pre>{body}</pre></div></details>'
    )
