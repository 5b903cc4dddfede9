"""找回我的号 in a real browser (headless Chromium, as tests/test_browser.py): a phone whose ticket
page was closed gets it back by code and the phone's last 4 digits; wrong digits find nothing."""

from __future__ import annotations

from playwright.sync_api import expect
from test_browser import PHONE, browser, hall, shot  # noqa: F401  (fixtures; skips without Chromium)


def test_a_closed_ticket_page_is_found_again_by_code_and_phone_digits(hall, browser):  # noqa: F811
    base, app = hall
    ticket = app.config["ENGINE"].issue("S101", phone="13812345678")
    # A phone set to Asia/Urumqi at 00:30 of the hall's (Beijing's) day: its own date is still yesterday.
    ctx = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Urumqi", viewport=PHONE, is_mobile=True)
    hall_day = app.config["ENGINE"].now()
    ctx.clock.set_fixed_time(hall_day.replace(hour=0, minute=30, second=0, microsecond=0))
    page = ctx.new_page()
    page.goto("/t")
    page.fill("#f-code", ticket.code)
    page.fill("#f-phone", "1234")
    page.click("button[type=submit]")
    expect(page.locator("#f-error")).to_have_text("未找到该号码，请核对号码和手机尾号")
    page.fill("#f-phone", "5678")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/t/{ticket.id}")
    expect(page.locator("#t-code")).to_have_text(ticket.code)
    shot(page, "find-01-ticket-found")
    # The page remembers it on this phone: /t offers it again without typing, on the hall's day.
    page.goto("/t")
    expect(page.locator("#f-saved-link")).to_have_text(ticket.code)
    ctx.close()
