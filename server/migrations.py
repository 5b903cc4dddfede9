"""Versioned schema migrations: each step runs once, in order, in its own transaction.

Add a new function to MIGRATIONS for every schema change; never edit a step that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db["tickets"].create(
        {
            "id": str, "code": str, "prefix": str, "number": int, "day": str,
            "matter": str, "service": str, "step": int, "priority": str, "priority_reason": str,
            "appointment": str, "slot_start": str, "phone": str, "id_number": str, "name": str,
            "channel": str, "state": str, "issued_at": str, "arrived_at": str, "queued_at": str,
            "target_window": int, "window": int, "called_at": str, "recalls": int,
            "parked_window": int, "outcome": str, "finished_at": str, "end_reason": str,
            "waiting_ahead": int, "estimated_wait": float, "record_id": int,
        },
        pk="id",
    )
    db["tickets"].create_index(["day", "code"], unique=True)
    db["tickets"].create_index(["state"])
    db["records"].create(
        {
            "id": int, "ticket_id": str, "ticket_code": str, "day": str, "window": int,
            "staff": str, "service": str, "department": str, "priority": str,
            "arrived_at": str, "called_at": str, "started_at": str, "ended_at": str,
            "end": str, "outcome": str, "recalls": int,
            "rating_state": str, "prompted_at": str, "grade": int,
        },
        pk="id",
    )
    db["records"].create_index(["ticket_id"])
    db["records"].create_index(["day"])
    db["windows"].create(
        {
            "number": int, "staff": str, "login_at": str, "paused": int, "pause_reason": str,
            "paused_at": str, "current": str, "last_record": int, "since": str,
        },
        pk="number",
    )
    db["counters"].create({"prefix": str, "day": str, "last": int}, pk=("prefix", "day"))
    db["ratings"].create(
        {
            "id": int, "record_id": int, "ticket_id": str, "ticket_code": str, "service": str,
            "department": str, "window": int, "staff": str, "phone": str, "served_at": str,
            "rated_at": str, "channel": str, "grade": int, "reason": str, "comment": str,
        },
        pk="id",
    )
    db["ratings"].create_index(["record_id"], unique=True)
    db["appointments"].create(
        {
            "code": str, "phone": str, "service": str, "day": str, "slot_start": str,
            "state": str, "ticket_id": str, "created_at": str,
        },
        pk="code",
    )
    db["appointments"].create_index(["phone", "day"])
    db.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, type TEXT NOT NULL,
            actor TEXT, window INTEGER, ticket_id TEXT, ticket_code TEXT, service TEXT, data TEXT)"""
    )
    db.execute("CREATE INDEX idx_events_ts ON events (ts)")
    # The event log is append-only: history is evidence (电子监察), never rewritten.
    db.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END")
    db.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END")


def _v2(db: sqlite_utils.Database) -> None:
    """Web users, 好差评 cases, 电子监察 alerts, 承诺件 deadlines, and indexes the reports need."""
    db["settings"].create({"key": str, "value": str}, pk="key")
    db["users"].create(
        {
            "username": str, "password_hash": str, "role": str, "staff": str, "window": int,
            "active": int, "created_at": str,
        },
        pk="username",
    )
    db["users"].create_index(["staff"])
    db["cases"].create(
        {
            "id": int, "rating_id": int, "record_id": int, "ticket_id": str, "ticket_code": str,
            "day": str, "window": int, "staff": str, "service": str, "department": str,
            "grade": int, "reason": str, "comment": str, "phone": str, "rated_at": str,
            "state": str, "resolution": str, "owner": str, "opened_at": str,
            "callback_due": str, "fix_due": str, "due_error": str,
            "called_back_at": str, "resolved_at": str, "closed_at": str,
            "fix_grade": int, "fix_rated_at": str,
        },
        pk="id",
    )
    db["cases"].create_index(["record_id"], unique=True)
    db["cases"].create_index(["state"])
    db["cases"].create_index(["ticket_id"])
    db["case_steps"].create(
        {"id": int, "case_id": int, "action": str, "from_state": str, "to_state": str,
         "by": str, "at": str, "note": str},
        pk="id",
    )
    db["case_steps"].create_index(["case_id"])
    db["alerts"].create(
        {
            "id": int, "key": str, "kind": str, "source": str, "level": str, "message": str,
            "window": int, "staff": str, "service": str, "department": str,
            "raised_at": str, "updated_at": str, "cleared_at": str, "active": int,
            "acked_by": str, "acked_at": str, "ack_note": str,
        },
        pk="id",
    )
    db.execute("CREATE UNIQUE INDEX idx_alerts_active_key ON alerts ([key]) WHERE active = 1")
    db["alerts"].create_index(["raised_at"])
    db["commitments"].create(
        {
            "record_id": int, "ticket_code": str, "day": str, "window": int, "staff": str,
            "service": str, "department": str, "accepted_at": str, "promised_days": int,
            "deadline": str, "due_error": str, "state": str, "done_at": str, "done_by": str,
        },
        pk="record_id",
    )
    db["commitments"].create_index(["state"])
    db["records"].create_index(["ended_at"])
    db["records"].create_index(["ticket_id", "id"])
    db["ratings"].create_index(["served_at"])


def _v3(db: sqlite_utils.Database) -> None:
    """Report facts: one narrow row per ended service record (server/reports.py fills it), with a
    covering index per report grouping, so a year of reports is an index scan of small values
    instead of parsing 250,000 timestamps and sorting them every time."""
    db.execute(
        """CREATE TABLE record_facts (
            record_id INTEGER PRIMARY KEY, day TEXT NOT NULL, month TEXT NOT NULL, window INTEGER, staff TEXT,
            service TEXT, department TEXT, [end] TEXT, first_wait_tenths INTEGER, service_minutes REAL)"""
    )
    for column in ("day", "month", "window", "staff", "service", "department"):
        db.execute(f"CREATE INDEX idx_record_facts_{column} ON record_facts "
                   f"([{column}], first_wait_tenths, day, [end], service_minutes)")


def _v4(db: sqlite_utils.Database) -> None:
    """Idempotent issuing: a kiosk's request id, so a retry after a lost answer gets the same ticket."""
    db.execute("ALTER TABLE tickets ADD COLUMN request_id TEXT")
    db.execute("CREATE UNIQUE INDEX idx_tickets_request_id ON tickets (request_id) WHERE request_id IS NOT NULL")


def _v5(db: sqlite_utils.Database) -> None:
    """Idempotency keys scoped to their caller (server/requestlog.py): one row per applied request,
    written in the same transaction as the action, so a retry after a lost answer or a restart gets
    the first answer. Request ids are no longer unique across kiosks: the v4 index goes."""
    db.execute(
        """CREATE TABLE requests (
            scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, endpoint TEXT,
            created_at TEXT NOT NULL, status INTEGER, body TEXT, ticket_id TEXT,
            first_event INTEGER, last_event INTEGER, PRIMARY KEY (scope, key))"""
    )
    db.execute("CREATE INDEX idx_requests_created_at ON requests (created_at)")
    db.execute("DROP INDEX idx_tickets_request_id")


def _v6(db: sqlite_utils.Database) -> None:
    """Web sign-ins kept server-side (server/sessions.py), so signing out, a password change and
    disabling a user end them; and numbers citizens typed into comments and case notes, masked
    from now on when stored, masked in the rows written before too."""
    from .privacy import mask_text

    db["sessions"].create(
        {"id": str, "username": str, "role": str, "address": str, "created_at": str, "last_seen_at": str,
         "revoked_at": str, "revoked_reason": str},
        pk="id",
    )
    db["sessions"].create_index(["username"])
    for table, column in (("ratings", "comment"), ("cases", "comment"), ("case_steps", "note")):
        rows = db.execute(f"SELECT rowid, [{column}] FROM [{table}] WHERE [{column}] IS NOT NULL").fetchall()
        for rowid, text in rows:
            if mask_text(text) != text:
                db.execute(f"UPDATE [{table}] SET [{column}] = ? WHERE rowid = ?", [mask_text(text), rowid])


def _v7(db: sqlite_utils.Database) -> None:
    """The citizen's answer at a 差评 case's call-back (回访): how they were reached and whether they
    were satisfied; a case cannot close without it (server/cases.py)."""
    db.execute("ALTER TABLE cases ADD COLUMN callback_contact TEXT")
    db.execute("ALTER TABLE cases ADD COLUMN callback_answer TEXT")


def _v8(db: sqlite_utils.Database) -> None:
    """The hall's configuration, versioned (server/config_versions.py): every change made in the
    browser or imported is a numbered row with who, when, a note, the whole hall and the diff."""
    db.execute(
        """CREATE TABLE config_versions (
            version INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL,
            document TEXT NOT NULL, diff TEXT NOT NULL)"""
    )


def _v9(db: sqlite_utils.Database) -> None:
    """ID card tickets and appointments (issue #17): the masked ID number and its per-day matching
    key (server/idkeys.py) — never the number itself — so a card finds its citizen's appointment
    and today's tickets."""
    db.execute("ALTER TABLE tickets ADD COLUMN id_key TEXT")
    db.execute("CREATE INDEX idx_tickets_id_key ON tickets (id_key) WHERE id_key IS NOT NULL")
    db.execute("ALTER TABLE appointments ADD COLUMN id_number TEXT")
    db.execute("ALTER TABLE appointments ADD COLUMN id_key TEXT")
    db.execute("CREATE INDEX idx_appointments_id_key ON appointments (id_key) WHERE id_key IS NOT NULL")


def _v11(db: sqlite_utils.Database) -> None:
    """SMS 即将到号 and reminders (issue #17): whether the citizen agreed to SMS at the ticket's or
    appointment's phone (cleared when they opt out), and the slot index the booking page counts
    capacity with."""
    db.execute("ALTER TABLE tickets ADD COLUMN sms INTEGER")
    db.execute("ALTER TABLE appointments ADD COLUMN sms INTEGER")
    db.execute("CREATE INDEX idx_appointments_slot ON appointments (service, slot_start)")
    db.execute("CREATE INDEX idx_appointments_day ON appointments (day)")


def _v12(db: sqlite_utils.Database) -> None:
    """好差评 to GB/T 39734 (issue #16): the 差评 option tags of each rating; the 办件编号 the business
    system attaches to a service (server/rating_record.py); 申诉复核 appeals (server/appeals.py); and
    `scored_ratings`, the ratings every score and 红黑榜 reads: all but those an upheld appeal took
    out (they stay in `ratings`, the record)."""
    db.execute("ALTER TABLE ratings ADD COLUMN tags TEXT")
    db.execute(
        """CREATE TABLE case_numbers (
            record_id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, attached_by TEXT NOT NULL,
            attached_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX idx_case_numbers_number ON case_numbers (case_number)")
    db.execute(
        """CREATE TABLE appeals (
            id INTEGER PRIMARY KEY, rating_id INTEGER NOT NULL, record_id INTEGER NOT NULL,
            window INTEGER, staff TEXT, reason TEXT NOT NULL, evidence TEXT, evidence_ref TEXT,
            filed_by TEXT NOT NULL, filed_at TEXT NOT NULL, state TEXT NOT NULL,
            decided_by TEXT, decided_at TEXT, decision_note TEXT)"""
    )
    db.execute("CREATE INDEX idx_appeals_record ON appeals (record_id)")
    db.execute("CREATE INDEX idx_appeals_state ON appeals (state)")
    db.execute(
        "CREATE VIEW scored_ratings AS SELECT * FROM ratings r WHERE NOT EXISTS "
        "(SELECT 1 FROM appeals a WHERE a.record_id = r.record_id AND a.state = 'upheld')"
    )


def _v13(db: sqlite_utils.Database) -> None:
    """The tamper-evident record (issue #16): the SM3 chain over ratings, 差评 case steps and the
    event log, its purge anchors, and the genesis links of every row already stored
    (server/audit_chain.py)."""
    from . import audit_chain

    audit_chain.create_schema(db.conn)
    audit_chain.link_all(db.conn)


def _v14(db: sqlite_utils.Database) -> None:
    """Cross-level referrals (帮办代办 / 就近办, server/referrals.py): the ones this hall passed up
    (out) and the ones it took in from below with the appointment it booked (in). `synced`: the
    state the county has confirmed, so a step is sent again until it has."""
    db.execute(
        """CREATE TABLE referrals (
            direction TEXT NOT NULL, from_hall TEXT NOT NULL, id TEXT NOT NULL, to_hall TEXT,
            matter TEXT NOT NULL, phone TEXT NOT NULL, id_number TEXT, sms INTEGER NOT NULL,
            materials TEXT NOT NULL, state TEXT NOT NULL, appointment TEXT, slot_start TEXT, reason TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, synced TEXT,
            PRIMARY KEY (direction, from_hall, id))"""
    )


def _v15(db: sqlite_utils.Database) -> None:
    """Tickets keep what they were issued with (issue #14): the matter's name and materials as
    printed, JSON, so a live config change does not rewrite the page of a ticket already out."""
    db.execute("ALTER TABLE tickets ADD COLUMN issued_with TEXT")


def _v17(db: sqlite_utils.Database) -> None:
    """The SM3 chain covers every 好差评 record (issue #16): 申诉复核 appeals and the 办件编号 of
    services join it; the rows already stored get their links now (server/audit_chain.py)."""
    from . import audit_chain

    audit_chain.link_all(db.conn, ("appeals", "case_numbers"))


def _v18(db: sqlite_utils.Database) -> None:
    """Idempotency fingerprints written before they were keyed were a plain SHA-256 of the request
    (method, path, body), and a body may carry an ID number: from a copy of the database the full
    number was found in seconds. Erase them, with the freed bytes overwritten; a retry of such a
    request (within the two days these rows are kept) is taken as the same request."""
    before = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    db.execute("UPDATE requests SET fingerprint = '' WHERE fingerprint != ''")
    db.execute(f"PRAGMA secure_delete = {int(before)}")

MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [
    (1, _v1),
    (2, _v2),
    (3, _v3),
    (4, _v4),
    (5, _v5),
    (6, _v6),
    (7, _v7),
    (8, _v8),
    (9, _v9),
    (11, _v11),
    (12, _v12),
    (13, _v13),
    (14, _v14),
    (15, _v15),
    (17, _v17),
    (18, _v18),
]


def current_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the schema up to the newest version; returns it."""
    version = current_version(db)
    for number, step in MIGRATIONS:
        if number <= version:
            continue
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.conn.execute(f"PRAGMA user_version = {number}")
            db.conn.execute("COMMIT")
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        version = number
    return version
