"""A handshake's dialogue as sent and received: `C:`/`S:` lines, a TLS boundary line, timing and notes.

Each transcript entry starts with its time since the session began; a multi-line reply shows one `S:` line
per line. CR LF ends a line silently; any other control byte (a bare LF, NUL, ESC) is shown escaped, and a
chunk that does not end with CR LF is marked `(no CRLF)`, which is what a protocol bug looks like.
"""

from __future__ import annotations

from mailprobe.model import Direction, HandshakeResult, TranscriptEntry
from mailprobe.report.ansi import BOLD, CYAN, MAGENTA, YELLOW, paint
from mailprobe.report.escape import terminal_safe
from mailprobe.report.layout import fill

_TIME_WIDTH = 10  # "  12345.6 ms" stays aligned up to 100 s sessions
_PAD = " " * _TIME_WIDTH
_COLOUR = {Direction.CLIENT: CYAN, Direction.SERVER: "", Direction.TLS: BOLD + MAGENTA, Direction.NOTE: YELLOW}


def transcript_title(h: HandshakeResult) -> str:
    t = h.target
    address = f"[{t.address}]" if ":" in t.address else t.address
    return terminal_safe(f"{t.service.value} {t.host} {address}:{t.port}")


def render_transcript(h: HandshakeResult, color: bool = False, width: int | None = None) -> str:
    """The dialogue, one line per protocol line; with `width`, long lines are cut (exactly, no character
    lost) and continued on the next line under the text, without a `C:`/`S:` marker."""
    title = f"transcript: {transcript_title(h)}"
    lines = [title if width is None else fill(title, width)]
    if not h.transcript:
        lines.append("  (no transcript recorded)")
    for entry in h.transcript:
        lines.extend(_entry_lines(entry, color, width))
    return "\n".join(lines) + "\n"


def _entry_lines(entry: TranscriptEntry, color: bool, width: int | None) -> list[str]:
    colour = _COLOUR[entry.direction]
    note = f"# {terminal_safe(entry.note)}" if entry.note else ""
    if entry.direction is Direction.TLS:
        text = terminal_safe(entry.data).strip()
        body = [f"---- TLS {text} ----" if text else "---- TLS ----"]
    elif entry.direction is Direction.NOTE and not entry.data:  # the annotation is the whole observation
        body, note = [f"NOTE: {terminal_safe(entry.note)}"], ""
    elif entry.direction is Direction.NOTE:
        body = [f"NOTE: {terminal_safe(entry.data)}"]
    else:
        body = [f"{entry.direction.value}: {text}" for text in _wire_lines(entry.data)]
    room = None if width is None else max(width - _TIME_WIDTH - 2, 20)
    inline_note = bool(note) and (room is None or len(body[0]) + 2 + len(note) <= room)
    rows = [(text, False) for text in body]
    if note and not inline_note:
        rows.insert(1, (note, True))  # too long to share the first line: the note goes under it
    out: list[str] = []
    for text, is_note in rows:
        for number, piece in enumerate([text] if room is None else _cut(text, room)):
            prefix = f"{entry.at_ms:.1f} ms".rjust(_TIME_WIDTH) if not out else _PAD
            shown = piece if is_note else paint(piece, colour, color)
            out.append(f"{prefix}  {'   ' if number else ''}{shown}")
    if inline_note:  # the first line was not cut: it fits with the note
        out[0] += "  " + note
    return out


def _cut(text: str, width: int) -> list[str]:
    """Pieces of at most `width` characters (continuation pieces are 3 shorter: they hang), broken after the
    last space that fits, so no word is split; a word too long for any line is cut where the line ends.
    Nothing is lost: the space stays at the end of its piece."""
    pieces: list[str] = []
    rest, room = text, width
    while len(rest) > room:
        space = rest.rfind(" ", 0, room)
        next_word = rest[space + 1 :].split(" ", 1)[0] if space > 0 else ""
        cut = space + 1 if space > 0 and len(next_word) <= width - 3 else room
        pieces.append(rest[:cut])
        rest, room = rest[cut:], width - 3
    pieces.append(rest)
    return pieces


def _wire_lines(data: bytes) -> list[str]:
    if not data:
        return ["(no data)"]
    pieces = data.split(b"\r\n")
    ended = pieces[-1] == b""
    if ended:
        pieces.pop()
    shown = [terminal_safe(piece) for piece in pieces]
    if not ended:
        shown[-1] += " (no CRLF)"
    return shown
