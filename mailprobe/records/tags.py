"""Tag-value TXT records (`v=...; k=v; ...`): DMARC, MTA-STS and TLS-RPT share this shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TagRecord:
    text: str
    tags: tuple[tuple[str, str], ...]
    errors: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.errors

    def tag(self, name: str) -> str | None:
        for key, value in self.tags:
            if key == name:
                return value
        return None
