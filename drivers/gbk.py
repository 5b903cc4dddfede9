"""GBK text for devices whose fonts only know GBK (LED strips, evaluator staff names).

Devices reject or garble bytes outside GBK, so text is encoded here once, predictably: each
character GBK cannot encode becomes '?', and text over a byte budget is cut on a character
boundary. The caller gets the replaced characters back so it can log or alert.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBSTITUTE = "?"


@dataclass(frozen=True)
class GbkText:
    """Encoded text plus what had to change to make it displayable."""

    data: bytes
    replaced: tuple[str, ...] = ()  # characters GBK could not encode, in order of appearance
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("gbk")

    @property
    def clean(self) -> bool:
        return not self.replaced and not self.truncated


def encode_gbk(text: str, max_bytes: int | None = None) -> GbkText:
    """Encode `text` as GBK, '?' for what GBK lacks, cut to `max_bytes` without splitting a character."""
    out = bytearray()
    replaced: list[str] = []
    truncated = False
    for ch in text:
        try:
            b = ch.encode("gbk")
        except UnicodeEncodeError:
            replaced.append(ch)
            b = SUBSTITUTE.encode()
        if max_bytes is not None and len(out) + len(b) > max_bytes:
            truncated = True
            break
        out += b
    return GbkText(bytes(out), tuple(replaced), truncated)
