"""`--plot`: the hall's day at a glance — people waiting and the mean wait, one line per policy."""

from __future__ import annotations

from pathlib import Path


def plot(summaries: dict[str, dict], path: str | Path, title: str) -> None:
    """Write a PNG with two panels sharing the time-of-day axis."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from hallq.fonts import FontMissing, find_cjk_font

    from .report import POLICY_NAMES

    try:  # the director reads 平均等候: draw the labels in the CJK font the kiosk uses
        font = find_cjk_font()
        font_manager.fontManager.addfont(str(font))
        matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    except (FontMissing, OSError, RuntimeError):  # no CJK font: the plot still draws, labels as boxes
        pass
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, s in summaries.items():
        t = s["timeline"]
        hours = [m / 60 for m in t["minute"]]
        style = {"linewidth": 2.4} if name == "hallq" else {"linewidth": 1.3}
        top.plot(hours, t["waiting"], label=POLICY_NAMES.get(name, name), **style)
        points = [(h, w) for h, w in zip(hours, t["mean_wait"], strict=True) if w is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            bottom.plot(xs, ys, label=POLICY_NAMES.get(name, name), **style)
    top.set_ylabel("等候人数")
    bottom.set_ylabel("平均等候（分钟，按取号时间）")
    bottom.set_xlabel("时刻（时）")
    top.set_title(title)
    top.legend()
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
