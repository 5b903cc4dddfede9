"""The one declaration of a hall's configuration and of the API's request bodies (pydantic v2).

The hall models follow the TOML file's shape (`[[services]]`, `[[windows]]` …): every key with its
type, default, range, Chinese label (`title`) and unit. From these come the TOML check
(hallq/config.py turns pydantic's errors into `file:line: key: message`), the JSON schema the admin
forms are drawn from, and the OpenAPI document (server/openapi.py). Checks that span several keys
(references, duplicates, device addresses per bus) are in hallq/config.py, which also builds the
engine's frozen dataclasses (hallq/model.py) from a checked file.

Defaults are the engine model's (`Rules.recall_limit` …), so they too are written once.

Adding a config key to an existing table: the field with its default in the dataclass of
hallq/model.py (for [hall]: HallConfig), then one line here in the matching section, e.g.
    help_queue_length: int = num(Rules.help_queue_length, 1, 1000, "跨窗通办阈值", "人")
hallq/config.py copies every field of the same name into the dataclass, hallq/hall_document.py
writes it back for the live configuration, and the admin form shows it with its label and unit.
A number also needs its line in tests/test_config.py (MODEL_NUMBERS, OUT_OF_RANGE). A check that
spans keys is a method of hallq/config.py `_Checks`. A new alert threshold is one `levels(...)`
line in AlertsSection. A whole new table: a Section class, its field in HallFile, and one line
each in hallq/config.py `_build` and hallq/hall_document.py `document_of`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from hallq.model import (
    ROLES,
    Appointments,
    Bus,
    HallConfig,
    Hours,
    IdReader,
    Printer,
    ProvinceLink,
    Rules,
    Service,
    SignInSessions,
    Sms,
    Staff,
)
from hallq.rating_profiles import PROFILE_LABELS, PROFILE_NAMES

# --------------------------------------------------------------------------- building blocks


def problem(message: str) -> PydanticCustomError:
    """A refusal whose message is shown as it is (hallq/config.py and the API keep it verbatim)."""
    return PydanticCustomError("hallq", message)  # no context: braces in it stay as written


def _control_character(text: str, allowed: str = "") -> str | None:
    return next((c for c in text if unicodedata.category(c) == "Cc" and c not in allowed), None)


def _one_line(text: str) -> str:
    char = _control_character(text)
    if char:
        raise problem(f"contains the control character U+{ord(char):04X}; write one line of printable text")
    return text


def _free_text(text: str) -> str:
    char = _control_character(text, "\t\r\n")
    if char:
        raise problem(f"contains the control character U+{ord(char):04X}; write one line of printable text")
    return text


def _not_empty(text: str) -> str:
    if not text.strip():
        raise problem("must not be empty")
    return text


def gbk_trouble(text: str) -> str | None:
    """Strips and ticket printers only know GBK; a rare character would be dropped or print as ?."""
    try:
        text.encode("gbk")
    except UnicodeEncodeError as exc:
        return f"character {text[exc.start]!r} is not in GBK (LED strips and printers cannot show it)"
    return None


def _printable(text: str) -> str:
    trouble = gbk_trouble(text)
    if trouble:
        raise problem(trouble)
    return text


Line = Annotated[str, AfterValidator(_one_line)]  # one line of printable text, may be empty
Text = Annotated[str, AfterValidator(_one_line), AfterValidator(_not_empty)]  # required one-line text
Printed = Annotated[str, AfterValidator(_one_line), AfterValidator(_not_empty), AfterValidator(_printable)]
FreeText = Annotated[str, AfterValidator(_free_text)]


def num(default: Any, low: float, high: float | None, label: str, unit: str = "", *, more_than: bool = False,
        **extra: Any) -> Any:
    """A number with its range, label and unit (the admin form shows "标签（单位）")."""
    bounds = {"gt": low} if more_than else {"ge": low}
    if high is not None:
        bounds["le"] = high
    return Field(default, title=label, json_schema_extra={"unit": unit, **extra}, **bounds)


def text(default: Any, label: str, pattern: str | None = None, means: str = "", **extra: Any) -> Any:
    """A string with its label; `pattern` with what it means in words ("1 to 8 ASCII digits")."""
    schema_extra = {"means": means, **extra} if means else extra
    return Field(default, title=label, pattern=pattern, json_schema_extra=schema_extra or None)


MEDIA_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(png|jpg|jpeg)$"  # a display picture's file name in media/


class Section(BaseModel):
    """A TOML table: unknown keys are refused, nothing is coerced (true is not 1, "5" is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _time_pair(value: Any) -> tuple[time, time]:
    times = [parse_time(v) for v in value] if isinstance(value, list | tuple) and len(value) == 2 else None
    if not times or None in times:
        raise problem('must be a pair of times like ["08:30", "12:00"] (HH:MM)')
    return times[0], times[1]


def parse_time(value: object) -> time | None:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        return time(int(value[:2]), int(value[3:]))
    return None


TIME_PAIR_SCHEMA = {"type": "array", "minItems": 2, "maxItems": 2,
                    "items": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}}
TimePair = Annotated[tuple[time, time], BeforeValidator(_time_pair), WithJsonSchema(TIME_PAIR_SCHEMA)]

# --------------------------------------------------------------------------- the hall


def _public_url(url: str) -> str:
    if url and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[!-~]*)?", url):
        raise problem(f"{url!r} is not an http:// or https:// address that citizens' phones can open "
                      '(e.g. "https://zwfw.example.gov.cn")')
    return url.rstrip("/")


def _no_show_rule(rule: str) -> str:
    rest = rule.replace("{calls}", "")
    if "{" in rest or "}" in rest:
        raise problem("the only placeholder is {calls} (calls before 过号: rules.recall_limit + 1)")
    return rule


class HallSection(Section):
    code: Text = text(..., "中心编码")
    name: Text = text(..., "中心名称")
    hotline: Line = text("12345", "服务热线")
    notice: FreeText = text("", "大屏滚动通知", multiline=True)
    media: list[Annotated[str, Field(pattern=MEDIA_NAME)]] = Field(
        [], title="大屏轮播图片（配置文件旁 media 文件夹中的 PNG/JPEG 文件，按轮播次序）",
        json_schema_extra={"files": "/api/v1/config/media"})  # the editor offers the folder's pictures
    media_seconds: int = num(HallConfig.media_seconds, 3, 600, "每张图片显示", "秒")
    records_retention_months: int = num(HallConfig.records_retention_months, 6, 120, "评价与日志保存期（网络安全法不少于6个月）", "月")
    # What every ticket prints and where its QR code points (a citizen's phone must reach it).
    public_url: Annotated[str, AfterValidator(_public_url)] = text(HallConfig.public_url, "公网地址（号票二维码）")
    waiting_area: Annotated[str, AfterValidator(_one_line), AfterValidator(_printable)] = text(
        HallConfig.waiting_area, "号票上的候号提示")
    no_show_rule: Annotated[str, AfterValidator(_one_line), AfterValidator(_printable),
                            AfterValidator(_no_show_rule)] = text(HallConfig.no_show_rule, "号票上的过号规则（{calls} 为叫号次数）")


def _date_text(value: Any) -> Any:
    """A TOML date (date = 2026-10-08) reads like the string "2026-10-08"."""
    from datetime import date

    return value.isoformat() if isinstance(value, date) else value


def _real_date(value: str) -> str:
    from datetime import date

    try:
        date.fromisoformat(value)
    except ValueError:
        raise problem(f"{value!r} is not a date like 2026-10-08 (YYYY-MM-DD)") from None
    return value


class SpecialDaySection(Section):
    date: Annotated[str, BeforeValidator(_date_text), AfterValidator(_real_date)] = text(
        ..., "日期（YYYY-MM-DD）", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                                           "a date like 2026-10-08 (YYYY-MM-DD)")
    kind: Literal["closed", "open", "extended", "staggered"] = Field(
        ..., title="类型（闭厅 / 调休上班 / 延时服务 / 错时服务）")
    sessions: list[TimePair] | None = Field(None, title="当日开放时段（不填为平日时段）")
    note: Line = text("", "说明（如：国庆调休）")


class HoursSection(Section):
    sessions: list[TimePair] = Field(..., min_length=1, title="开放时段")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(list(Hours.weekdays), min_length=1,
                                                              title="开放日（1=周一 … 7=周日）")
    lunch_windows: list[int] = Field([], title="午间服务窗口")
    # Its upper bound is the last session's length, checked in hallq/config.py.
    stop_issuing_minutes: int = num(Hours.stop_issuing_minutes, 0, None, "闭厅前停止取号", "分钟")
    official_holidays: bool = Field(Hours.official_holidays, title="法定节假日闭厅、调休日开放（按国家日历）")
    special_days: list[SpecialDaySection] = Field([], title="特殊日期（节假日、调休、延时服务、错时服务）")


class ServiceSection(Section):
    code: Text = text(..., "事项编码", r"^[A-Z][0-9A-Z]{1,7}$", "a code like S301 (A-Z, 0-9)")
    name: Printed = text(..., "事项名称")
    category: Text = text(..., "取号分类")
    department: Text = text(..., "部门")
    prefix: Text = text(..., "号码字头", r"^[A-Z]{1,2}$", "one or two letters A-Z")
    case_kind: Literal["即办", "承诺"] = Field(Service.case_kind, title="办件类型")
    promised_days: int = num(Service.promised_days, 0, 365, "承诺办结时限", "工作日")
    minutes: float = num(Service.minutes, 0, 480, "预计办理时长", "分钟", more_than=True)
    materials: list[Printed] = Field([], title="所需材料（一次性告知）")


class BundleSection(Section):
    code: Text = text(..., "一件事编码", r"^[A-Z][0-9A-Z]{1,7}$", "a code like S301 (A-Z, 0-9)")
    name: Printed = text(..., "一件事名称")
    category: Text = text(..., "取号分类")
    prefix: Text = text(..., "号码字头", r"^[A-Z]{1,2}$", "one or two letters A-Z")
    steps: list[str] = Field(..., title="办理环节（事项编码，按顺序）")


class BusSection(Section):
    name: Text = text(..., "总线名称")
    kind: Literal["qb68", "ls-a0"] = Field(..., title="总线类型")
    port: Text = text(..., "串口（pyserial URL）")
    baudrate: int = num(Bus.baudrate, 300, 921600, "波特率", "bit/s")


# Window devices: the bus kind they need and their address range (datasheets, section 1).
DEVICES = {"keypad": ("qb68", 0x01, 0x7E), "evaluator": ("qb68", 0x81, 0xFE), "strip": ("ls-a0", 0x01, 0xFE)}


class KeypadRef(Section):
    bus: Text = text(..., "总线")
    address: int = num(..., 0x01, 0x7E, "呼叫器地址")


class EvaluatorRef(Section):
    bus: Text = text(..., "总线")
    address: int = num(..., 0x81, 0xFE, "评价器地址")


class StripRef(Section):
    bus: Text = text(..., "总线")
    address: int = num(..., 0x01, 0xFE, "条屏地址")


class WindowSection(Section):
    # Not tied to the keypad's address (normally equal, not necessarily): a hall of 200 windows puts
    # its keypads on two QB-68 lines. 999 is the largest number the voice reads as a number.
    number: int = num(..., 1, 999, "窗口号")
    name: Printed = text(..., "窗口名称")
    kind: Literal["comprehensive", "domain", "complaint", "help"] = Field(
        ..., title="窗口类型（综合/分领域/办不成事反映/帮办代办）")
    department: Line = text("", "部门")
    idle_text: Line | None = text(None, "条屏空闲文字（GBK 64 字节以内）")
    services: dict[str, Literal["primary", "secondary", "backup"]] = Field({}, title="可办事项及权重（主办/兼办/后备）")
    keypad: KeypadRef | None = None
    evaluator: EvaluatorRef | None = None
    strip: StripRef | None = None


class PrinterSection(Section):
    url: Text = text(..., "打印机地址")
    profile: Line = text(Printer.profile, "打印机型号配置")
    paper_mm: Literal[58, 80] = Field(Printer.paper_mm, title="纸宽（毫米）")
    baudrate: int = num(Printer.baudrate, 300, 921600, "波特率", "bit/s")
    native_qr: bool = Field(Printer.native_qr, title="打印机自带二维码")
    cutter: bool = Field(Printer.cutter, title="自动切纸")


class IdReaderSection(Section):
    url: Text = text(..., "身份证阅读器地址")
    baudrate: Literal[9600, 115200] = Field(IdReader.baudrate, title="波特率（SAM 模块的设置）")


class KioskSection(Section):
    id: Text = text(..., "取号机编号")
    name: Text = text(..., "取号机名称")
    printer: PrinterSection | None = None
    id_reader: IdReaderSection | None = None


class PrioritySection(Section):
    code: Text = text(..., "优先级编码")
    name: Text = text(..., "名称")
    rank: int = num(..., 0, 99, "次序（小者优先）")


class AppointmentsSection(Section):
    slot_minutes: int = num(Appointments.slot_minutes, 5, 480, "预约时段长度", "分钟")
    checkin_before_minutes: int = num(Appointments.checkin_before_minutes, 0, 480, "可提前签到", "分钟")
    checkin_after_minutes: int = num(Appointments.checkin_after_minutes, 0, 240, "可迟到签到", "分钟")
    days_ahead: int = num(Appointments.days_ahead, 1, 90, "可提前预约", "天")
    slot_capacity: int = num(Appointments.slot_capacity, 0, 1000, "每时段每事项可约人数", "人")
    capacities: dict[str, Annotated[int, Field(ge=0, le=1000)]] = Field(
        {}, title="按事项的每时段可约人数（0：不可网上预约）", json_schema_extra={"unit": "人"})


_SMS_PLACEHOLDERS = {
    "near_text": ("code", "ahead", "service", "link"),
    "call_text": ("code", "window", "window_name", "service", "link"),
    "reminder_text": ("date", "time", "service", "appointment", "hall"),
}


def _template(names: tuple[str, ...]) -> Any:
    """An SMS text that may use only `names` as {placeholders}."""

    def check(value: str) -> str:
        import string

        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise problem(f"is not a valid template ({exc})") from None
        bad = next((f for f in fields if f not in names), None)
        if bad is not None:
            raise problem(f"unknown placeholder {{{bad}}}; it may use {', '.join('{' + n + '}' for n in names)}")
        return value

    return AfterValidator(check)


def _json_object(value: str) -> str:
    import json

    try:
        json.loads(value)
    except ValueError:
        raise problem('must be a JSON object, e.g. {"mobile": "{phone}", "content": "{text}"}') from None
    return value


def _cmpp_field(size: int) -> Any:
    return Field(pattern=rf"^[0-9A-Za-z]{{0,{size}}}$", description=f"at most {size} ASCII letters or digits (a CMPP field)")


class SmsSection(Section):
    enabled: bool = Field(Sms.enabled, title="发送短信")
    near_ahead: int = num(Sms.near_ahead, 1, 50, "前面还剩几人时发即将到号短信", "人")
    near_text: Annotated[Line, _template(_SMS_PLACEHOLDERS["near_text"])] = text(Sms.near_text, "即将到号短信")
    call_text: Annotated[Line, _template(_SMS_PLACEHOLDERS["call_text"])] = text(Sms.call_text, "叫号短信")
    reminder_text: Annotated[Line, _template(_SMS_PLACEHOLDERS["reminder_text"])] = text(
        Sms.reminder_text, "预约前一天提醒短信")
    reminder_hour: int = num(Sms.reminder_hour, 0, 23, "提醒短信发送时刻", "时")
    gateway: Literal["cmpp", "http"] = Field(Sms.gateway, title="短信网关（cmpp 或 http）")
    cmpp_host: Line = text(Sms.cmpp_host, "CMPP 网关地址")
    cmpp_port: int = num(Sms.cmpp_port, 1, 65535, "CMPP 网关端口")
    cmpp_sp_id: Annotated[str, _cmpp_field(6)] = text(Sms.cmpp_sp_id, "企业代码（SP_Id）")
    cmpp_secret: Line = text(Sms.cmpp_secret, "CMPP 共享密钥（宜用环境变量 HALLQ_CMPP_SECRET）", secret=True)
    cmpp_src_id: Annotated[str, _cmpp_field(21)] = text(Sms.cmpp_src_id, "短信源号码（Src_Id）")
    cmpp_service_id: Annotated[str, _cmpp_field(10)] = text(Sms.cmpp_service_id, "业务代码（Service_Id）")
    http_url: Line = text(Sms.http_url, "HTTP 短信平台地址")
    http_body: Annotated[Line, AfterValidator(_json_object)] = text(Sms.http_body, "HTTP 请求体模板（JSON）")
    http_ok_field: Line = text(Sms.http_ok_field, "成功标志字段")
    http_ok_value: Line = text(Sms.http_ok_value, "成功标志取值")


class SessionsSection(Section):
    admin_idle_minutes: int = num(SignInSessions.admin_idle_minutes, 1, 720, "管理员闲置自动退出", "分钟")
    supervisor_idle_minutes: int = num(SignInSessions.supervisor_idle_minutes, 1, 720, "值班长闲置自动退出", "分钟")
    clerk_idle_minutes: int = num(SignInSessions.clerk_idle_minutes, 1, 720, "窗口人员闲置自动退出", "分钟")


# Alert thresholds: [warning, yellow, red]. Minutes, except deadline_days: working days left, fewer is worse.
ALERT_MINUTES = (0, 1440)
ALERT_DAYS = (0, 365)
Levels = Annotated[list[float], Field(min_length=3, max_length=3)]


def levels(default: tuple[float, float, float], label: str, unit: str = "分钟") -> Any:
    low, high = ALERT_DAYS if unit == "工作日" else ALERT_MINUTES
    return Field(list(default), title=label, json_schema_extra={
        "unit": unit, "levels": ["预警", "黄牌", "红牌"], "minimum": low, "maximum": high,
        "order": "decreasing" if unit == "工作日" else "increasing"})


class AlertsSection(Section):
    wait_minutes: Levels = levels((15, 30, 45), "群众等候时长")
    service_minutes: Levels = levels((20, 30, 45), "单次办理时长")
    idle_with_waiting_minutes: Levels = levels((3, 5, 10), "有人等候时窗口空闲")
    paused_minutes: Levels = levels((15, 30, 60), "窗口暂停时长")
    unstaffed_minutes: Levels = levels((1, 5, 15), "开放时间窗口无人（空岗）")
    deadline_days: Levels = levels((1, 0, 0), "承诺件距办结时限剩余", "工作日")
    called_minutes: Levels = levels((3, 5, 10), "叫号后群众未到")


DEFAULT_ALERTS: dict[str, tuple[float, float, float]] = {
    name: tuple(field.default) for name, field in AlertsSection.model_fields.items()
}


def _known_zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise problem(f"unknown time zone {name!r} (e.g. Asia/Shanghai)") from None
    return name


class RulesSection(Section):
    number_width: int = num(Rules.number_width, 2, 5, "号码数字位数", "位")
    timezone: Annotated[str, AfterValidator(_known_zone)] = text(Rules.timezone, "时区")
    recall_limit: int = num(Rules.recall_limit, 0, 10, "重呼次数上限（再呼即过号）", "次")
    secondary_penalty_minutes: float = num(Rules.secondary_penalty_minutes, 0, 240, "兼办事项让先", "分钟")
    backup_after_minutes: float = num(Rules.backup_after_minutes, 0, 480, "后备窗口接手前等候", "分钟")
    starvation_minutes: float = num(Rules.starvation_minutes, 1, 1440, "等候超过即优先", "分钟")
    elderly_age: int = num(Rules.elderly_age, 50, 100, "老年人绿色通道年龄", "岁")
    rating_prompt_seconds: int = num(Rules.rating_prompt_seconds, 5, 600, "评价器等待评价", "秒")
    supplementary_rating_days: int = num(Rules.supplementary_rating_days, 1, 365, "补充评价期限", "天")
    callback_working_days: int = num(Rules.callback_working_days, 1, 30, "差评回访时限", "工作日")
    fix_working_days: int = num(Rules.fix_working_days, 1, 90, "差评整改时限", "工作日")
    rating_profile: Literal[PROFILE_NAMES] = Field(  # type: ignore[valid-type]
        Rules.rating_profile, title="好差评省份规则", json_schema_extra={"choices": PROFILE_LABELS})
    follow_up_ratings: int = num(Rules.follow_up_ratings, 0, 3, "追评次数（自定规则）", "次")
    default_rating_days: int = num(Rules.default_rating_days, 0, 30, "未评价视为基本满意（自定规则，0 不启用）", "天")
    help_queue_length: int = num(Rules.help_queue_length, 1, 1000, "跨窗通办阈值（单窗等候人数）", "人")
    service_level_minutes: int = num(Rules.service_level_minutes, 1, 240, "服务水平：在此时间内叫号", "分钟")
    unstaffed_grace_minutes: int = num(Rules.unstaffed_grace_minutes, 0, 240, "开门或服务器启动后签到宽限（之后计空岗）",
                                       "分钟")
    alerts: AlertsSection = Field(default_factory=AlertsSection, title="电子监察阈值")


class StaffSection(Section):
    number: Text = text(..., "工号", r"^[0-9]{1,8}$", "1 to 8 ASCII digits (typed on the keypad)")
    name: Text = text(..., "姓名")
    department: Line = text("", "部门")
    active: bool = Field(Staff.active, title="在岗（停用后不能在窗口签到，报表中的历史记录仍显示其姓名）")


class TokenSection(Section):
    name: Text = text(..., "令牌名称")
    role: Literal[ROLES] = Field(..., title="角色")  # type: ignore[valid-type]
    token: Line | None = text(None, "令牌", secret=True)
    token_env: Line | None = text(None, "令牌所在环境变量")
    window: int | None = Field(None, title="只可操作的窗口（role = window）")
    kiosk: str | None = Field(None, title="使用此令牌的取号机（role = kiosk）")


class CountySection(Section):
    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] = Field(
        ..., title="县级平台地址（http:// 或 https://）")
    token: Line | None = text(None, "本中心在县级平台的令牌", secret=True)
    token_env: Line | None = text(None, "令牌所在环境变量")
    cases: Literal["hall", "county"] = Field(
        "hall", title="差评件由谁办理（hall：本中心办理、县级督办；county：县级办理、本中心只读）")


class ProvinceSection(Section):
    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] = Field(
        ..., title="省好差评平台接口地址（http:// 或 https://）")
    token: Line | None = text(None, "本中心在省平台的令牌", secret=True)
    token_env: Line | None = text(None, "令牌所在环境变量")
    mapping: Line = text(ProvinceLink.mapping, "字段映射文件（TOML，相对本配置文件；空：国家标准字段）")
    poll_seconds: int = num(ProvinceLink.poll_seconds, 1, 3600, "检查新记录的间隔", "秒")
    max_backoff_seconds: int = num(ProvinceLink.max_backoff_seconds, 1, 86400, "平台不可用时最长重试间隔", "秒")


class HallFile(Section):
    """The whole hall, as written in its TOML file (and as the admin API takes it as JSON)."""

    hall: HallSection
    hours: HoursSection
    rules: RulesSection = Field(default_factory=RulesSection)
    appointments: AppointmentsSection = Field(default_factory=AppointmentsSection)
    sessions: SessionsSection = Field(default_factory=SessionsSection)
    priorities: list[PrioritySection] = []
    services: list[ServiceSection] = Field(..., min_length=1)
    bundles: list[BundleSection] = []
    buses: list[BusSection] = []
    windows: list[WindowSection] = Field(..., min_length=1)
    kiosks: list[KioskSection] = []
    staff: list[StaffSection] = []
    tokens: list[TokenSection] = []
    county: CountySection | None = None
    province: ProvinceSection | None = None
    sms: SmsSection = Field(default_factory=SmsSection)


def is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
