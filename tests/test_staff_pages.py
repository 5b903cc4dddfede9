"""The staff side in a real browser (Chromium, as tests/test_browser.py): the clerk's page shows each
window's state where a citizen may be transferred, asks before 过号, 签退 and a transfer to a window
nobody staffs, and enables only the actions that apply; the server refuses that transfer unless told."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, LAUNCH_ARGS, shot, sign_in_window, signed_in  # noqa: F401 (skips without chromium)
from webhall import make_app, sign_in


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    from liveserver import serve_app

    app = make_app(tmp_path_factory.mktemp("staff") / "hall.db", all_day=True)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def test_transfer_to_an_unstaffed_window_is_refused_unless_confirmed(tmp_path):
    app = make_app(tmp_path / "h.db", all_day=True)
    engine = app.config["ENGINE"]
    client = app.test_client()
    csrf = sign_in(client, "clerk1")
    post = lambda action, **body: client.post(f"/api/v1/windows/1/{action}", json=body,  # noqa: E731
                                              headers={"X-CSRF-Token": csrf})
    assert post("login", staff="1001").status_code == 200
    t = engine.issue("S101")
    assert post("call-next").json["ticket"]["code"] == t.code
    r = post("transfer", to_window=5)  # 办不成事反映窗口: nobody signed in
    assert r.status_code == 409 and r.json["error"] == "target_unstaffed" and r.json["field"] == "to_window"
    assert engine.ticket(t.id).state == "called"  # nothing happened
    engine.login(2, "1002")
    assert post("transfer", to_window=2).status_code == 200  # a staffed window takes it at once
    assert post("call", code=t.code).status_code == 409  # now it is window 2's (target_window)
    engine.call_next(2)
    assert engine.transfer(2, to_window=5, confirm_unstaffed=True)["result"] == "accepted"
    assert engine.ticket(t.id).target_window == 5


def test_clerk_page_enables_what_applies_and_asks_first(hall, browser):
    base, app = hall
    engine = app.config["ENGINE"]
    engine.login(2, "1002")
    engine.login(3, "1003")
    engine.pause(3, "lunch")
    ctx, page = signed_in(browser, base, "clerk1", viewport={"width": 1280, "height": 900})
    sign_in_window(page, 1)
    key = lambda action: page.locator(f"[data-action={action}]")  # noqa: E731
    expect(page.locator("#win-state")).to_have_text("空闲")
    # Nobody waiting, nobody called: nothing to call, recall, finish or transfer.
    for action in ("call-next", "recall", "start", "no-show", "park", "finish", "transfer", "invite-rating",
                   "call-back", "resume"):
        expect(key(action)).to_be_disabled()
    for action in ("call", "pause", "logout"):
        expect(key(action)).to_be_enabled()
    first = engine.issue("S101")
    expect(key("call-next")).to_be_enabled()  # the new ticket arrives live
    key("call-next").click()
    expect(page.locator("#current")).to_have_text(first.code)
    for action in ("call-next", "call", "pause", "logout"):  # no call-next while someone is at the window
        expect(key(action)).to_be_disabled()
    for action in ("recall", "start", "no-show", "park", "finish"):
        expect(key(action)).to_be_enabled()

    # The transfer list: only windows that handle the matter, each with its state.
    options = page.locator("#to-window option")
    expect(options).to_have_text(["—", "2号 综合窗口2 · 李建国在岗 空闲", "3号 企业开办窗口 · 暂停中（午休） 王芳在岗",
                                  "5号 办不成事反映窗口 · 无人签到"])
    expect(key("transfer")).to_be_disabled()  # no target chosen yet
    page.select_option("#to-window", "5")
    key("transfer").click()
    expect(page.locator("#ask")).to_be_visible()
    expect(page.locator("#ask-text")).to_contain_text("5号窗口无人签到")
    shot(page, "staff-clerk-ask-unstaffed")
    page.click("#ask-no")
    expect(page.locator("#message")).to_have_text("已取消")
    assert engine.ticket(first.id).state == "called"
    page.select_option("#to-window", "5")
    key("transfer").click()
    page.click("#ask-yes")
    expect(page.locator("#message")).to_have_text(f"已转办 {first.code}")
    assert engine.ticket(first.id).target_window == 5

    # 过号 asks, and says it once.
    second = engine.issue("S102")
    expect(key("call-next")).to_be_enabled()
    key("call-next").click()
    expect(page.locator("#current")).to_have_text(second.code)
    key("no-show").click()
    expect(page.locator("#ask-text")).to_contain_text(f"确认 {second.code} 过号")
    page.click("#ask-no")
    assert engine.ticket(second.id).state == "called"
    key("no-show").click()
    page.click("#ask-yes")
    expect(page.locator("#message")).to_have_text(f"已过号 {second.code}")
    expect(page.locator("#current")).to_have_text("—")

    # 办结 at a window with no evaluator prompts nothing: the clerk is told to point at the QR code.
    third = engine.issue("S101")
    expect(key("call-next")).to_be_enabled()
    key("call-next").click()
    expect(page.locator("#current")).to_have_text(third.code)
    key("finish").click()
    expect(page.locator("#message")).to_have_text(f"已办结 {third.code}，请提示群众扫号票二维码评价")

    # 签退 asks too.
    expect(key("logout")).to_be_enabled()
    key("logout").click()
    expect(page.locator("#ask-text")).to_contain_text("确认签退")
    page.click("#ask-no")
    assert any(w.number == 1 and w.staff == "1001" for w in engine.window_states())
    key("logout").click()
    page.click("#ask-yes")
    expect(page.locator("h1")).to_contain_text("窗口签到")
    assert not any(w.number == 1 and w.staff for w in engine.window_states())
    ctx.close()


def test_reports_page_defines_every_column_charts_hours_and_ranks(hall, browser):
    from webhall import serve_one

    base, app = hall
    engine = app.config["ENGINE"]
    for window, staff in ((2, "1002"), (4, "1004")):  # 6 services each: a day's ranking needs 5
        for _ in range(6):
            serve_one(engine, window, "S101" if window == 2 else "S301", staff)
    ctx, page = signed_in(browser, base, "sup", viewport={"width": 1280, "height": 900})
    page.goto("/reports?period=day&by=window")
    headers = page.locator("#report-table thead th").all_inner_texts()
    defined = set(page.locator("#report-legend dt").all_inner_texts())
    assert {"接待", "办结", "过号", "转出", "挂起", "在办"} <= set(headers)
    assert set(headers) - {"名称"} <= defined, set(headers) - defined
    good = [page.locator(f"{dl} dt:text-is('好评率') + dd").inner_text() for dl in ("#report-legend", "#indicator-legend")]
    assert good[0] == good[1], good  # one 好评率, defined once (server/rating_record.py)
    expect(page.locator("h2.red-list + table tbody tr td").first).to_have_text("1")  # ranked, not "暂不排名"
    expect(page.locator("svg[aria-label^='各时段']")).to_have_count(4)
    expect(page.locator("#hour-table tbody tr").first).to_be_visible()
    shot(page, "staff-reports")
    page.goto("/reports?period=day&by=department")
    expect(page.locator("#report-table thead")).to_contain_text("本部门窗口接待")
    ctx.close()
