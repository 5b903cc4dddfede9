"""The citizens' booking page (预约) in a real browser (headless Chromium, as tests/test_browser.py):
book a slot, see it fill up, change and cancel by code and the phone's last 4 digits; forms without
the session's CSRF token are refused."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from test_browser import PHONE, browser, hall, shot  # noqa: F401  (fixtures; skips without Chromium)


def test_book_fill_a_slot_change_and_cancel(hall, browser):  # noqa: F811
    base, app = hall
    engine = app.config["ENGINE"]
    tomorrow = (engine.now() + timedelta(days=1)).date()
    ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, is_mobile=True)
    page = ctx.new_page()
    codes = []
    for phone in ("13811112222", "13833334444"):  # capacity 2 per slot and matter (the default)
        page.goto("/book")
        page.select_option("#b-service", "S101")
        page.select_option("#b-day", tomorrow.isoformat())
        page.click("#b-show")
        page.locator("#b-slots input[type=radio]").nth(18).check()  # 09:00
        page.fill("#b-phone", phone)
        page.fill("#b-id", "")
        page.click("#b-submit")
        expect(page.locator("#book-done h1")).to_have_text("预约成功")
        codes.append(page.locator("#d-code").inner_text())
    shot(page, "book-01-booked")
    rows = engine.store.rows("SELECT * FROM appointments WHERE code IN (?, ?)", codes)
    assert {r["slot_start"][11:16] for r in rows} == {"09:00"} and all(r["sms"] == 1 for r in rows)
    page.goto(f"/book?service=S101&day={tomorrow.isoformat()}")
    nine = page.locator("#b-slots label", has_text="09:00")
    expect(nine).to_contain_text("已约满")
    expect(nine.locator("input")).to_be_disabled()
    # Change by code and the phone's last 4 digits; wrong digits find nothing.
    page.goto("/book/manage")
    page.fill("#m-code", codes[0])
    page.fill("#m-phone", "9999")
    page.click("#m-find")
    expect(page.locator("#m-error")).to_have_text("未找到该预约，请核对预约码和手机尾号")
    page.fill("#m-phone", "2222")
    page.click("#m-find")
    expect(page.locator("#m-appointment")).to_contain_text("09:00")
    page.locator("#m-slots label", has_text="10:30").locator("input").check()
    page.click("#m-move")
    expect(page.locator("#book-done h1")).to_have_text("改约成功")
    expect(page.locator("#d-when")).to_contain_text("10:30")
    assert engine.store.rows("SELECT slot_start FROM appointments WHERE code = ?", [codes[0]])[0]["slot_start"][11:16] == "10:30"
    page.goto(f"/book?service=S101&day={tomorrow.isoformat()}")
    expect(page.locator("#b-slots label", has_text="09:00")).to_contain_text("余 1")  # the moved one left room
    # Cancel.
    page.goto("/book/manage")
    page.fill("#m-code", codes[0])
    page.fill("#m-phone", "2222")
    page.click("#m-find")
    page.click("#m-cancel")
    expect(page.locator("#book-done h1")).to_have_text("预约已取消")
    assert engine.store.rows("SELECT state FROM appointments WHERE code = ?", [codes[0]])[0]["state"] == "cancelled"
    # A form posted without this session's CSRF token (another site's page) is refused and books nothing.
    before = engine.store.rows("SELECT COUNT(*) AS n FROM appointments")[0]["n"]
    answer = ctx.request.post("/book", form={"service": "S101", "day": tomorrow.isoformat(), "phone": "13855556666",
                                             "slot": f"{tomorrow.isoformat()}T11:00:00+08:00"})
    assert answer.status == 400
    assert engine.store.rows("SELECT COUNT(*) AS n FROM appointments")[0]["n"] == before
    ctx.close()


def test_the_ticket_page_link_stops_sms(hall, browser):  # noqa: F811
    base, app = hall
    engine = app.config["ENGINE"]
    ticket = engine.issue("S101", phone="13812345678", sms=True)
    plain = engine.issue("S101", phone="13812345679")
    ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, is_mobile=True)
    page = ctx.new_page()
    page.goto(f"/t/{plain.id}")
    expect(page.locator("#t-code")).to_have_text(plain.code)
    expect(page.locator("#sms-block")).to_have_count(0)  # no consent, no link
    page.goto(f"/t/{ticket.id}")
    expect(page.locator("#sms-note")).to_contain_text("138****5678")
    page.click("#sms-optout")
    expect(page.locator("#sms-note")).to_have_text("已退订，本号不再发送短信。")
    assert engine.ticket(ticket.id).sms is False
    assert all(t["code"] != ticket.code for t in engine.sms_watch())
    ctx.close()
