"""The county's HTTP API: halls ship their event logs in; readers take figures out.

Each hall authenticates with its own token (`hallq county hall add`), which names the hall: a hall
can write only its own log. Readers (`hallq county token add`) see every hall's figures.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, request

from server.errors import Forbidden, Invalid, NotFound

from . import cases, catalogue, figures, ingest, live, referrals, registry

bp = Blueprint("county", __name__)


def _caller(*roles: str) -> registry.Caller:
    who = registry.caller(current_app.config["DB"], request.headers.get("Authorization"))
    if who.role not in roles:
        raise Forbidden(f"a {' or '.join(roles)} token is needed", field="Authorization")
    return who


@bp.get("/health")
def health():
    return jsonify({"ok": True})


@bp.get("/ingest")
def mark():
    """The county's high-water mark for the calling hall: where its shipper resumes; `diverged`: the
    hall's log and the county's differ (county/ingest.py), nothing is taken until a rebase."""
    hall = _caller("hall").hall
    high_water, diverged = ingest.mark(current_app.config["DB"], hall)
    return jsonify({"hall": hall, "high_water": high_water, **({"diverged": diverged} if diverged else {})})


@bp.post("/ingest")
def post_events():
    """A batch of the calling hall's events; answers the high-water mark after it (409 `gap`: send
    from the county's mark; 409 `diverged`: the logs differ, see county/ingest.py)."""
    hall = _caller("hall").hall
    batch = ingest.parse_batch(hall, request.get_json(silent=True))
    done = ingest.apply(current_app.config["DB"], current_app.config["PARTITIONS"], hall, batch.after, batch.events,
                        batch.after_link)
    return jsonify({"hall": hall, "high_water": done.high_water, "applied": done.applied, "skipped": done.skipped})


@bp.post("/ingest/compare")
def compare_events():
    """A diverged hall's search for the last event it shares with the county (county/ingest.py compare)."""
    hall = _caller("hall").hall
    return jsonify(ingest.compare(current_app.config["DB"], hall, request.get_json(silent=True)))


@bp.get("/halls")
def halls():
    _caller("reader")
    return jsonify({"halls": registry.halls(current_app.config["DB"])})


@bp.get("/wait")
def public_wait():
    """Every centre's queue per matter now (what the public /wait page shows), for a hall's 附近大厅
    screen: a hall token or a reader's."""
    who = _caller("hall", "reader")
    with current_app.config["DB"].connection() as conn:
        return jsonify({**live.public_wait(conn), "caller": who.hall})


def _day(name: str, default: date | None = None) -> date:
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = date.fromisoformat(raw or "")
    except ValueError:
        raise Invalid("a date YYYY-MM-DD", field=name) from None
    if not 2000 <= value.year <= 2099:
        raise Invalid("dates lie in 2000..2099", field=name)
    return value


@bp.get("/halls/<code>/figures")
def hall_figures(code: str):
    """Figures per local day of one hall, `from`..`to` (default: the whole log)."""
    _caller("reader")
    db = current_app.config["DB"]
    if code not in {h["code"] for h in registry.halls(db)}:
        raise NotFound(f"no hall {code}", field="code")
    first, last = _day("from", date(2000, 1, 1)), _day("to", date(2099, 12, 31))
    return jsonify({"hall": code, "days": figures.by_day(db, code, first, last)})


# -- the catalogue (county/catalogue.py) --------------------------------------------------------


@bp.post("/catalogue/releases")
def publish_release():
    """Publish a catalogue (the whole of it) as the next release; 201 with its number."""
    who = _caller("catalogue")
    number = catalogue.publish(current_app.config["DB"], catalogue.parse(request.get_json(silent=True)), who.name)
    return jsonify({"release": number}), 201


@bp.get("/catalogue/releases")
def list_releases():
    _caller("reader", "catalogue")
    return jsonify({"releases": catalogue.releases(current_app.config["DB"])})


@bp.get("/catalogue/latest")
def latest_release():
    """The newest release as the calling hall applies it (its level's overridable fields)."""
    hall = _caller("hall").hall
    return jsonify(catalogue.for_hall(current_app.config["DB"], hall))


@bp.post("/catalogue/status")
def catalogue_status():
    """The calling hall reports the release it runs and its overrides."""
    hall = _caller("hall").hall
    return jsonify(catalogue.report(current_app.config["DB"], hall, request.get_json(silent=True)))


@bp.get("/catalogue/drift")
def catalogue_drift():
    """Which hall runs which release with which overrides (data for the county's drift page)."""
    _caller("reader", "catalogue")
    return jsonify(catalogue.drift(current_app.config["DB"]))


# -- cross-level referral (county/referrals.py) -------------------------------------------------


@bp.post("/referrals")
def refer():
    """The calling hall passes a matter up; 201 with the routed referral (200: that id was recorded)."""
    row, created = referrals.create(current_app.config["DB"], _caller("hall").hall, request.get_json(silent=True))
    return jsonify(row), 201 if created else 200


@bp.get("/referrals/incoming")
def referrals_incoming():
    """Referrals waiting for the calling hall to book an appointment."""
    return jsonify({"referrals": referrals.incoming(current_app.config["DB"], _caller("hall").hall)})


@bp.post("/referrals/<from_hall>/<rid>/step")
def referral_step(from_hall: str, rid: str):
    """The receiving hall reports booked (code, slot), refused, served, no_show or not_done."""
    hall = _caller("hall").hall
    return jsonify(referrals.step(current_app.config["DB"], hall, from_hall, rid, request.get_json(silent=True)))


@bp.get("/referrals/outgoing")
def referrals_outgoing():
    """The calling hall's referrals whose state changed since it last took them in."""
    return jsonify({"referrals": referrals.outgoing(current_app.config["DB"], _caller("hall").hall)})


@bp.post("/referrals/<rid>/seen")
def referral_seen(rid: str):
    hall = _caller("hall").hall
    return jsonify(referrals.seen(current_app.config["DB"], hall, rid, request.get_json(silent=True)))


@bp.get("/referrals")
def referral_list():
    """Every referral (county staff tools): who referred what to whom, its state and reason."""
    _caller("reader")
    return jsonify({"referrals": referrals.listing(current_app.config["DB"])})


# -- 差评 cases kept by the county (county/cases.py) ---------------------------------------------


@bp.get("/cases/steps")
def case_steps():
    """The calling hall's poll: `owner` (its [county] cases) and `after` (the last county step it
    applied); answers the county's steps on its cases after that one."""
    hall = _caller("hall").hall
    raw = request.args.get("after", "0")
    after = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else -1  # a bigint, never more
    if after < 0:
        raise Invalid("after: the last county step the hall applied, an integer 0..10^18", field="after")
    steps = cases.pending(current_app.config["DB"], hall, after, request.args.get("owner", "hall"))
    return jsonify({"hall": hall, "steps": steps})


@bp.get("/cases")
def case_list():
    """Every hall's 差评 cases as the county sees them (who owns each, its state)."""
    _caller("reader")
    return jsonify({"cases": cases.listing(current_app.config["DB"])})
