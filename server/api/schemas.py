"""Every JSON body the API takes and every one it answers, declared once (pydantic v2).

A route names its models once, in its @spec declaration (server/api/spec.py): `body.json_body()`
checks the request against the body model, server/openapi.py draws the document's schemas from
the same classes. Optional fields may also be sent as null (= not given), as clients
of hallq always could. Domain checks (is S301 a service of this hall, is the window staffed) stay in
the engine: these models say only what shape a request has.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hallq.schema import HallFile

from ..appeals import APPEAL_STATES
from ..body_limits import CONFIG_BYTES
from ..cases import CALLBACK_ANSWERS, CALLBACK_CONTACTS, CASE_STATES
from ..referrals import STATE_NAMES as REFERRAL_STATES
from ..tickets import OUTCOMES, PAUSE_REASONS, RATING_CHANNELS, RATING_REASONS
from ..users import USER_ROLES

KEY_PATTERN = "^[A-Za-z0-9_-]{8,64}$"


class Body(BaseModel):
    """A request body: unknown fields are refused by name, nothing is coerced ("3" is not 3)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoBody(Body):
    """Calls that take no fields (an empty body or {})."""


class TicketRequest(Body):
    service: str = Field(..., description="service or bundle code", examples=["S301"])
    priority: str | None = Field(None, description="a priority class of the hall")
    priority_reason: str | None = Field(None, examples=["elderly"])
    appointment: str | None = Field(None, description="appointment code to check in")
    phone: str | None = None
    channel: str | None = Field(None, description="default kiosk")
    id_number: str | None = Field(None, description="resident ID: sets 绿色通道 for the elderly; stored masked")
    name: str | None = None
    request_id: str | None = Field(None, pattern=KEY_PATTERN,
                                   description="the Idempotency-Key of older kiosks, in the body")
    sms: bool | None = Field(None, description="the citizen agreed to SMS at `phone` (即将到号 and the call); needs phone")


class AppointmentRequest(Body):
    service: str
    slot_start: str = Field(..., json_schema_extra={"format": "date-time"})
    phone: str
    id_number: str | None = Field(None, description="resident ID: its card checks the appointment in; stored masked")
    sms: bool | None = Field(None, description="the citizen agreed to SMS (the reminder the day before, then 即将到号 "
                                               "and the call)")


class ReferralRequest(Body):
    matter: str = Field(..., min_length=1, max_length=32, description="a matter code of the county catalogue")
    phone: str = Field(..., description="the citizen's mobile number (11 digits)")
    materials: list[Annotated[str, Field(max_length=100)]] = Field(
        [], max_length=50, description="the catalogue's materials the citizen has with them (ticked by the clerk)")
    sms: bool | None = Field(None, description="the citizen agreed to SMS about the appointment")
    id_number: str | None = Field(None, description="resident ID: the receiving hall's kiosk checks in by the card")


class RatingRequest(Body):
    grade: int = Field(..., ge=0, le=5)
    channel: Literal[RATING_CHANNELS]  # type: ignore[valid-type]
    window: int | None = None
    ticket: str | None = None
    reason: Literal[tuple(RATING_REASONS)] | None = None  # type: ignore[valid-type]
    comment: str | None = Field(None, max_length=500)
    tags: list[Literal[tuple(RATING_REASONS)]] | None = Field(  # type: ignore[valid-type]
        None, max_length=4, description="差评 option tags (GB/T 39734); bad ratings only")


class CaseNumber(Body):
    """The business system's 办件编号 for the service at a window (the current one, else the last)."""

    case_number: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-./:]+$")
    record: int | None = Field(None, description="the service record; default the window's current or last")


class AppealFiling(Body):
    """申诉复核: a window appeals a rating it believes false or malicious."""

    reason: str = Field(..., min_length=1, max_length=1000)
    evidence: str | None = Field(None, max_length=2000, description="what shows it (text)")
    evidence_ref: str | None = Field(None, max_length=300, description="a reference to a file kept elsewhere")


class AppealDecision(Body):
    note: str = Field(..., min_length=1, max_length=1000)


class AlertReport(Body):
    kind: str = Field(..., examples=["device_offline"])
    source: str = Field(..., examples=["strip:3"])
    level: Literal["warning", "yellow", "red"] | None = Field(None, description="default red")
    message: str | None = None
    active: bool
    window: int | None = None


class Note(Body):
    note: str


class CaseAction(Body):
    note: str
    owner: str | None = None
    contact: Literal[tuple(CALLBACK_CONTACTS)] | None = Field(  # type: ignore[valid-type]
        None, description="回访: how the citizen was reached")
    answer: Literal[tuple(CALLBACK_ANSWERS)] | None = Field(  # type: ignore[valid-type]
        None, description="回访: whether the citizen was satisfied")


class Phone(Body):
    phone: str


class FindTicket(Body):
    """找回我的号: today's ticket code and the last 4 digits of its phone."""

    code: str = Field(..., examples=["A023"])
    phone_last4: str = Field(..., pattern="^[0-9]{4}$")


class CitizenToday(Body):
    id_number: str = Field(..., description="resident ID from the card; matched by a keyed hash, never stored")


class AlertsAck(Body):
    """Many alerts, one note."""

    alerts: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(..., min_length=1, max_length=500)
    note: str = Field(..., min_length=1, max_length=500)


class FixRating(Body):
    grade: int = Field(..., ge=1, le=5)


STAFF = Field(..., pattern="^[0-9]{1,8}$", description="staff number (工号)")


class Login(Body):
    staff: str = STAFF


class CallBack(Body):
    code: str | None = Field(None, description="ticket code; default the oldest parked here", examples=["A023"])


class Call(Body):
    code: str = Field(..., description="ticket code", examples=["A023"])


class Transfer(Body):
    to_window: int | None = None
    to_service: str | None = Field(None, examples=["S301"])
    confirm_unstaffed: bool | None = Field(None, description="send the citizen to a window nobody is signed in at")


class Finish(Body):
    outcome: Literal[tuple(OUTCOMES)] | None = Field(  # type: ignore[valid-type]
        None, description=", ".join(f"{k}={v}" for k, v in OUTCOMES.items()))


class Pause(Body):
    reason: Literal[tuple(PAUSE_REASONS)] | None = None  # type: ignore[valid-type]


class ConfigChange(Body):
    """A new configuration of the whole hall, in the TOML file's shape, with a note for the audit."""

    hall: dict[str, Any] = Field(..., description="the hall, as hallq/schema.py HallFile")
    note: str | None = Field(None, max_length=500)
    based_on: int | None = Field(None, ge=1, description="the version this change was made from (409 if another "
                                                          "change came first)")


class UserAdd(Body):
    username: str = Field(..., pattern="^[A-Za-z0-9_.-]{2,32}$")
    password: str = Field(..., min_length=8, max_length=200)
    role: Literal["admin", "supervisor", "clerk"]
    staff: str | None = Field(None, description="a clerk's staff number (工号)")
    window: int | None = None


class Password(Body):
    password: str = Field(..., min_length=8, max_length=200)


class Active(Body):
    active: bool


class ConfigImport(Body):
    """A whole hall as the text of a TOML file (its tokens are not imported: they stay in the file)."""

    toml: str = Field(..., max_length=CONFIG_BYTES)  # the gated route's body limit (server/body_limits.py)
    note: str | None = Field(None, max_length=500)
    based_on: int | None = Field(None, ge=1)


class Restore(Body):
    note: str | None = Field(None, max_length=500)


# --------------------------------------------------------------------------- answers


class Error(BaseModel):
    error: str
    message: str
    field: str | None = None


class Position(BaseModel):
    """A waiting ticket's place and wait; each /services row carries the same estimate fields."""

    ahead: int | None = None
    estimated_wait_minutes: float | None = Field(None, description="point estimate")
    estimate_low: float | None = Field(None, description="80% range: low end, minutes")
    estimate_high: float | None = Field(None, description="80% range: high end, minutes")
    opens_at: str | None = Field(None, json_schema_extra={"format": "date-time"},
                                 description="the matter's windows are closed now and the first opens then")
    on_duty: bool | None = Field(None, description="false: no window for the matter is staffed")
    wait_text: str | None = Field(None, examples=["预计等候约 5–15 分钟"])
    wait_short: str | None = Field(None, examples=["约 5–15 分钟"])


class Answer(BaseModel):
    """An answer body: exactly these fields (the document says additionalProperties: false, so
    tests/test_api_fuzz.py catches a view that adds a field its model lacks)."""

    model_config = ConfigDict(extra="forbid")


DATE_TIME = {"format": "date-time"}


class Named(Answer):
    code: str
    name: str


class ServiceRef(Answer):
    code: str
    name: str
    department: str | None = None


class WindowRef(Answer):
    number: int
    name: str


class BundleStep(Answer):
    index: int = Field(..., description="the step the ticket is at, from 1")
    of: int
    steps: list[Named]


class RatingState(Answer):
    """Whether the citizen may still rate (补充评价) and until when."""

    can_rate: bool
    reason: Literal["not_served", "rated", "closed"] | None = None
    grade: int | None = None
    until: str | None = Field(None, json_schema_extra=DATE_TIME)
    service: str | None = Field(None, description="the service to rate")


class Ticket(Answer):
    """A ticket as server/views.py ticket_view gives it; id and page only to the kiosk that issued it
    and to the page the id opened (with the materials it was issued with, which the kiosk prints);
    rating only on the citizen's own page."""

    id: str | None = None
    page: str | None = None
    code: str
    state: Literal["waiting", "called", "serving", "parked", "finished", "no_show"]
    state_name: str
    service: ServiceRef
    matter: Named = Field(..., description="what was asked for, named as when it was issued")
    priority: str
    issued_at: str = Field(..., json_schema_extra=DATE_TIME)
    waiting_ahead: int | None = None
    estimated_wait_minutes: float | None = None
    window: WindowRef | None = None
    called_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    finished_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    outcome: str | None = None
    outcome_name: str | None = None
    phone: str | None = Field(None, description="masked")
    name: str | None = Field(None, description="masked")
    sms: bool
    step: BundleStep | None = None
    position: Position | None = None
    materials: list[str] | None = Field(None, description="as printed on the ticket (一次告知)")
    rating: RatingState | None = None


class Hall(Answer):
    """The hall as kiosks show it (server/views.py hall_view)."""

    code: str
    name: str
    hotline: str | None = None
    public_url: str | None = None
    waiting_area: str | None = None
    no_show_rule: str
    now: str = Field(..., json_schema_extra=DATE_TIME)
    clock_rate: float
    notice: str | None = None
    media: list[str]
    media_seconds: float


class MenuRow(Answer):
    """One matter (service or 一件事 bundle) of the menu, with its estimate (server/views.py menu_view)."""

    code: str
    name: str
    category: str | None = None
    prefix: str
    kind: Literal["service", "bundle"]
    waiting: int
    estimated_wait_minutes: float | None = None
    estimate_low: float | None = None
    estimate_high: float | None = None
    opens_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    on_duty: bool | None = None
    wait_text: str | None = None
    wait_short: str | None = None
    issuing: bool
    next_issuing: str | None = Field(None, json_schema_extra=DATE_TIME)
    steps: list[str] | None = None
    department: str | None = None
    case_kind: str | None = None
    promised_days: int | None = None
    materials: list[str]


class Menu(Answer):
    hall: Hall
    services: list[MenuRow]


class StaffRef(Answer):
    number: str
    name: str


class WindowCurrent(Answer):
    code: str
    state: str
    service: str
    service_name: str
    called_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    recalls: int


class QueuedTicket(Answer):
    code: str
    service: str
    service_name: str
    priority: str
    issued_at: str = Field(..., json_schema_extra=DATE_TIME)


class ParkedTicket(Answer):
    code: str
    service: str


class LastService(Answer):
    code: str
    rating_state: str | None = None
    ended_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    invitable: bool


class WindowView(Answer):
    """A window's state (server/views.py window_view); one window's own answer adds its queue."""

    number: int
    name: str
    kind: str
    department: str | None = None
    idle_text: str
    state: Literal["unstaffed", "paused", "idle", "waiting", "called", "serving", "parked", "finished", "no_show"]
    staff: StaffRef | None = None
    paused: bool
    pause_reason: str | None = None
    pause_reason_name: str | None = None
    since: str | None = Field(None, json_schema_extra=DATE_TIME)
    current: WindowCurrent | None = None
    services: dict[str, str] = Field(..., description="service code -> weight")
    evaluator: bool = Field(..., description="an evaluator (评价器) at the window: finish prompts it")
    waiting: int | None = None
    queue: list[QueuedTicket] | None = Field(None, description="GET /windows/{n}: in call order")
    parked: list[ParkedTicket] | None = None
    last_service: LastService | None = None


class Windows(Answer):
    windows: list[WindowView]


class Appointment(Answer):
    code: str
    service: str
    service_name: str | None = None
    slot_start: str = Field(..., json_schema_extra=DATE_TIME)
    state: str
    phone: str | None = Field(None, description="masked")
    id_number: str | None = Field(None, description="masked")


class Appointments(Answer):
    appointments: list[Appointment]


class CitizenTodayAnswer(Answer):
    tickets: list[Ticket]
    appointments: list[Appointment]


class Storage(BaseModel):
    state: str


class ProvinceState(Answer):
    """The provincial 好差评 platform link (server/province_link.py), with [province] only."""

    state: Literal["starting", "forwarding", "offline"]
    state_name: str
    outbox: int = Field(..., description="records waiting to be forwarded")
    rejected: int = Field(..., description="records the platform refused (kept with the reason)")
    last_success: str | None = Field(None, json_schema_extra=DATE_TIME)


class CountyLinkState(Answer):
    """The event log's link up to the county (server/county_link.py), with [county] only."""

    state: Literal["starting", "shipping", "caught_up", "offline", "refused", "diverged"]
    state_name: str
    unsent: int | None = Field(None, description="events the county does not hold yet (None: not known now)")
    last_contact: str | None = Field(None, json_schema_extra=DATE_TIME)
    diverged_after: int | None = Field(None, description="diverged: the county holds a different history of this "
                                       "hall's log from this event on (a database restored from a backup?); "
                                       "shipping is paused until the county rebases")
    common: int | None = Field(None, description="diverged: the last event the hall and the county share")


class Health(Answer):
    ok: bool
    hall: str
    time: str = Field(..., json_schema_extra=DATE_TIME)
    last_event_id: int | None = None
    storage: Storage
    province: ProvinceState | None = None
    county: CountyLinkState | None = None


class NearbyMatter(Answer):
    code: str
    name: str
    waiting: int
    estimate_minutes: float | None = Field(None, description="that centre's own estimate on its last ticket")


class NearbyHall(Answer):
    """One centre of the county as the county last told this hall (county/live.py public_wait)."""

    code: str
    name: str
    own: bool = Field(..., description="this hall itself")
    link: Literal["online", "offline", "never"] = Field(..., description="that centre's link to the county")
    as_of: str | None = Field(None, json_schema_extra=DATE_TIME, description="when the county last heard from it")
    waiting: int
    windows_open: int
    longest_wait_minutes: float | None = None
    services: list[NearbyMatter]


class Nearby(Answer):
    """附近大厅: the county's wait figures for every centre, kept by this hall (server/nearby.py)."""

    linked: bool = Field(..., description="false: this hall has no [county]; the list is empty")
    as_of: str | None = Field(None, json_schema_extra=DATE_TIME, description="when the county gave this copy")
    age_seconds: float | None = Field(None, description="how old the copy is on the hall's clock")
    stale: bool = Field(..., description="the last round with the county failed, or the copy is old")
    halls: list[NearbyHall]


class ConfigVersion(BaseModel):
    version: int
    at: str = Field(..., json_schema_extra={"format": "date-time"})
    actor: str
    note: str
    diff: list[str] = Field(..., description="one line per changed key path: key: old -> new")


class CurrentConfig(BaseModel):
    version: int
    hall: HallFile


class ConfigVersionDetail(ConfigVersion):
    document: HallFile = Field(..., description="the whole hall of that version, in the TOML file's shape")


class ConfigVersions(Answer):
    versions: list[ConfigVersion]


class MediaFiles(Answer):
    files: list[str] = Field(..., description="the pictures in media/ beside the hall's config file, by name")
    folder: str | None = Field(..., description="that folder (null: the hall was not loaded from a file)")


class MediaUploaded(MediaFiles):
    """A display picture written into media/ (then offered for hall.media), and the folder after."""

    name: str = Field(..., description="the picture's file name in media/")
    format: Literal["PNG", "JPEG"]
    width: int = Field(..., description="pixels")
    height: int = Field(..., description="pixels")
    bytes: int = Field(..., description="the file's size")


RESULT = Literal["accepted", "nothing_to_do"]


class WindowAction(Answer):
    """A window action's answer (server/api/windows.py act): the ticket acted on and the window after."""

    result: RESULT
    reason: str | None = Field(None, description="why nothing was done")
    ticket: Ticket | None = Field(None, description="the ticket acted on (null: call-next or call-back found nobody)")
    record: int | None = Field(None, description="finish: the service record ended")
    no_show: bool | None = Field(None, description="recall: past the recall limit the ticket became a no-show")
    window: WindowView


class RatingResult(Answer):
    result: Literal["accepted"]
    record: int | None = Field(None, description="the service record rated")
    rated: bool | None = Field(None, description="false: the prompt timed out (grade 0), recorded as not rated")
    grade: int | None = None


class Queue(Answer):
    tickets: list[Ticket] = Field(..., description="live tickets, oldest first, masked, without ids (none with tickets=0)")
    waiting_by_service: dict[str, int]
    oldest_waiting_by_service: dict[str, str] = Field(..., description="issued_at of each service's oldest waiting ticket")
    waiting: int


class StatsToday(Answer):
    """Today's figures (server/stats.py today); means are null until there is something to average."""

    day: str = Field(..., json_schema_extra={"format": "date"})
    issued: int
    waiting: int
    in_service: int
    parked: int
    finished: int
    no_shows: int
    services_done: int
    transfers: int
    mean_wait_minutes: float | None = None
    p90_wait_minutes: float | None = None
    mean_service_minutes: float | None = None
    ratings: int
    good_rate: float | None = Field(None, description="0–1")
    mean_score: float | None = Field(None, description="0–10")
    bad_ratings: int
    windows_open: int


class SmsTicket(Answer):
    id: str = Field(..., description="the ticket page's key: the SMS {link} is hall.public_url + /t/<id>")
    day: str = Field(..., json_schema_extra={"format": "date"})
    code: str
    phone: str = Field(..., description="in full: the notifier sends to it")
    state: Literal["waiting", "called", "serving", "parked"]
    service: str = Field(..., description="the service's name")
    ahead: int | None = Field(None, description="people ahead while waiting")
    issued_ahead: int | None = Field(None, description="people ahead when the ticket was issued")
    window: int | None = Field(None, description="the window, while called or serving")
    window_name: str | None = None


class SmsWatch(Answer):
    now: str = Field(..., json_schema_extra=DATE_TIME)
    tickets: list[SmsTicket]


class SmsReminder(Answer):
    code: str
    phone: str
    service: str
    service_name: str
    day: str = Field(..., json_schema_extra={"format": "date"})
    slot_start: str = Field(..., json_schema_extra=DATE_TIME)


class SmsReminders(Answer):
    day: str = Field(..., json_schema_extra={"format": "date"})
    appointments: list[SmsReminder]


class SwitchedOff(Answer):
    result: Literal["accepted"]
    switched_off: int = Field(..., description="tickets and appointments no longer sent SMS")


class Alert(Answer):
    """An 电子监察 alert (server/supervision.py alert_view)."""

    id: int
    kind: str
    kind_name: str
    source: str
    level: Literal["warning", "yellow", "red"]
    level_name: str
    message: str | None = None
    window: int | None = None
    service: str | None = None
    raised_at: str = Field(..., json_schema_extra=DATE_TIME)
    updated_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    cleared_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    active: bool
    acked_by: str | None = None
    acked_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    ack_note: str | None = None


class Alerts(Answer):
    alerts: list[Alert]


class AlertReported(Answer):
    result: RESULT
    alert: Alert | None = Field(None, description="the alert raised, cleared or unchanged (null: nothing to clear)")


class AckSkipped(Answer):
    alert: int
    reason: str
    acked_by: str | None = None


class AlertsAcked(Answer):
    acked: list[Alert]
    skipped: list[AckSkipped] = Field(..., description="cleared or acknowledged meanwhile, with the reason")


class CaseStep(Answer):
    action: str
    from_state: str | None = None
    to_state: str | None = None
    by: str
    at: str = Field(..., json_schema_extra=DATE_TIME)
    note: str | None = None


CASE_STATE = Literal[tuple(CASE_STATES)]  # type: ignore[valid-type]


class Case(Answer):
    """A 差评 case for staff (server/cases.py case_view): phone and numbers in text masked."""

    id: int
    ticket_code: str
    day: str = Field(..., json_schema_extra={"format": "date"})
    window: int | None = None
    window_name: str | None = None
    staff: str | None = None
    staff_name: str | None = None
    service: str
    service_name: str
    department: str | None = None
    grade: int
    grade_name: str
    reason: str | None = None
    reason_name: str | None = None
    comment: str | None = None
    phone: str | None = Field(None, description="masked")
    rated_at: str = Field(..., json_schema_extra=DATE_TIME)
    state: CASE_STATE
    state_name: str
    resolution: str | None = None
    owner: str | None = None
    opened_at: str = Field(..., json_schema_extra=DATE_TIME)
    callback_due: str | None = Field(None, json_schema_extra=DATE_TIME)
    fix_due: str | None = Field(None, json_schema_extra=DATE_TIME)
    due_error: str | None = None
    called_back_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    callback_by: str | None = Field(None, description="the last day for the call-back")
    fix_by: str | None = Field(None, description="the last day for the fix")
    callback_contact: Literal[tuple(CALLBACK_CONTACTS)] | None = None  # type: ignore[valid-type]
    callback_contact_name: str | None = None
    callback_answer: Literal[tuple(CALLBACK_ANSWERS)] | None = None  # type: ignore[valid-type]
    callback_answer_name: str | None = None
    resolved_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    closed_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    fix_grade: int | None = None
    fix_grade_name: str | None = None
    county_owned: bool = Field(..., description="the county takes the steps; this hall reads them")
    actions: list[str] = Field(..., description="the steps the case's state allows now")
    steps: list[CaseStep] | None = Field(None, description="GET /cases/{id} and a step's answer")


class Cases(Answer):
    cases: list[Case]


class CasePhone(Answer):
    case: int
    phone: str | None = Field(None, description="in full (null: the citizen gave none); the look is logged")


class FixStatus(Answer):
    """What the ticket page shows of the case its bad rating opened: no names, no notes."""

    case: bool
    state: CASE_STATE | None = None
    state_name: str | None = None
    callback_due: str | None = Field(None, json_schema_extra=DATE_TIME)
    can_rate_fix: bool
    fix_grade: int | None = None


class Commitment(Answer):
    """A 承诺件 and its working-day deadline (server/commitments.py)."""

    record_id: int
    ticket_code: str
    day: str = Field(..., json_schema_extra={"format": "date"})
    window: int | None = None
    staff: str | None = None
    service: str
    department: str | None = None
    accepted_at: str = Field(..., json_schema_extra=DATE_TIME)
    promised_days: int | None = None
    deadline: str | None = Field(None, json_schema_extra={"format": "date"})
    due_error: str | None = None
    state: Literal["open", "done"]
    done_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    done_by: str | None = None


class Commitments(Answer):
    commitments: list[Commitment]


class ReportPeriod(Answer):
    kind: Literal["day", "week", "month", "year"]
    start: str = Field(..., json_schema_extra={"format": "date"})
    end: str = Field(..., json_schema_extra={"format": "date"}, description="exclusive")
    label: str


class ReportRow(Answer):
    """One group's figures (server/reports.py; the columns are defined in its LEGEND); the totals row
    has the hall's, with issued and without name."""

    key: str
    name: str | None = None
    received: int
    tickets: int
    calls: int
    served: int
    no_shows: int
    transfers: int
    parked: int
    open: int
    mean_wait: float | None = None
    p90_wait: float | None = None
    mean_service: float | None = None
    ratings: int
    good_rate: float | None = None
    mean_score: float | None = None
    bad: int
    alerts: int
    red_alerts: int
    alert_points: int | None = None
    desk_received: int | None = Field(None, description="by department: at the department's own windows")
    desk_served: int | None = None
    issued: int | None = Field(None, description="totals only")
    score: float | None = Field(None, description="红黑榜 rows only")


class AppointmentFigures(Answer):
    booked: int
    checked_in: int
    cancelled: int
    no_show: int


class HourRow(Answer):
    hour: int = Field(..., ge=0, le=23)
    label: str
    arrivals: int
    mean_wait: float | None = None
    service_level: float | None = None
    in_target: int
    measured: int
    open_windows: float


class HonourBoard(Answer):
    red: list[ReportRow]
    black: list[ReportRow]


class Report(Answer):
    period: ReportPeriod
    by: Literal["window", "staff", "service", "department", "day", "month"]
    totals: ReportRow
    rows: list[ReportRow]
    appointments: AppointmentFigures
    hours: list[HourRow] | None = Field(None, description="periods of up to a month")
    honour: HonourBoard | None = Field(None, description="红黑榜, by window or staff")


class CaseNumberAttached(Answer):
    record: int
    case_number: str
    ticket_code: str


class RatingRecord(Answer):
    """One rating with the GB/T 39734 fields (server/rating_record.py record_view)."""

    id: int
    record: int
    ticket_code: str
    service_code: str
    service_name: str
    case_number: str | None = None
    department: str | None = None
    window: int | None = None
    window_name: str | None = None
    staff: str | None = None
    staff_name: str | None = None
    channel: str
    channel_name: str
    grade: int
    grade_name: str
    tags: list[str]
    tag_names: list[str]
    comment: str | None = None
    served_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    rated_at: str = Field(..., json_schema_extra=DATE_TIME)
    appeal: Literal[tuple(APPEAL_STATES)] | None = None  # type: ignore[valid-type]
    scored: bool


class RatingRecords(Answer):
    records: list[RatingRecord]


class IndicatorRow(Answer):
    key: str
    services: int
    ratings: int
    good_rate: float | None = None
    active_rate: float | None = None
    unrated_rate: float | None = None


class RatingIndicators(Answer):
    group: Literal["window", "staff", "service", "department", "hall"]
    definitions: dict[str, str]
    rows: list[IndicatorRow]


class Appeal(Answer):
    """An appeal (申诉复核, server/appeals.py appeal_view) with the rating it is about."""

    id: int
    rating_id: int
    record_id: int
    window: int | None = None
    staff: str | None = None
    reason: str
    evidence: str | None = None
    evidence_ref: str | None = None
    filed_by: str
    filed_at: str = Field(..., json_schema_extra=DATE_TIME)
    state: Literal[tuple(APPEAL_STATES)]  # type: ignore[valid-type]
    state_name: str
    decided_by: str | None = None
    decided_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    decision_note: str | None = None
    ticket_code: str | None = None
    service: str | None = None
    grade: int | None = None
    grade_name: str | None = None
    comment: str | None = None
    rated_at: str | None = Field(None, json_schema_extra=DATE_TIME)
    channel: str | None = None


class Appeals(Answer):
    appeals: list[Appeal]


class ReferralMaterial(Answer):
    name: str
    checked: bool


class Referral(Answer):
    """A referral made here (out) or taken in (in), phone masked (server/referrals.py view)."""

    id: str
    direction: Literal["out", "in"]
    from_hall: str | None = None
    to_hall: str | None = None
    matter: str
    phone: str = Field(..., description="masked")
    sms: bool
    materials: list[ReferralMaterial]
    state: Literal[tuple(REFERRAL_STATES)]  # type: ignore[valid-type]
    state_name: str
    appointment: str | None = None
    slot_start: str | None = Field(None, json_schema_extra=DATE_TIME)
    reason: str | None = None
    created_at: str = Field(..., json_schema_extra=DATE_TIME)
    updated_at: str = Field(..., json_schema_extra=DATE_TIME)
    at_county: bool


class Referrals(Answer):
    referrals: list[Referral]


class User(Answer):
    username: str
    role: Literal[tuple(USER_ROLES)]  # type: ignore[valid-type]
    staff: str | None = None
    window: int | None = None
    active: bool
    role_name: str
    locked_minutes: int = Field(..., description="minutes still locked after failed sign-ins")


class Users(Answer):
    users: list[User]


ANSWERS = (Error, Ticket, Position, ConfigVersion, CurrentConfig, Menu, Windows, WindowView, Appointment,
           Appointments, CitizenTodayAnswer, Health, ConfigVersionDetail, ConfigVersions, WindowAction, RatingResult,
           Queue, StatsToday, SmsWatch, SmsReminders, SwitchedOff, Alert, Alerts, AlertReported, AlertsAcked, Case,
           Cases, CasePhone, FixStatus, Commitment, Commitments, Report, CaseNumberAttached, RatingRecords,
           RatingIndicators, Appeal, Appeals, Referral, Referrals, User, Users, Nearby, MediaFiles, MediaUploaded)
