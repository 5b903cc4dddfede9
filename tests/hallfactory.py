"""A small hall built in code, so engine tests do not depend on the shipped TOML files."""

from __future__ import annotations

from datetime import time

from hallq.model import (
    Appointments,
    Bundle,
    HallConfig,
    Hours,
    PriorityClass,
    Rules,
    Service,
    Session,
    Staff,
    Token,
    Window,
)


def small_hall(all_day: bool = False, **rules) -> HallConfig:
    """`all_day`: open round the clock, for tests that run on the wall clock."""
    services = {
        "S101": Service("S101", "社会保障卡申领", "社保医保", "人社", "A", minutes=8, materials=("居民身份证",)),
        "S102": Service("S102", "医保异地就医备案", "社保医保", "医保", "A", minutes=6),
        "S201": Service("S201", "企业设立登记", "企业开办", "市场监管", "B", "承诺", 3, minutes=20),
        "S202": Service("S202", "税务登记", "企业开办", "税务", "B", minutes=10),
        "S301": Service("S301", "不动产登记", "不动产", "不动产", "C", "承诺", 5, minutes=15),
        "S999": Service("S999", "办不成事反映", "综合", "督查", "Z", minutes=10),
    }
    all_backup = {code: "backup" for code in services}
    windows = {
        1: Window(1, "综合窗口1", "comprehensive", {"S101": "primary", "S102": "primary", "S201": "secondary"}),
        2: Window(2, "综合窗口2", "comprehensive", {"S101": "primary", "S102": "secondary", "S202": "primary"}),
        3: Window(3, "企业开办窗口", "domain", {"S201": "primary", "S202": "primary", "S101": "backup"}),
        4: Window(4, "不动产窗口", "domain", {"S301": "primary"}),
        5: Window(5, "办不成事反映窗口", "complaint", {**all_backup, "S999": "primary"}),
    }
    priorities = {
        "green": PriorityClass("green", "绿色通道", 0),
        "appointment": PriorityClass("appointment", "预约", 1),
        "normal": PriorityClass("normal", "普通", 2),
    }
    staff = {n: Staff(n, name) for n, name in [("1001", "张晓梅"), ("1002", "李建国"), ("1003", "王芳"),
                                                ("1004", "赵磊"), ("1005", "陈静"), ("1006", "刘洋")]}
    return HallConfig(
        code="TEST", name="测试县政务服务中心",
        hours=Hours((Session(time(8, 30), time(12, 0)), Session(time(14, 30), time(17, 30)))) if not all_day
        else Hours((Session(time(0, 0), time(23, 59)),), weekdays=(1, 2, 3, 4, 5, 6, 7)),
        services=services,
        bundles={"B01": Bundle("B01", "开办企业一件事", "一件事", "Y", ("S201", "S202"))},
        windows=windows, priorities=priorities, appointments=Appointments(), rules=Rules(**rules),
        buses={}, kiosks={}, staff=staff,
        tokens=(Token("kiosk", "kiosk", "t-kiosk"), Token("caller", "caller", "t-caller"),
                Token("admin", "admin", "t-admin"), Token("w3", "window", "t-w3", window=3),
                Token("sup", "supervisor", "t-sup"), Token("display", "display", "t-display")),
    )
