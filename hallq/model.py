"""The hall configuration as plain, frozen data.

Everything else (engine, caller daemon, kiosk, simulators) reads a hall through these classes,
never through raw TOML, so a config that loaded is a config that is valid. `hallq.config` builds
them from a file and reports every problem with the file, line and key path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

WEIGHTS = ("primary", "secondary", "backup")
WINDOW_KINDS = ("comprehensive", "domain", "complaint", "help")
CASE_KINDS = ("即办", "承诺")
ROLES = ("admin", "supervisor", "kiosk", "caller", "window", "display", "notifier")
BUS_KINDS = ("qb68", "ls-a0")


@dataclass(frozen=True)
class Session:
    """One opening period, e.g. 08:30–12:00."""

    start: time
    end: time


SPECIAL_DAY_KINDS = ("closed", "open", "extended", "staggered")  # 闭厅 | 调休上班 | 延时服务 | 错时服务


@dataclass(frozen=True)
class SpecialDay:
    """A day that differs from the usual week: closed (a holiday), open (调休 make-up working day),
    延时服务 (extended hours) or 错时服务 (staggered hours, e.g. a weekend or lunch service).
    `sessions` None: the usual sessions."""

    date: date
    kind: str
    sessions: tuple[Session, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class Hours:
    sessions: tuple[Session, ...]
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays the hall opens
    lunch_windows: tuple[int, ...] = ()  # windows that keep serving at lunch (午间服务)
    # Closing rule: citizens holding a ticket at closing are still served (延时服务);
    # only issuing new tickets stops, `stop_issuing_minutes` before the last session ends.
    stop_issuing_minutes: int = 0
    special_days: tuple[SpecialDay, ...] = ()
    official_holidays: bool = False  # closed on 法定节假日, open on 调休 working days (chinese-calendar)


@dataclass(frozen=True)
class Service:
    """A matter (事项) citizens queue for."""

    code: str  # "S301"
    name: str  # "社会保障卡申领"
    category: str  # kiosk's first level, e.g. "社保医保"
    department: str  # "人社"
    prefix: str  # ticket prefix, e.g. "A"
    case_kind: str = "即办"  # 即办 | 承诺
    promised_days: int = 0  # committed working days for 承诺件
    minutes: float = 10.0  # expected service minutes
    materials: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bundle:
    """A "一件事" bundle: one ticket that walks through several services in order."""

    code: str  # "B01"
    name: str
    category: str
    prefix: str
    steps: tuple[str, ...]  # service codes, in order


@dataclass(frozen=True)
class DeviceRef:
    bus: str  # name of a [[buses]] entry
    address: int


@dataclass(frozen=True)
class Window:
    number: int
    name: str
    kind: str  # comprehensive | domain | complaint | help
    services: dict[str, str]  # service code -> weight (primary | secondary | backup)
    department: str = ""
    keypad: DeviceRef | None = None
    evaluator: DeviceRef | None = None
    strip: DeviceRef | None = None
    idle_text: str = ""  # LED strip text when free, e.g. "3号窗口 社保医保"


@dataclass(frozen=True)
class Bus:
    """An RS-485 line, opened by pyserial URL (/dev/ttyUSB0, socket://host:port, loop://)."""

    name: str
    kind: str  # qb68 | ls-a0
    port: str
    baudrate: int = 9600


@dataclass(frozen=True)
class Printer:
    url: str  # pyserial URL, /dev/usb/lp0, tcp://host:9100, or file path
    profile: str = "default"
    paper_mm: int = 80
    baudrate: int = 115200
    native_qr: bool = True
    cutter: bool = True


@dataclass(frozen=True)
class IdReader:
    """The kiosk's ID card reader (SAM module, datasheet id-card-reader-sam): a pyserial URL."""

    url: str
    baudrate: int = 115200  # some modules are set to 9600


@dataclass(frozen=True)
class Kiosk:
    id: str
    name: str
    printer: Printer | None = None
    id_reader: IdReader | None = None


@dataclass(frozen=True)
class PriorityClass:
    """A priority class; lower rank is served first. Rank 0 is 绿色通道."""

    code: str  # "green", "appointment", "normal"
    name: str
    rank: int


@dataclass(frozen=True)
class Appointments:
    slot_minutes: int = 30
    checkin_before_minutes: int = 60
    checkin_after_minutes: int = 20
    # The booking page (/book): how many days ahead a citizen may book (1 = tomorrow), and how many
    # appointments one slot takes per matter; `capacities` sets it per matter (0: not bookable online).
    days_ahead: int = 7
    slot_capacity: int = 2
    capacities: dict[str, int] = field(default_factory=dict)

    def capacity(self, matter: str) -> int:
        return self.capacities.get(matter, self.slot_capacity)


DEFAULT_NEAR_TEXT = "您的 {code} 号前面还有 {ahead} 人，请回到大厅等候"
DEFAULT_CALL_TEXT = "请 {code} 号到 {window} 号窗口办理"
DEFAULT_REMINDER_TEXT = "您已预约{date} {time}的{service}，预约码{appointment}，请按时到大厅取号机签到。回复TD退订"
DEFAULT_HTTP_BODY = '{"mobile": "{phone}", "content": "{text}"}'


@dataclass(frozen=True)
class Sms:
    """SMS to citizens who gave a phone number and agreed (notifier/, `hallq notify`): 即将到号 when
    `near_ahead` people remain ahead, the call itself, and the reminder the day before an appointment
    (sent from `reminder_hour`). Through a CMPP 2.0 gateway or an HTTP SMS platform; the CMPP shared
    secret comes from the environment (HALLQ_CMPP_SECRET) when set there."""

    enabled: bool = False
    near_ahead: int = 3
    near_text: str = DEFAULT_NEAR_TEXT
    call_text: str = DEFAULT_CALL_TEXT
    reminder_text: str = DEFAULT_REMINDER_TEXT
    reminder_hour: int = 16
    gateway: str = "cmpp"  # cmpp | http
    cmpp_host: str = "127.0.0.1"
    cmpp_port: int = 7890
    cmpp_sp_id: str = ""
    cmpp_secret: str = ""
    cmpp_src_id: str = ""
    cmpp_service_id: str = ""
    http_url: str = ""
    http_body: str = DEFAULT_HTTP_BODY
    http_ok_field: str = "code"
    http_ok_value: str = "0"


@dataclass(frozen=True)
class AlertLevels:
    """Thresholds in minutes (or days, for deadlines) for warning, yellow card, red card."""

    warning: float
    yellow: float
    red: float


@dataclass(frozen=True)
class Rules:
    number_width: int = 3
    timezone: str = "Asia/Shanghai"
    recall_limit: int = 2  # recalls allowed; one more recall makes the ticket a no-show (过号)
    # Allocation: head starts in minutes added to a ticket's wait by window weight.
    secondary_penalty_minutes: float = 5.0
    # 办不成事/帮办代办 windows help other lines only with tickets waiting this long (0: at once,
    # when none of their own citizens waits); no other window waits to help.
    backup_after_minutes: float = 0.0
    starvation_minutes: float = 60.0  # any ticket waiting this long goes to the front
    elderly_age: int = 60
    rating_prompt_seconds: int = 30
    supplementary_rating_days: int = 7  # 补充评价 window after the service
    callback_working_days: int = 1  # 差评 call-back deadline
    fix_working_days: int = 15  # 差评 rectification deadline
    # 好差评 province profile (hallq/rating_profiles.py); "own" takes the keys above and below.
    rating_profile: str = "own"
    follow_up_ratings: int = 1  # 追评: times the citizen may rate how a 差评 was handled ("own")
    default_rating_days: int = 0  # "own": unrated this many natural days -> 基本满意 (0: never)
    help_queue_length: int = 10  # 跨窗通办 threshold (people waiting for one window)
    service_level_minutes: int = 15  # reports: the share of citizens called within this wait (服务水平)
    # 空岗 is counted from opening, but never from before the server ran: clerks could not sign in
    # then. After a (re)start windows get this many minutes to sign in before the count begins.
    unstaffed_grace_minutes: int = 10
    alerts: dict[str, AlertLevels] = field(default_factory=dict)


@dataclass(frozen=True)
class SignInSessions:
    """How long a web sign-in may sit unused before it ends, per user role (whole minutes). A page
    with a live event stream (the supervisor board, the clerk's page) counts as use, so a board left
    open all day stays signed in; every sign-in ends 12 hours after it began in any case.

    Defaults: admin 15 (the most powerful role, a read-only page without a stream: 等保 2.0 asks for
    a short session timeout), supervisor and clerk 30 (cases and reports pages are worked through
    in one sitting; their live pages keep themselves alive)."""

    admin_idle_minutes: int = 15
    supervisor_idle_minutes: int = 30
    clerk_idle_minutes: int = 30

    def idle_minutes(self, role: str) -> int:
        return {"admin": self.admin_idle_minutes, "supervisor": self.supervisor_idle_minutes,
                "clerk": self.clerk_idle_minutes}[role]


@dataclass(frozen=True)
class Staff:
    number: str  # ASCII digits, 1–8, as typed on the keypad
    name: str
    department: str = ""
    active: bool = True  # 停用 (left, on leave): no sign-in at a window; kept so history keeps the name


@dataclass(frozen=True)
class Token:
    name: str
    role: str  # admin | supervisor | kiosk | caller | window | display
    token: str
    window: int | None = None  # for role "window": the only window it may act on
    kiosk: str | None = None  # for role "kiosk": which kiosk uses it (alerts name their source)


@dataclass(frozen=True)
class CountyLink:
    """Where this hall ships its event log (`[county]`): the county server's base URL and the hall's
    token there (`hallq county hall add` prints it). The hall serves citizens whether it answers or not."""

    url: str  # "http://10.1.0.2:8090"
    token: str
    cases: str = "hall"  # who keeps the 差评 cases: "hall" (the county reads) or "county" (the hall reads)


@dataclass(frozen=True)
class ProvinceLink:
    """Where this hall forwards its 好差评 record (`[province]`, province/forwarder.py, run as a thread
    of `hallq serve`): the provincial platform's base URL, the hall's token there, the field mapping
    of that province's interface (a TOML file, docs/province.md; "" for the national shape), how often
    new records are looked for and the longest wait between retries while the platform is away."""

    url: str
    token: str
    mapping: str = ""  # path as written in the config (relative to the config file's folder)
    poll_seconds: int = 2
    max_backoff_seconds: int = 600


DEFAULT_WAITING_AREA = "请在候号区就座，留意叫号屏和语音叫号"
DEFAULT_NO_SHOW_RULE = "叫号 {calls} 次未到按过号处理，过号后请重新取号"


@dataclass(frozen=True)
class HallConfig:
    code: str
    name: str
    hours: Hours
    services: dict[str, Service]
    bundles: dict[str, Bundle]
    windows: dict[int, Window]
    priorities: dict[str, PriorityClass]
    appointments: Appointments
    rules: Rules
    buses: dict[str, Bus]
    kiosks: dict[str, Kiosk]
    staff: dict[str, Staff]
    tokens: tuple[Token, ...]
    hotline: str = "12345"
    notice: str = ""  # hall display's scrolling line
    media: tuple[str, ...] = ()  # pictures the hall display shows in turn: files in media/ beside the config
    media_seconds: int = 15  # how long each picture stays
    # Ratings, case steps and events are kept this long, then purged (`hallq audit purge`); 网络安全法 art. 21: ≥ 6.
    records_retention_months: int = 12
    source: str = ""  # file it came from
    sessions: SignInSessions = field(default_factory=SignInSessions)  # web sign-in idle limits
    # What the printed ticket says and where its QR code points (hall.public_url, hall.waiting_area,
    # hall.no_show_rule); the kiosk refuses a loopback public URL (no citizen's phone reaches it).
    public_url: str = ""
    waiting_area: str = DEFAULT_WAITING_AREA
    no_show_rule: str = DEFAULT_NO_SHOW_RULE
    county: CountyLink | None = None  # [county]: ship the event log there (server/shipper.py)
    province: ProvinceLink | None = None  # [province]: forward the 好差评 record there (province/forwarder.py)
    sms: Sms = field(default_factory=Sms)

    def matter(self, code: str) -> Service | Bundle | None:
        """A service or a bundle by code: what a citizen can take a ticket for."""
        return self.services.get(code) or self.bundles.get(code)

    def materials(self, code: str) -> tuple[str, ...]:
        """一次告知 for a matter: a service's materials; for a "一件事" bundle every step's, in step
        order, each once (the citizen brings the papers for the whole bundle in one go)."""
        item = self.matter(code)
        if isinstance(item, Bundle):
            return tuple(dict.fromkeys(m for step in item.steps for m in self.services[step].materials))
        return item.materials if item is not None else ()

    def no_show_text(self) -> str:
        """The 过号 rule as printed on tickets, with {calls} made the number of calls before 过号."""
        return self.no_show_rule.replace("{calls}", str(self.rules.recall_limit + 1))

    def windows_for(self, service: str) -> list[Window]:
        return [w for w in self.windows.values() if service in w.services]

    def complaint_window(self) -> Window | None:
        return next((w for w in self.windows.values() if w.kind == "complaint"), None)
