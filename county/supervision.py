"""电子监察 across centres: every centre's active alerts with level and age, and the alerts the
county raises itself from what it sees of the centres — a centre not heard past a threshold, a
centre's 红牌 left unacknowledged past a threshold. Computed from the live overview (county/live.py)
each time the page is read: nothing to store, nothing to go stale."""

from __future__ import annotations

from datetime import UTC, datetime

OFFLINE_MINUTES = 10  # a centre not heard for this long: the 政务外网 link or the hall is down
RED_UNACKED_MINUTES = 30  # a 红牌 nobody at the centre has acknowledged (签收) for this long


def county_alerts(halls: list[dict]) -> list[dict]:
    """The county's own alerts over the overview's halls, worst first."""
    out = []
    for h in halls:
        ago = h["heard_seconds_ago"]
        if h["link"] == "offline" and ago is not None and ago >= OFFLINE_MINUTES * 60:
            out.append({"hall": h["code"], "hall_name": h["name"], "kind": "offline", "level": "red",
                        "message": f"中心已 {int(ago // 60)} 分钟未与县级平台联系", "age_minutes": round(ago / 60, 1)})
        if h.get("diverged"):  # county/ingest.py: a hall restored from a backup; nothing of it is taken
            d = h["diverged"]
            try:
                age = max(0.0, (datetime.now(UTC) - datetime.fromisoformat(d["at"])).total_seconds() / 60)
            except (KeyError, TypeError, ValueError):
                age = 0.0
            out.append({"hall": h["code"], "hall_name": h["name"], "kind": "diverged", "level": "red",
                        "message": f"中心记录与县级平台不一致（自第 {d.get('after')} 号事件起，数据库可能已从备份恢复），"
                                   f"已暂停接收：请核实后运行 hallq county rebase {h['code']}",
                        "age_minutes": round(age, 1)})
        for a in h["alert_list"]:
            age = a.get("age_minutes")
            if a.get("level_code") == "red" and not a.get("acked") and age is not None and age >= RED_UNACKED_MINUTES:
                out.append({"hall": h["code"], "hall_name": h["name"], "kind": "red_unacked", "level": "red",
                            "message": f"红牌 {age:.0f} 分钟未签收：{a['message']}", "age_minutes": age})
    return sorted(out, key=lambda a: -a["age_minutes"])


def centre_alerts(halls: list[dict]) -> list[dict]:
    """Every centre's active alerts, oldest first."""
    rows = [{"hall": h["code"], "hall_name": h["name"], **a} for h in halls for a in h["alert_list"]]
    return sorted(rows, key=lambda a: -(a.get("age_minutes") or 0))
