"""The pages in a real browser: Debian's headless Chromium driven by Playwright, against the app on
the front on uvicorn (as `hallq serve` runs it) on 127.0.0.1, with a test hall open all day.

Screenshots of each page go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.geteuid() == 0:
        pytest.fail("chromium is missing although we run as root: `bin/hallq test` installs it (apt-get install "
                    "chromium)", pytrace=False)
    pytest.skip("Debian's chromium is not installed and we are not root to install it "
                "(apt-get install chromium, or run bin/hallq test as root)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from webhall import USERS, make_app  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """The app behind the front in a thread: (base URL, app)."""
    from liveserver import serve_app

    app = make_app(tmp_path_factory.mktemp("browser") / "hall.db", all_day=True)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def signed_in(browser, base: str, username: str, **context):
    ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", **context)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", USERS[username][0])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return ctx, page


def sign_in_window(page, window: int) -> None:
    page.goto("/clerk")
    page.select_option("#sign-window", str(window))
    page.click("#sign-in")
    expect(page.locator("h1")).to_contain_text(f"{window}号窗口")


def test_call_next_reaches_the_board_and_the_citizen_live(hall, browser):
    base, app = hall
    engine = app.config["ENGINE"]
    ticket = engine.issue("S101", phone="13800138000")

    login_ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai")
    login_page = login_ctx.new_page()
    login_page.goto("/login")
    expect(login_page.locator("h1")).to_have_text(engine.config.name)
    shot(login_page, "01-login")
    login_ctx.close()

    sup_ctx, board = signed_in(browser, base, "sup", viewport={"width": 1400, "height": 900})
    assert board.url.endswith("/board")
    expect(board.locator("#live")).to_have_text("实时", timeout=10000)
    expect(board.locator("#win-1")).to_contain_text("无人在岗")
    # The waiting table (from /queue?tickets=0): the matter, 1 waiting, the longest wait in minutes.
    expect(board.locator("#waiting tbody tr td")).to_have_text(["社会保障卡申领", "1", re.compile(r"^\d+$")])
    board.evaluate("window.__noReload = true")

    phone_ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, is_mobile=True)
    citizen = phone_ctx.new_page()
    citizen.goto(f"/t/{ticket.id}")
    expect(citizen.locator("#t-code")).to_have_text(ticket.code)
    expect(citizen.locator("#t-state")).to_have_text("等候中")
    expect(citizen.locator("#t-materials")).to_contain_text("居民身份证")
    # Nobody is signed in yet: the page says so (hallq/waits.py), never "约 0 分钟" (issue #12).
    expect(citizen.locator("#t-position")).to_have_text("前面还有 0 人，暂无窗口办理，请咨询导办人员")
    shot(citizen, "02-ticket-waiting")

    clerk_ctx, clerk = signed_in(browser, base, "clerk1", viewport={"width": 1280, "height": 860})
    assert clerk.url.endswith("/clerk")
    shot(clerk, "03-clerk-sign-in")
    sign_in_window(clerk, 1)
    expect(clerk.locator("#win-state")).to_have_text("空闲")
    expect(clerk.locator("#queue")).to_contain_text(ticket.code)
    clerk.click("[data-action=call-next]")
    expect(clerk.locator("#current")).to_have_text(ticket.code)
    expect(clerk.locator("#message")).to_contain_text("已呼叫")
    shot(clerk, "04-clerk-called")

    expect(board.locator("#win-1")).to_contain_text(ticket.code, timeout=10000)
    expect(board.locator("#win-1")).to_have_class("win called")
    assert board.evaluate("window.__noReload") is True  # updated by the event stream, not a reload
    shot(board, "05-board")

    expect(citizen.locator("#t-call")).to_have_text("请到1号窗口", timeout=10000)
    expect(citizen.locator("#t-state")).to_have_text("请到窗口")
    shot(citizen, "06-ticket-called")
    for ctx in (sup_ctx, phone_ctx, clerk_ctx):
        ctx.close()


def test_bad_rating_case_walked_to_closed_and_fix_rated(hall, browser):
    base, app = hall
    engine = app.config["ENGINE"]
    clerk_ctx, clerk = signed_in(browser, base, "clerk2")
    sign_in_window(clerk, 2)
    ticket = engine.issue("S101", phone="13900139000")
    clerk.click("[data-action=call-next]")
    expect(clerk.locator("#current")).to_have_text(ticket.code)
    clerk.click("[data-action=start]")
    clerk.select_option("#outcome", "done")
    clerk.click("[data-action=finish]")
    expect(clerk.locator("#message")).to_contain_text("已办结")

    sup_ctx, board = signed_in(browser, base, "sup", viewport={"width": 1400, "height": 900})
    expect(board.locator("#live")).to_have_text("实时", timeout=10000)

    phone_ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, is_mobile=True)
    citizen = phone_ctx.new_page()
    citizen.goto(f"/t/{ticket.id}")
    expect(citizen.locator("#rate-block")).to_be_visible()
    citizen.click("#grades button[data-grade='1']")
    citizen.select_option("#rate-reason", "attitude")
    citizen.fill("#rate-comment", "窗口人员态度生硬，没有一次性告知所需材料")
    shot(citizen, "07-ticket-rating")
    citizen.click("#rate-submit")
    expect(citizen.locator("#t-done")).to_contain_text("1 个工作日内回访核实")  # 差评: the call-back to come

    case = app.config["ENGINE"].store.rows("SELECT * FROM cases WHERE ticket_code = ?", [ticket.code])[0]
    expect(board.locator(f"[data-case='{case['id']}']")).to_contain_text("非常不满意", timeout=10000)
    shot(board, "08-board-with-case")

    page = sup_ctx.new_page()
    page.goto(f"/cases/{case['id']}")
    expect(page.locator("#case-state")).to_have_text("待回访")
    for action, note, state in [("call-back", "已电话回访，核实属实", "已回访"),
                                ("rectify", "已约谈当事人，列入整改台账", "已整改"),
                                ("close", "整改完成，群众表示认可", "已办结")]:
        page.select_option("#case-action", action)
        if action == "call-back":  # the citizen's answer at 回访 is required
            page.select_option("#case-contact", "phone")
            page.select_option("#case-answer", "dissatisfied")
        page.fill("#case-note", note)
        page.click("#case-form button[type=submit]")
        expect(page.locator("#case-state")).to_have_text(state)
    expect(page.locator("#case-steps li")).to_have_count(4)
    shot(page, "09-case-closed")

    citizen.reload()
    expect(citizen.locator("#fix-block")).to_be_visible()
    citizen.click("#fix-grades button[data-grade='4']")
    expect(citizen.locator("#t-done")).to_have_text("感谢您对整改结果的评价！")
    assert app.config["CASES"].get(case["id"])["fix_grade"] == 4
    for ctx in (sup_ctx, phone_ctx, clerk_ctx):
        ctx.close()


def test_a_clerk_cannot_act_on_another_window(hall, browser):
    base, app = hall
    ctx, page = signed_in(browser, base, "clerk2")
    page.goto("/clerk")
    expect(page.locator("h1")).to_contain_text("2号窗口")  # clerk2 signed in at window 2 earlier
    status = page.evaluate("""async () => {
        try { await hallq.api("POST", "/api/v1/windows/1/call-next", {}); return 200; }
        catch (e) { return e.status; }
    }""")
    assert status == 403
    page.goto("/clerk?window=1")  # clerks cannot pick a window by URL
    expect(page.locator("h1")).to_contain_text("2号窗口")
    page.goto("/board")
    expect(page.locator("#error-message")).to_contain_text("无权")
    ctx.close()


def test_a_form_post_without_its_csrf_token_is_refused(hall, browser):
    base, app = hall
    engine = app.config["ENGINE"]
    engine.login(3, "1003")
    t = engine.issue("S202")
    engine.call(3, t.code)
    engine.finish(3)
    engine.rate(2, "evaluator", window=3)
    case = app.config["ENGINE"].store.rows("SELECT id FROM cases WHERE ticket_code = ?", [t.code])[0]
    ctx, page = signed_in(browser, base, "sup")
    page.goto(f"/cases/{case['id']}")
    page.evaluate("document.querySelector('#case-form input[name=csrf_token]').remove()")
    page.fill("#case-note", "没有令牌的提交")
    page.click("#case-form button[type=submit]")
    expect(page.locator("#error-message")).to_contain_text("安全令牌")
    shot(page, "10-csrf-refused")
    assert app.config["CASES"].get(case["id"])["state"] == "open"
    ctx.close()


def test_alerts_reports_and_admin_pages(hall, browser):
    base, app = hall
    ctx, board = signed_in(browser, base, "sup", viewport={"width": 1400, "height": 900})
    expect(board.locator("#live")).to_have_text("实时", timeout=10000)
    app.config["ALERTS"].report("printer_paper_low", "K1", "yellow", "大厅1号取号机打印纸将尽", True, "kiosk")
    item = board.locator("#alerts li", has_text="打印纸将尽")
    expect(item).to_contain_text("黄牌", timeout=10000)
    item.locator(".ack-form input").fill("已通知导服人员换纸")
    item.locator(".ack-form button").click()
    expect(board.locator("#alerts li", has_text="打印纸将尽")).to_contain_text("sup 已确认", timeout=10000)
    shot(board, "11-board-alert-acked")

    page = ctx.new_page()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/reports?period=month&by=window")
    expect(page.locator("h1")).to_contain_text("统计报表")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("#report-table")).to_contain_text("综合窗口2")  # window 2 finished a service above
    shot(page, "12-reports")
    ctx.close()

    admin_ctx, admin = signed_in(browser, base, "admin", viewport={"width": 1400, "height": 900})
    admin.goto("/admin")
    expect(admin.locator(".notice")).to_contain_text("只读")
    expect(admin.locator("body")).to_contain_text("社会保障卡申领")
    shot(admin, "13-admin")
    admin_ctx.close()


def test_a_bad_evaluator_rating_tells_the_citizen_the_hall_will_call_back(hall, browser):
    """非常不满意 on the evaluator: the ticket's page says who calls back and by when (回访核实)."""
    from webhall import serve_one

    base, app = hall
    engine = app.config["ENGINE"]
    ticket = serve_one(engine, window=4, service="S301", staff="1004")
    assert engine.rate(1, "evaluator", window=4)["rated"] is True
    cases = app.config["CASES"]
    deadline = time.monotonic() + 10
    while not cases.fix_status(ticket.id)["case"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the case opens from the commit feed
    due = cases.fix_status(ticket.id)["callback_due"]
    phone_ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, is_mobile=True)
    citizen = phone_ctx.new_page()
    citizen.goto(f"/t/{ticket.id}")
    note = citizen.locator("#callback-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"{due[:16].replace('T', ' ')} 前安排专人回访核实")
    shot(citizen, "10-ticket-bad-rating-callback")
    phone_ctx.close()


def test_the_board_acknowledges_many_alerts_with_one_note(hall, browser):
    base, app = hall
    board_alerts = app.config["ALERTS"]
    for n in (1, 2, 3):
        board_alerts.report("device_offline", f"strip:{n}", "red", f"{n}号窗口条屏离线（批量）", True, "caller", window=n)
    ctx, board = signed_in(browser, base, "sup", viewport={"width": 1400, "height": 900})
    expect(board.locator("#alerts li", has_text="条屏离线（批量）")).to_have_count(3, timeout=10000)
    board.click("#ack-all")
    expect(board.locator("#ack-many-count")).not_to_have_text("0")
    board.fill("#ack-many-note", "条屏总线接头松动，已派人处理")
    board.click("#ack-many button[type=submit]")
    for n in (1, 2, 3):
        expect(board.locator("#alerts li", has_text=f"{n}号窗口条屏离线")).to_contain_text(
            "sup 已确认：条屏总线接头松动，已派人处理", timeout=10000)
    shot(board, "11b-board-alerts-acked-together")
    assert all(a["ack_note"] == "条屏总线接头松动，已派人处理" for a in board_alerts.active() if a["kind"] == "device_offline")
    ctx.close()
