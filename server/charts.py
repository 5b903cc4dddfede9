"""Small server-side SVG charts: readable at a glance, no script, no internet, and they print."""

from __future__ import annotations

import math
from html import escape

FONT = "'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif"


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


def nice_top(value: float) -> float:
    """The axis end: the next 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(title: str, labels: list[str], values: list[float | None], unit: str = "",
              color: str = "#2f6fb0", width: int = 720, height: int = 240, limit: float | None = None,
              top: float | None = None) -> str:
    """Vertical bars, one per label (days, months, hours); `limit` draws a dashed target line; `top`
    fixes the axis end (1.0 for a share)."""
    pad_l, pad_r, pad_t, pad_b = 48, 12, 34, 40
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    nums = [v for v in values if v is not None]
    top = top or nice_top(max(nums + ([limit] if limit else []) + [0]) * 1.05)
    n = max(1, len(labels))
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    parts = [_open(width, height, title), f'<text x="{pad_l}" y="20" class="t">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - pad_r}" y2="{pad_t + plot_h}" stroke="#999"/>']
    for i in range(5):
        y = pad_t + plot_h - plot_h * i / 4
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" class="a" text-anchor="end">{_fmt(top * i / 4, unit)}</text>')
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" stroke="#eee"/>')
    every = max(1, n // 12)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = pad_l + i * slot + (slot - bar) / 2
        if value is not None:
            h = plot_h * value / top
            parts.append(f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{escape(label)}：{_fmt(value, unit)}</title></rect>')
            if n <= 16:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{pad_t + plot_h - h - 3:.1f}" class="a" '
                             f'text-anchor="middle">{_fmt(value, unit)}</text>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{pad_t + plot_h + 16}" class="a" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if limit:
        y = pad_t + plot_h - plot_h * limit / top
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" stroke="#c0392b" '
                     f'stroke-dasharray="6 4"/><text x="{width - pad_r}" y="{y - 4:.1f}" class="a" '
                     f'text-anchor="end" fill="#c0392b">目标 {_fmt(limit, unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(title: str, labels: list[str], values: list[float | None], unit: str = "",
               color: str = "#2f8f5b", width: int = 720, row: int = 22, low: float = 0.0) -> str:
    """Horizontal bars, one row per window or staff member; bars start at `low` (e.g. 90% for 好评率)."""
    pad_l, pad_r, pad_t = 180, 70, 34
    height = pad_t + row * max(1, len(labels)) + 10
    plot_w = width - pad_l - pad_r
    nums = [v for v in values if v is not None]
    top = max(nums + [low + 1e-9])
    span = (top - low) or 1.0
    parts = [_open(width, height, title), f'<text x="8" y="20" class="t">{escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = pad_t + i * row
        parts.append(f'<text x="{pad_l - 6}" y="{y + row * 0.7:.1f}" class="a" text-anchor="end">{escape(label[:14])}</text>')
        if value is None:
            parts.append(f'<text x="{pad_l + 4}" y="{y + row * 0.7:.1f}" class="a" fill="#888">无数据</text>')
            continue
        w = max(1.0, plot_w * (value - low) / span) if value > low else 1.0
        parts.append(f'<rect x="{pad_l}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
                     f'<title>{escape(label)}：{_fmt(value, unit)}</title></rect>')
        parts.append(f'<text x="{pad_l + w + 4:.1f}" y="{y + row * 0.7:.1f}" class="a">{_fmt(value, unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" class="chart"><style>text{{font-family:{FONT};}}'
            '.t{font-size:15px;font-weight:bold;fill:#222}.a{font-size:11px;fill:#444}</style>')
