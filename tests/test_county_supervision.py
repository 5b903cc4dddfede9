"""电子监察 across centres (county/supervision.py over county/live.py's fold): a centre's alerts carry
their age on the hall's own clock; the county raises its own alert for a 红牌 left unacknowledged
past the threshold (not for one acknowledged, nor for a young one) and for a centre long unheard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from county import live, supervision


def _ev(kind: str, ts: str, **data) -> dict:
    return {"type": kind, "ts": ts, "ticket": None, "service": None, "window": None, "data": data}


def test_red_cards_unacknowledged_and_centres_unheard_raise_county_alerts():
    state = live.empty()
    for ev in (_ev("alert.raised", "2026-12-01T09:00:00+08:00", alert=1, level="red", level_name="红牌", message="窗口3 超时"),
               _ev("alert.raised", "2026-12-01T09:05:00+08:00", alert=2, level="red", level_name="红牌", message="窗口5 超时"),
               _ev("alert.acked", "2026-12-01T09:06:00+08:00", alert=2),
               _ev("alert.raised", "2026-12-01T09:50:00+08:00", alert=3, level="red", level_name="红牌", message="窗口6 超时"),
               _ev("alert.raised", "2026-12-01T09:59:00+08:00", alert=4, level="yellow", level_name="黄牌", message="排队")):
        state = live.fold(state, ev)
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # heard 1 minute ago: its newest event (09:59) + 1 min
    heard = now - timedelta(minutes=1)
    online = live.summary("T1", "一镇", 9, heard, heard, state["last_ts"], state, now)
    ages = {a["message"]: a["age_minutes"] for a in online["alert_list"]}
    assert ages == {"窗口3 超时": 60.0, "窗口5 超时": 55.0, "窗口6 超时": 10.0, "排队": 1.0}  # on the hall's clock
    raised = supervision.county_alerts([online])
    assert [(a["kind"], a["hall"]) for a in raised] == [("red_unacked", "T1")]  # only alert 1: old, red, not acked
    assert "窗口3" in raised[0]["message"]
    gone = now - timedelta(minutes=supervision.OFFLINE_MINUTES + 1)
    offline = live.summary("T2", "二镇", 9, gone, gone, None, live.empty(), now)
    assert [a["kind"] for a in supervision.county_alerts([offline])] == ["offline"]
    assert [a["message"] for a in supervision.centre_alerts([online])][0] == "窗口3 超时"  # oldest first
