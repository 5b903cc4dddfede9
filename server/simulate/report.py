"""Turn simulated runs into the figures a hall director reads: waits, utilisation, estimate error."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from hallq.model import HallConfig

from .arrivals import DAY, _m
from .model import Run, Visit

BIN_MINUTES = 10
# The policies as a hall director calls them (the code names stay in --policy and --json).
POLICY_NAMES = {"separate": "分部门排队", "bind": "取号即定窗口", "pooled-fcfs": "统一排队·先到先办",
                "scarcity-fcfs": "稀缺事项优先", "lqf": "最长队优先", "gcmu": "广义cμ", "hallq": "hallq（本系统）",
                "pooled": "全员通办（下限）"}
SERVICE_NAMES = {"lognormal": "对数正态", "exponential": "指数分布"}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of `values`; nan when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def wait_stats(waits: Sequence[float]) -> dict:
    if not waits:
        return {"n": 0, "mean": math.nan, "p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "n": len(waits),
        "mean": sum(waits) / len(waits),
        "p50": percentile(waits, 50),
        "p90": percentile(waits, 90),
        "p99": percentile(waits, 99),
        "max": max(waits),
    }


def _grouped(visits: Iterable[Visit], key) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for v in visits:
        out[key(v)].append(v.wait)
    return dict(out)


def estimate_error(run: Run) -> dict:
    """Error of the wait printed on tickets (and of the naive estimate) against the realised wait."""
    called = [i for i in run.issued if i.called is not None]
    err = [abs(i.estimate - (i.called - i.arrival)) for i in called]
    naive = [abs(i.naive - (i.called - i.arrival)) for i in called]
    bias = [i.estimate - (i.called - i.arrival) for i in called]
    return {
        "n": len(called),
        "mae": sum(err) / len(err) if err else math.nan,
        "p80": percentile(err, 80),
        "bias": sum(bias) / len(bias) if bias else math.nan,
        "naive_mae": sum(naive) / len(naive) if naive else math.nan,
        "naive_p80": percentile(naive, 80),
    }


def timeline(config: HallConfig, run: Run) -> dict:
    """Through the day, averaged over days: people waiting (at each bin's start) and the mean wait
    of those who joined the queue in the bin."""
    spans = [(_m(s.start), _m(s.end)) for s in config.hours.sessions]
    start = math.floor((spans[0][0] - 30) / BIN_MINUTES) * BIN_MINUTES
    end_of_service = max((v.called - v.day * DAY for v in run.visits), default=spans[-1][1])
    end = math.ceil((max(spans[-1][1], end_of_service) + 10) / BIN_MINUTES) * BIN_MINUTES
    bins = list(range(int(start), int(end), BIN_MINUTES))
    days = max(run.scenario.days, 1)
    waiting = [0.0] * len(bins)
    sums = [0.0] * len(bins)
    counts = [0] * len(bins)
    for v in run.visits:
        q, c = v.queued - v.day * DAY, v.called - v.day * DAY
        i = int((q - start) // BIN_MINUTES)
        if 0 <= i < len(bins):
            sums[i] += v.wait
            counts[i] += 1
        # Bins whose start b satisfies q <= b < c.
        for j in range(max(0, math.ceil((q - start) / BIN_MINUTES)), min(len(bins), math.ceil((c - start) / BIN_MINUTES))):
            waiting[j] += 1
    return {
        "minute": bins,
        "waiting": [w / days for w in waiting],
        "mean_wait": [s / n if n else None for s, n in zip(sums, counts, strict=True)],
    }


def summarise(config: HallConfig, run: Run) -> dict:
    """Every figure of one run, as plain data (what `--json` prints)."""
    names = {p.code: p.name for p in config.priorities.values()}
    ranks = {p.code: p.rank for p in config.priorities.values()}
    by_priority = _grouped(run.visits, lambda v: v.priority)
    by_service = _grouped(run.visits, lambda v: v.service)
    staffed = sum(run.staffed.values())
    after = [v for v in run.visits if v.called >= run.closing[v.day]]
    last_end: dict[int, float] = {}
    for v in run.visits:
        last_end[v.day] = max(last_end.get(v.day, 0.0), v.ended)
    overtime = [max(0.0, last_end.get(d, c) - c) for d, c in enumerate(run.closing)]
    away = [c.arrival - c.came for c in run.returned.values()]
    return {
        "policy": run.policy,
        "tickets": len(run.scenario.citizens) - len(run.balked),
        "turned_away": {
            "returned": len(run.returned),
            "balked": len(run.balked),
            "mean_minutes_away": sum(away) / len(away) if away else 0.0,
        },
        "visits": len(run.visits),
        "no_shows": sum(1 for v in run.visits if v.no_show),
        "unserved": run.unserved,
        "wait": wait_stats([v.wait for v in run.visits]),
        "by_priority": {
            code: {"name": names.get(code, code), **wait_stats(w)}
            for code, w in sorted(by_priority.items(), key=lambda kv: ranks.get(kv[0], 99))
        },
        "by_service": {code: {"name": config.services[code].name, **wait_stats(w)}
                       for code, w in sorted(by_service.items())},
        "utilisation": {
            "mean": sum(run.busy.values()) / staffed if staffed else math.nan,
            "by_window": {n: (run.busy[n] / run.staffed[n] if run.staffed[n] else None) for n in sorted(run.busy)},
        },
        "after_closing": {
            "served": len(after),
            "mean_overtime_minutes": sum(overtime) / len(overtime) if overtime else 0.0,
        },
        "estimates": estimate_error(run),
        "timeline": timeline(config, run),
    }


# -- text tables -------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence], title: str = "") -> str:
    """A plain fixed-width table; floats to one decimal. CJK names count double in width."""
    cells = [[_fmt(x) for x in r] for r in rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        out = []
        for i, v in enumerate(values):
            pad = " " * (widths[i] - _width(v))
            out.append(v + pad if i == 0 or not _numeric(v) else pad + v)
        return "  ".join(out).rstrip()

    text = [title] if title else []
    text += [line(headers), line(["-" * w for w in widths])]
    text += [line(r) for r in cells]
    return "\n".join(text)


def _fmt(x) -> str:
    if isinstance(x, float):
        return "-" if math.isnan(x) else f"{x:.1f}"
    return str(x)


def _numeric(s: str) -> bool:
    return s.replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit() or s == "-"


def _width(s: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)


def render(config: HallConfig, summaries: dict[str, dict], meta: dict) -> str:
    """The human report of `hallq simulate`."""
    out = [
        f"{config.name} — 随机种子 {meta['seed']}，{meta['days']} 个工作日，每日约 {meta['per_day']:.0f} 张号，"
        f"负荷 {meta['load']:.2f}，到达曲线 {meta['profile']}"
        + (f"，办理时长 {SERVICE_NAMES.get(meta['service'], meta['service'])}" if meta.get("service") else "")
        + ("——假如窗口全部通办（每个窗口都办所有事项）" if meta.get("cross_trained") else "")
        + (f"，{'、'.join(meta['kept_own'])} 除外" if meta.get("kept_own") else ""),
        "",
    ]
    rows = []
    for name, s in summaries.items():
        w, e = s["wait"], s["estimates"]
        rows.append([POLICY_NAMES.get(name, name), w["n"], w["mean"], w["p50"], w["p90"], w["p99"], w["max"],
                     f"{100 * s['utilisation']['mean']:.0f}%", s["after_closing"]["served"],
                     s["after_closing"]["mean_overtime_minutes"], e["mae"], e["p80"], e["naive_mae"]])
    out.append(table(["叫号规则", "人次", "平均等候", "中位数", "90%分位", "99%分位", "最长", "窗口利用率", "延时服务人次",
                      "平均延时", "预计误差", "误差80%分位", "简单估算误差"], rows,
                     "等候时间（分钟，每次排队都计入）、窗口利用率、延时服务、号票上的预计等候"))
    out.append("")
    rows = []
    for name, s in summaries.items():
        for code, p in s["by_priority"].items():
            rows.append([POLICY_NAMES.get(name, name), f"{p['name']} ({code})", p["n"], p["mean"], p["p50"], p["p90"], p["p99"], p["max"]])
    out.append(table(["叫号规则", "类别", "人次", "平均等候", "中位数", "90%分位", "99%分位", "最长"], rows, "按优先类别的等候"))
    out.append("")
    if len(summaries) == 1:
        (name, s), = summaries.items()
        rows = [[code, p["name"], p["n"], p["mean"], p["p50"], p["p90"], p["p99"], p["max"]]
                for code, p in s["by_service"].items()]
        out.append(table(["事项", "名称", "人次", "平均等候", "中位数", "90%分位", "99%分位", "最长"], rows,
                         f"按事项的等候（{POLICY_NAMES.get(name, name)}）"))
    else:
        names = list(summaries)
        codes = sorted({c for s in summaries.values() for c in s["by_service"]})
        rows = []
        for code in codes:
            first = next(s["by_service"][code] for s in summaries.values() if code in s["by_service"])
            row: list = [code, first["name"], first["n"]]
            for n in names:
                p = summaries[n]["by_service"].get(code)
                row += [p["mean"], p["p90"]] if p else [math.nan, math.nan]
            rows.append(row)
        headers = ["事项", "名称", "人次"] + [h for n in names for h in (f"{POLICY_NAMES.get(n, n)} 平均", "90%分位")]
        out.append(table(headers, rows, "按事项的等候：各叫号规则的平均与90%分位"))
    away = next(iter(summaries.values()))["turned_away"] if summaries else None
    if away and (away["returned"] or away["balked"]):
        out.append("")
        out.append(f"到达时未能取号（午间无窗口办理该事项；各叫号规则相同）：{away['returned']} 人稍后返回"
                   f"（平均晚 {away['mean_minutes_away']:.0f} 分钟，等候从取号算起），{away['balked']} 人离开")
    unserved = {n: s["unserved"] for n, s in summaries.items() if s["unserved"]}
    if unserved:
        out.append("")
        out.append(f"警告：有号未被叫到：{unserved}")
    return "\n".join(out)
