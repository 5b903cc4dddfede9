"""Server-side web sessions: sign-out, password changes and disabling end them (a copied cookie too),
idle limits per role from the hall TOML, an open event stream counts as activity, the 12-hour
lifetime stays, and the check costs no database query per request."""

from dataclasses import replace
from pathlib import Path

import pytest
from hallfactory import small_hall
from webhall import USERS, make_app, sign_in

from hallq.cli import main
from hallq.config import ConfigError, parse_config
from hallq.model import SignInSessions
from server.app import create_app
from server.sessions import PERSIST_SECONDS, REVALIDATE_SECONDS
from server.users import add_user

T0 = 1_795_000_000.0  # a fixed wall clock for the session book


@pytest.fixture
def now():
    return [T0]


@pytest.fixture
def app(tmp_path, now):
    app = make_app(tmp_path / "hall.db")
    app.config["SESSIONS"].clock = lambda: now[0]
    return app


def copy_of(client, app):
    """Another browser holding a copy of this one's session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def signed_in(client) -> bool:
    return client.get("/board").status_code == 200


def test_sign_out_ends_the_session_and_every_copy_of_its_cookie(app):
    client = app.test_client()
    token = sign_in(client, "sup")
    thief = copy_of(client, app)
    assert signed_in(thief)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not signed_in(client) and not signed_in(thief)
    assert thief.get("/api/v1/cases").status_code == 401
    [row] = app.config["ENGINE"].store.rows("SELECT revoked_reason FROM sessions")
    assert row["revoked_reason"] == "signed_out"


def test_password_change_from_the_command_line_ends_every_session_of_that_user(app, tmp_path, now, monkeypatch):
    one, two, admin = app.test_client(), app.test_client(), app.test_client()
    sign_in(one, "sup")
    sign_in(two, "sup")
    sign_in(admin, "admin")
    thief = copy_of(one, app)
    monkeypatch.setenv("HQ_PW", "a-new-password")
    # `hallq user passwd` opens the database on its own connection, as another process would.
    assert main(["user", "passwd", "--db", str(tmp_path / "hall.db"), "--password-env", "HQ_PW", "sup"]) == 0
    now[0] += REVALIDATE_SECONDS  # the server reads each session's row again at most this often
    assert not signed_in(one) and not signed_in(two) and not signed_in(thief)
    assert signed_in(admin)  # another user's sessions stay
    assert main(["user", "disable", "--db", str(tmp_path / "hall.db"), "admin"]) == 0
    now[0] += REVALIDATE_SECONDS
    assert not signed_in(admin)
    reasons = [r["revoked_reason"] for r in app.config["ENGINE"].store.rows("SELECT * FROM sessions ORDER BY rowid")]
    assert reasons == ["password_changed", "password_changed", "user_disabled"]


def test_idle_limits_per_role(app, now):
    admin, sup, clerk = app.test_client(), app.test_client(), app.test_client()
    sign_in(admin, "admin")
    sign_in(sup, "sup")
    sign_in(clerk, "clerk1")
    now[0] += 16 * 60  # admin: 15 minutes
    assert not signed_in(admin)
    assert signed_in(sup)  # supervisor: 30 minutes, and this request is activity
    assert clerk.get("/clerk").status_code == 200
    now[0] += 29 * 60
    assert signed_in(sup)
    assert clerk.get("/clerk").status_code == 200
    now[0] += 31 * 60
    assert not signed_in(sup)
    assert clerk.get("/clerk").status_code == 302


def test_idle_minutes_come_from_the_hall_config(tmp_path, now):
    config = replace(small_hall(), sessions=SignInSessions(supervisor_idle_minutes=5))
    app = create_app(config, tmp_path / "hall.db", supervise=False)
    app.config["SESSIONS"].clock = lambda: now[0]
    add_user(app.config["ENGINE"].store, config, "sup", USERS["sup"][0], "supervisor")
    client = app.test_client()
    sign_in(client, "sup")
    now[0] += 4 * 60
    assert signed_in(client)
    now[0] += 6 * 60
    assert not signed_in(client)


def test_an_open_event_stream_keeps_the_board_signed_in_until_the_lifetime_ends(app, now):
    from flask import g

    sessions = app.config["SESSIONS"]
    client = app.test_client()
    sign_in(client, "sup")
    with client:
        assert signed_in(client)
        sid = g.session_id  # what the event stream holds on to
    while now[0] < T0 + 12 * 3600 - 5 * 60:  # a day of heartbeats and nothing else, past the 30 idle minutes
        now[0] += 5 * 60
        assert sessions.is_active(sid)
        sessions.touch(sid)
        if now[0] == T0 + 2 * 3600:
            assert signed_in(client)
    now[0] = T0 + 12 * 3600 + 1  # touched minutes ago, but 12 hours old
    assert not sessions.is_active(sid)
    assert not signed_in(client)
    now[0] += 3600  # and a stream left alone is not active either
    assert not sessions.is_active(sid)


def test_the_check_costs_no_query_per_request_and_last_seen_is_written_lazily(app, now):
    client = app.test_client()
    sign_in(client, "clerk1")
    statements: list[str] = []
    store = app.config["ENGINE"].store
    store.rows("SELECT 1")  # a read connection in the pool (the test client runs one request at a time)
    traced = [store.db.conn, *store._readers]
    for conn in traced:
        conn.set_trace_callback(statements.append)
    for _ in range(20):
        now[0] += 0.1
        assert client.get("/api/v1/windows").status_code == 200
        assert client.get("/clerk").status_code == 200
    assert not [s for s in statements if "sessions" in s or "users" in s]
    now[0] += REVALIDATE_SECONDS
    client.get("/api/v1/windows")
    reads = [s for s in statements if "sessions" in s]
    assert len(reads) == 1 and reads[0].lstrip().upper().startswith("SELECT")  # re-read, nothing written yet
    now[0] += PERSIST_SECONDS
    client.get("/api/v1/windows")
    assert any(s.lstrip().upper().startswith("UPDATE SESSIONS SET LAST_SEEN_AT") for s in statements)
    for conn in traced:
        conn.set_trace_callback(None)


def test_sessions_outlive_a_restart_and_so_do_their_revocations(tmp_path, now):
    app = make_app(tmp_path / "hall.db")
    client = app.test_client()
    token = sign_in(client, "sup")
    cookie = client.get_cookie("session").value
    again = create_app(small_hall(), tmp_path / "hall.db", supervise=False)  # the server restarted
    browser = again.test_client()
    browser.set_cookie("session", cookie)
    assert signed_in(browser)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    third = create_app(small_hall(), tmp_path / "hall.db", supervise=False)
    browser = third.test_client()
    browser.set_cookie("session", cookie)
    assert not signed_in(browser)


def test_sessions_config_keys_are_checked_with_file_line_and_key():
    text = Path(__file__).resolve().parent.parent.joinpath("config", "township.toml").read_text()
    good = parse_config(text + "\n[sessions]\nadmin_idle_minutes = 10\n", "hall.toml")
    assert good.sessions == SignInSessions(admin_idle_minutes=10)
    assert parse_config(text, "hall.toml").sessions == SignInSessions()
    bad = text + '\n[sessions]\nadmin_idle_minutes = 0\nclerk_idle = 5\nsupervisor_idle_minutes = "x"\n'
    with pytest.raises(ConfigError) as err:
        parse_config(bad, "hall.toml")
    line = len(text.splitlines()) + 3
    assert [str(p) for p in err.value.problems] == [
        f"hall.toml:{line}: sessions.admin_idle_minutes: 0 is outside 1..720",
        f'hall.toml:{line + 1}: sessions.clerk_idle: unknown key (did you mean "clerk_idle_minutes"?)',
        f"hall.toml:{line + 2}: sessions.supervisor_idle_minutes: must be an integer",
    ]


def test_migration_masks_numbers_in_comments_stored_before(tmp_path):
    from olddb import database_before

    from server import migrations
    from server.store import Store

    path = tmp_path / "old.db"
    db = database_before(path, 6)
    db["ratings"].insert({"id": 1, "record_id": 1, "grade": 1, "comment": "请回电13812345678"})
    db.conn.commit()
    db.close()
    store = Store(path)
    assert store.rows("SELECT comment FROM ratings")[0]["comment"] == "请回电138****5678"
    assert migrations.current_version(store.db) >= 6


def test_a_storage_fault_never_fails_a_signed_in_read(app, now):
    """The session's last-seen write and the record of a session that ran out are bookkeeping: with
    the database refusing writes, signed-in pages still read (before, they answered 503)."""
    client = app.test_client()
    sign_in(client, "clerk1")
    store = app.config["ENGINE"].store
    store.db.conn.execute("PRAGMA query_only = 1")  # SQLite itself now refuses every write
    try:
        now[0] += PERSIST_SECONDS + REVALIDATE_SECONDS  # the last-seen time is due to be written
        assert client.get("/api/v1/windows").status_code == 200
        now[0] += 31 * 60  # and now the session has run out: recorded later, refused now
        assert client.get("/api/v1/windows").status_code == 401
    finally:
        store.db.conn.execute("PRAGMA query_only = 0")


def test_migration_erases_the_unkeyed_request_fingerprints_and_a_retry_still_gets_its_answer(tmp_path):
    """Fingerprints stored before they were keyed were a plain SHA-256 of the request, ID number and
    all: migration 18 erases them from the file, and a retry of such a request is still answered."""
    import hashlib

    from olddb import database_before

    from server.requestlog import RequestLog
    from server.store import Store

    path = tmp_path / "old.db"
    db = database_before(path, 18)
    plain = hashlib.sha256(b'POST /api/v1/tickets\n{"service": "S101", "id_number": "420106197209067294"}').hexdigest()
    db["requests"].insert({"scope": "kiosk-1", "key": "retry-key-0001", "fingerprint": plain, "endpoint": "tickets.issue",
                           "created_at": "2026-12-01T08:00:00+00:00", "status": 201, "body": "{}"})
    db.conn.commit()
    db.close()
    store = Store(path)
    store.checkpoint()
    assert plain.encode() not in path.read_bytes() + (tmp_path / "old.db-wal").read_bytes()
    found = RequestLog(store).claim("kiosk-1", "retry-key-0001", "another-fingerprint", "Idempotency-Key")
    assert isinstance(found, dict) and found["status"] == 201  # the first answer, not a 409
    store.close()
