"""How a wait estimate reads in Chinese: one wording for the ticket, the kiosk, the citizen page
and the hall display, so a citizen never reads two different waits for one ticket.

Works on the estimate as the API gives it (`estimate_low`, `estimate_high`, `opens_at`, `on_duty`:
server/estimate.py `Estimate`), so every tier — the server itself, kiosk, caller, printer — formats
the same fields the same way. A range, never a bare point: the point estimate is wrong by minutes
either way, and "约 0 分钟" with people ahead was the worst of it (issue #12).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime


def wait_text(estimate: Mapping, short: bool = False) -> str:
    """"预计等候约 5–15 分钟", "窗口 8:30 开始办理，预计等候约 25–40 分钟", "即将叫号", or that nobody
    is on duty for the matter; `short` for a menu button or a display row ("约 5–15 分钟")."""
    if estimate.get("on_duty") is False:
        return "暂无窗口" if short else "暂无窗口办理，请咨询导办人员"
    low, high = estimate.get("estimate_low"), estimate.get("estimate_high")
    if low is None or high is None:
        return ""
    lo, hi = round(float(low)), round(float(high))
    hi = max(hi, lo)
    opens = estimate.get("opens_at")
    at = ""
    if opens:
        when = opens if isinstance(opens, datetime) else datetime.fromisoformat(str(opens))
        at = f"{when.hour}:{when.minute:02d} 开始"
    if hi <= 0:
        return (at or "即将叫号") if short else (f"窗口 {at}办理" if at else "即将叫号，请留意叫号屏")
    span = f"约 {lo} 分钟" if lo == hi else f"约 {lo}–{hi} 分钟"
    if short:
        return f"{at} · {span}" if at else span
    return f"窗口 {at}办理，预计等候{span}" if at else f"预计等候{span}"


def estimate_fields(low: float, high: float, opens_at: datetime | None, on_duty: bool) -> dict:
    """The estimate's fields as the API puts them in a ticket's position and a menu row (no range
    when nobody is on duty for the matter: there is none to give)."""
    out = {"estimate_low": round(low, 1) if on_duty else None, "estimate_high": round(high, 1) if on_duty else None,
           "opens_at": opens_at.isoformat() if opens_at else None, "on_duty": on_duty}
    out["wait_text"] = wait_text(out)
    out["wait_short"] = wait_text(out, short=True)
    return out
