"""The configuration editor in headless Chromium against the app on the front: a change saved in the
browser applies with no restart (the next ticket and the kiosk's menu show it, a new window calls
at once), a bad value is shown at its field, an older version is restored, and only admins get in.

Screenshots go to test-artifacts/ like the other browser tests."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after test_browser's skip)
from test_browser import CHROMIUM, LAUNCH_ARGS, shot, signed_in  # noqa: F401  (skips without chromium)
from webhall import make_app

from hallq.client import ApiClient
from kiosk.app import KioskApp
from server.users import authenticate


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    from liveserver import serve_app

    app = make_app(tmp_path_factory.mktemp("admin") / "hall.db", all_day=True)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def admin(hall, browser):
    base, _ = hall
    ctx, page = signed_in(browser, base, "admin", viewport={"width": 1400, "height": 900})
    page.on("dialog", lambda d: d.accept(PROMPT["answer"]) if d.type == "prompt" else d.accept())
    page.goto("/admin/config")
    expect(page.locator("#version")).to_contain_text("当前第")
    yield page
    ctx.close()


PROMPT = {"answer": ""}  # what the admin types into the page's prompt() (a new password)


def save(page, note: str) -> None:
    page.fill("#note", note)
    page.click("#save")


def test_changed_materials_reach_the_next_ticket_and_the_kiosk(hall, admin):
    base, app = hall
    kiosk = KioskApp(ApiClient(base, "t-kiosk"), output=None, public_url=base)
    admin.click("#tab-services")
    card = admin.locator('details[data-path="services[0]"]')
    card.locator("summary").click()
    card.locator('textarea[data-path="services[0].materials"]').fill("居民身份证\n户口簿原件")
    save(admin, "S101 增加户口簿")
    expect(admin.locator("#message")).to_contain_text("立即生效")
    shot(admin, "20-admin-config-saved")
    ticket = ApiClient(base, "t-kiosk").post("/tickets", {"service": "S101"})
    citizen = admin.context.new_page()
    citizen.goto(f"/t/{ticket['id']}")
    expect(citizen.locator("#t-materials")).to_contain_text("户口簿原件")
    citizen.close()
    assert kiosk.refresh_menu()
    assert kiosk.menu.matter("S101")["materials"] == ["居民身份证", "户口簿原件"]


def test_a_new_window_with_a_skill_calls_that_matter_at_once(hall, admin):
    base, _ = hall
    waiting = ApiClient(base, "t-kiosk").post("/tickets", {"service": "S301"})
    admin.click("#tab-windows")
    admin.click('button[data-add="windows"]')
    card = admin.locator('details[data-path="windows[5]"]')
    card.locator('input[data-path="windows[5].number"]').fill("6")
    card.locator('input[data-path="windows[5].name"]').fill("不动产二号窗口")
    card.locator('select[data-path="windows[5].kind"]').select_option("domain")
    card.locator('select[data-path="windows[5].services.S301"]').select_option("primary")
    save(admin, "加开不动产窗口")
    expect(admin.locator("#message")).to_contain_text("立即生效")
    caller = ApiClient(base, "t-caller")
    caller.window(6, "login", staff="1006")
    assert caller.window(6, "call-next")["ticket"]["code"] == waiting["code"]
    caller.window(6, "finish")
    caller.window(6, "logout")  # a window in use cannot be removed: the restore below needs it free


def test_a_bad_value_gets_its_message_at_the_field(hall, admin):
    admin.click("#tab-services")
    card = admin.locator('details[data-path="services[1]"]')
    card.locator("summary").click()
    card.locator('input[data-path="services[1].minutes"]').fill("0")
    save(admin, "错误示例")
    field = card.locator('input[data-path="services[1].minutes"]')
    expect(field).to_have_class("bad")
    message = card.locator('label.row:has(input[data-path="services[1].minutes"]) small.err')
    expect(message).to_have_text("须大于 0")
    expect(admin.locator("#problems")).to_contain_text("services[1].minutes：must be more than 0")
    expect(admin.locator("#message")).to_contain_text("未保存")
    shot(admin, "21-admin-config-bad-value")


def test_restore_an_older_version(hall, admin):
    base, app = hall
    admin.click("#tab-versions")
    row = admin.locator('#versions tr[data-version="1"]')
    row.locator("button.restore").click()
    expect(admin.locator("#message")).to_contain_text("已恢复第 1 版")
    # drawn once, not once per render in flight (two tables would make this locator ambiguous)
    expect(admin.locator('#versions tr[data-version="1"]')).to_contain_text("启动时从配置文件载入")
    expect(admin.locator("#versions")).to_have_count(1)
    shot(admin, "22-admin-config-versions")
    assert app.config["ENGINE"].config.services["S101"].materials == ("居民身份证",)


def test_a_clerk_or_supervisor_gets_403(hall, browser):
    base, _ = hall
    for user in ("sup", "clerk1"):
        ctx, page = signed_in(browser, base, user)
        assert page.goto("/admin/config").status == 403
        answer = page.evaluate("""async () => {
            const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
            const r = await fetch('/api/v1/config', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify({hall: {}})});
            return r.status; }""")
        assert answer == 403
        ctx.close()
    request = urllib.request.Request(f"{base}/api/v1/config", headers={"Authorization": "Bearer t-sup"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403 and json.loads(err.value.read())["error"] == "forbidden"


def test_web_users_added_disabled_and_unlocked_from_the_page(hall, admin):
    base, app = hall
    guard = app.config["SIGNIN_GUARD"]
    for _ in range(5):
        guard.failed("clerk2", "127.0.0.1")
    admin.click("#tab-users")
    row = admin.locator('#users tr[data-user="clerk2"]')
    expect(row).to_contain_text("锁定中")
    row.locator("button.unlock").click()
    expect(admin.locator("#message")).to_have_text("已解锁 clerk2")
    assert guard.wait_minutes("clerk2", "") == 0
    admin.fill("#new-username", "c1005")
    admin.fill("#new-password", "c1005-pass")
    admin.select_option("#new-staff", "1005")
    admin.click("#add-user")
    expect(admin.locator('#users tr[data-user="c1005"]')).to_contain_text("窗口人员")
    PROMPT["answer"] = "c1005-new-pass"
    admin.locator('#users tr[data-user="c1005"] button.reset').click()
    expect(admin.locator("#message")).to_have_text("已重置 c1005 的密码，其登录已全部退出")
    store = app.config["ENGINE"].store
    assert authenticate(store, "c1005", "c1005-new-pass") and not authenticate(store, "c1005", "c1005-pass")
    admin.locator('#users tr[data-user="c1005"] button.toggle').click()
    expect(admin.locator('#users tr[data-user="c1005"]')).to_contain_text("已停用")
    assert not authenticate(store, "c1005", "c1005-new-pass")
    shot(admin, "23-admin-users")


def test_a_special_day_and_an_alert_threshold_with_their_units(hall, admin):
    base, app = hall
    admin.click("#tab-hall")
    admin.click('button[data-add="hours.special_days"]')
    day = admin.locator('details[data-path="hours.special_days[0]"]')
    day.locator('input[data-path="hours.special_days[0].date"]').fill("2026-12-31")
    day.locator('select[data-path="hours.special_days[0].kind"]').select_option("extended")
    day.locator('textarea[data-path="hours.special_days[0].sessions"]').fill("08:30-12:00\n14:30-19:00")
    admin.click('button[data-add="hours.special_days"]')
    saturday = admin.locator('details[data-path="hours.special_days[1]"]')
    saturday.locator('input[data-path="hours.special_days[1].date"]').fill("2027-02-20")
    saturday.locator('select[data-path="hours.special_days[1].kind"]').select_option(label="调休上班")
    admin.click("#tab-devices")
    admin.click('button[data-add="kiosks"]')
    kiosk = admin.locator(f'details[data-path="kiosks[{len(app.config["ENGINE"].config.kiosks)}]"]')
    path = kiosk.get_attribute("data-path")
    kiosk.locator(f'input[data-path="{path}.id"]').fill("K9")
    kiosk.locator(f'input[data-path="{path}.name"]').fill("二楼取号机")
    kiosk.locator("fieldset.optional legend input[type=checkbox]").first.check()
    kiosk = admin.locator(f'details[data-path="{path}"]')
    kiosk.locator(f'input[data-path="{path}.printer.url"]').fill("/dev/ttyUSB7")
    kiosk.locator(f'select[data-path="{path}.printer.paper_mm"]').select_option("58")
    admin.click("#tab-rules")
    expect(admin.locator("label.row", has_text="群众等候时长（分钟）")).to_be_visible()
    admin.locator('input[data-path="rules.alerts.wait_minutes[1]"]').fill("25")
    shot(admin, "24-admin-config-rules")
    save(admin, "元旦前延时服务")
    expect(admin.locator("#message")).to_contain_text("立即生效")
    config = app.config["ENGINE"].config
    special, saturday = config.hours.special_days
    assert (special.kind, special.sessions[-1].end.hour) == ("extended", 19)
    assert (saturday.kind, str(saturday.date)) == ("open", "2027-02-20")
    assert (config.kiosks["K9"].name, config.kiosks["K9"].printer.url, config.kiosks["K9"].printer.paper_mm) == \
        ("二楼取号机", "/dev/ttyUSB7", 58)
    assert config.rules.alerts["wait_minutes"].yellow == 25


def test_the_display_pictures_notice_and_per_matter_capacity_from_the_page(tmp_path, browser):
    """A director sets what a hall from a file shows and takes without TOML: the display's pictures
    are chosen from the media folder, the notice typed, a matter's online capacity set; every label
    is in Chinese (an optional field keeps its label, a choice its Chinese name)."""
    from liveserver import serve_app
    from PIL import Image
    from test_display_media import hall_file

    from hallq.config import load_config
    from server.app import create_app
    from server.users import add_user

    (tmp_path / "media").mkdir()
    for name in ("welcome.png", "guide.png"):
        Image.new("RGB", (40, 20), (0, 200, 0)).save(tmp_path / "media" / name)
    config = load_config(hall_file(tmp_path, '["welcome.png"]'))
    app = create_app(config, tmp_path / "hall.db", supervise=False)
    add_user(app.config["ENGINE"].store, config, "admin", "admin-pass", "admin")
    with serve_app(app) as base:
        ctx, page = signed_in(browser, base, "admin", viewport={"width": 1400, "height": 900})
        try:
            page.goto("/admin/config")
            expect(page.locator("#version")).to_contain_text("当前第")
            pictures = page.locator('[data-path="hall.media"]')
            expect(pictures.locator('input[value="welcome.png"]')).to_be_checked()
            pictures.locator('input[value="guide.png"]').check()
            page.fill('textarea[data-path="hall.notice"]', "今日下午三点后暂停不动产登记")
            page.click("#tab-more")
            page.fill('input[data-path="appointments.capacities.S101"]', "0")
            page.fill('input[data-path="sms.near_ahead"]', "5")
            page.click("#tab-rules")
            expect(page.locator('select[data-path="rules.rating_profile"] option[value="own"]')).to_have_text("本中心自定")
            page.click("#tab-windows")
            page.locator('details[data-path="windows[0]"] summary').click()
            expect(page.locator("label.row", has=page.locator('[data-path="windows[0].idle_text"]'))).to_contain_text(
                "条屏空闲文字")
            names = page.evaluate("[...document.querySelectorAll('#editor label.row .name')].map(n => n.textContent)")
            assert names and not [n for n in names if n.isascii()], names  # no bare key names
            page.fill("#note", "大屏图片、通知与网上预约")
            page.click("#save")
            expect(page.locator("#message")).to_contain_text("立即生效")
            shot(page, "25-admin-config-display")
            running = app.config["ENGINE"].config
            assert running.media == ("welcome.png", "guide.png")
            assert running.appointments.capacities == {"S101": 0} and running.sms.near_ahead == 5
            with urllib.request.urlopen(f"{base}/api/v1/services", timeout=10) as answer:
                hall = json.loads(answer.read())["hall"]
            assert hall["notice"] == "今日下午三点后暂停不动产登记"
            assert hall["media"] == ["/api/v1/media/welcome.png", "/api/v1/media/guide.png"]
        finally:
            ctx.close()


def test_a_picture_uploaded_from_the_editor_is_offered_chosen_and_shown(tmp_path, browser):
    """Issue #14 point 2: the director uploads a display picture from the browser (no file share):
    it is offered at once, chosen and saved it is on the display's list; a picture not shown can be
    deleted from the page."""
    import io

    from liveserver import serve_app
    from PIL import Image
    from test_display_media import hall_file

    from hallq.config import load_config
    from server.app import create_app
    from server.users import add_user

    (tmp_path / "media").mkdir()
    Image.new("RGB", (40, 20), (0, 200, 0)).save(tmp_path / "media" / "welcome.png")
    upload = io.BytesIO()
    Image.new("RGB", (1280, 720), (20, 60, 200)).save(upload, "JPEG")
    config = load_config(hall_file(tmp_path, '["welcome.png"]'))
    app = create_app(config, tmp_path / "hall.db", supervise=False)
    add_user(app.config["ENGINE"].store, config, "admin", "admin-pass", "admin")
    with serve_app(app) as base:
        ctx, page = signed_in(browser, base, "admin", viewport={"width": 1400, "height": 900})
        page.on("dialog", lambda d: d.accept())
        try:
            page.goto("/admin/config")
            pictures = page.locator('[data-path="hall.media"]')
            expect(pictures.locator('input[value="welcome.png"]')).to_be_checked()
            expect(pictures.locator('[data-delete="welcome.png"]')).to_have_count(0)  # on the display: kept
            page.set_input_files("#media-upload", files=[{"name": "大厅指引.jpg", "mimeType": "image/jpeg",
                                                          "buffer": upload.getvalue()}])
            expect(page.locator("#message")).to_contain_text("已上传")
            uploaded = pictures.locator('input[type="checkbox"]:not([value="welcome.png"])')
            expect(uploaded).to_have_count(1)
            name = uploaded.get_attribute("value")
            assert name.startswith("picture-") and name.endswith(".jpg"), name  # a Chinese name made ASCII
            assert (tmp_path / "media" / name).read_bytes() == upload.getvalue()
            uploaded.check()
            page.fill("#note", "上传大屏图片")
            page.click("#save")
            expect(page.locator("#message")).to_contain_text("立即生效")
            with urllib.request.urlopen(f"{base}/api/v1/services", timeout=10) as answer:
                hall = json.loads(answer.read())["hall"]
            assert hall["media"] == ["/api/v1/media/welcome.png", f"/api/v1/media/{name}"]
            with urllib.request.urlopen(f"{base}/api/v1/media/{name}", timeout=10) as answer:
                assert answer.read() == upload.getvalue()
            pictures.locator('input[value="welcome.png"]').uncheck()
            page.click("#save")
            expect(page.locator("#message")).to_contain_text("立即生效")
            pictures.locator('[data-delete="welcome.png"]').click()
            expect(page.locator("#message")).to_contain_text("已删除 welcome.png")
            assert not (tmp_path / "media" / "welcome.png").exists()
            shot(page, "26-admin-config-upload")
        finally:
            ctx.close()
