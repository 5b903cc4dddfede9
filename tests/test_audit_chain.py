"""The SM3 chain over ratings, 差评 case steps, 申诉复核 appeals, 办件编号 and events: intact after real hall work; any edit,
deletion, smuggled row or cut tail named by `hallq audit verify`; raised as an alert; retention
purges old rows behind an anchor and the rest still verifies."""

import hashlib
import sqlite3
from datetime import datetime, timedelta

import pytest
from webhall import TZ, make_app, serve_one

from hallq.cli import main
from server import audit_chain
from server.rating_record import attach_case_number


def test_sm3_is_the_national_hash():
    # GB/T 32905-2016 appendix A, example 1
    assert audit_chain.sm3(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert hashlib.new("sm3", b"abcd" * 16).hexdigest().startswith("debe9ff9")


@pytest.fixture
def hall(tmp_path):
    app = make_app(tmp_path / "hall.db")
    engine = app.config["ENGINE"]
    serve_one(engine, window=1, staff="1001")
    attach_case_number(engine, engine.store, 1, "BJ-2026-000123", "w1")
    engine.rate(2, "evaluator", window=1, reason="attitude")  # opens a 差评 case
    serve_one(engine, window=1, staff="1001")
    engine.rate(5, "evaluator", window=1)
    app.config["CASES"].act(1, "call-back", "sup", "已回访", contact="phone", answer="satisfied")
    appeals = app.config["APPEALS"]
    appeals.file(1, "w1", 1, "群众误按", "监控录像", None)
    appeals.decide(1, True, "录像核实，属误评", "sup")
    engine.store.close()
    return tmp_path / "hall.db"


def tamper(path, *sql):
    conn = sqlite3.connect(path, isolation_level=None)
    for s in sql:
        conn.execute(s)
    conn.close()


def verify(path, capsys):
    code = main(["audit", "verify", "--db", str(path)])
    return code, capsys.readouterr().out


def test_hall_work_is_chained_and_intact(hall, capsys):
    conn = sqlite3.connect(hall)
    tables = {t for (t,) in conn.execute("SELECT DISTINCT tbl FROM audit_chain")}
    assert tables == {"events", "ratings", "case_steps", "appeals", "case_numbers"}
    assert conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 2
    code, out = verify(hall, capsys)
    assert code == 0 and "intact" in out


@pytest.mark.parametrize("sql, table, what", [
    (["UPDATE ratings SET grade = 5 WHERE id = 1"], "ratings row 1", "edited"),
    (["DELETE FROM case_steps WHERE id = 2"], "case_steps row 2", "deleted"),
    (["INSERT INTO ratings (record_id, grade, rated_at) VALUES (99, 5, '2026-11-24T10:00:00+08:00')"],
     "ratings row 3", "not in the chain"),
    (["UPDATE appeals SET state = 'rejected' WHERE id = 1"], "appeals row 1", "edited"),
    (["DELETE FROM appeals WHERE id = 1"], "appeals row 1", "deleted"),
    (["UPDATE case_numbers SET case_number = 'BJ-X' WHERE record_id = 1"], "case_numbers row 1", "edited"),
    (["DELETE FROM case_numbers"], "case_numbers row 1", "deleted"),
    (["INSERT INTO case_numbers VALUES (2, 'BJ-2', 'w1', '2026-11-23T10:00:00+08:00')"], "case_numbers row 2",
     "not in the chain"),
    (["DROP TRIGGER events_no_update", "UPDATE events SET actor = 'x' WHERE id = 3"], "events row 3", "edited"),
    (["DROP TRIGGER audit_chain_no_update", "UPDATE audit_chain SET digest = 'f' WHERE seq = 4"],
     "audit_chain row 4", "chain edited"),
    (["DROP TRIGGER events_no_delete", "DROP TRIGGER audit_chain_no_delete",
      "DELETE FROM audit_chain WHERE seq = (SELECT MAX(seq) FROM audit_chain)",
      "DELETE FROM events WHERE id = (SELECT MAX(id) FROM events)"], "events row", "cut from the end"),
])
def test_every_kind_of_tampering_is_named(hall, capsys, sql, table, what):
    tamper(hall, *sql)
    code, out = verify(hall, capsys)
    assert code == 1
    line = next(x for x in out.splitlines() if what in x)
    assert line.startswith(f"{hall}: {table}")


def test_supervision_raises_a_broken_chain_as_an_alert(tmp_path):
    from server.supervision import check_audit

    app = make_app(tmp_path / "hall.db")
    engine, board = app.config["ENGINE"], app.config["ALERTS"]
    serve_one(engine)
    engine.rate(5, "evaluator", window=1)
    assert check_audit(engine, board) == []
    tamper(tmp_path / "hall.db", "UPDATE ratings SET grade = 1 WHERE id = 1")
    check_audit(engine, board)
    [alert] = [a for a in board.active() if a["kind"] == "audit"]
    assert alert["level"] == "red" and "ratings row 1" in alert["message"]
    engine.store.close()


def test_retention_purges_behind_an_anchor_and_later_work_still_verifies(hall, capsys):
    conn = sqlite3.connect(hall, isolation_level=None)
    last = datetime.fromisoformat(conn.execute("SELECT MAX(ts) FROM events").fetchone()[0])
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    done = audit_chain.purge(conn, last + timedelta(seconds=1), last + timedelta(days=190))
    left = conn.execute("SELECT type FROM events").fetchall()
    conn.close()
    assert done["purged"] == {"events": events, "ratings": 2, "case_steps": 4, "appeals": 1, "case_numbers": 1}
    assert left == [("audit.purged",)]  # the anchor, chained and shipped like any event
    code, out = verify(hall, capsys)
    assert code == 0, out
    tamper(hall, "UPDATE audit_anchors SET link = 'x'")
    code, out = verify(hall, capsys)
    assert code == 1 and "chain edited" in out


def test_purge_refuses_a_chain_that_does_not_verify(hall):
    tamper(hall, "UPDATE ratings SET grade = 5 WHERE id = 1")
    conn = sqlite3.connect(hall, isolation_level=None)
    with pytest.raises(ValueError, match="does not verify"):
        audit_chain.purge(conn, datetime(2030, 1, 1, tzinfo=TZ), datetime(2030, 7, 1, tzinfo=TZ))
    assert conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 2
    conn.close()


def test_migration_17_chains_the_appeals_and_case_numbers_stored_before(tmp_path, capsys):
    from olddb import database_before

    from server.store import Store

    path = tmp_path / "old.db"
    db = database_before(path, 17)
    db["case_numbers"].insert({"record_id": 1, "case_number": "BJ-1", "attached_by": "w1",
                               "attached_at": "2026-11-23T09:10:00+08:00"})
    db["appeals"].insert({"id": 1, "rating_id": 1, "record_id": 1, "window": 1, "reason": "误按", "filed_by": "w1",
                          "filed_at": "2026-11-23T09:20:00+08:00", "state": "upheld"})
    db.conn.commit()
    db.close()
    Store(path).close()
    code, out = verify(path, capsys)
    assert code == 0, out
    conn = sqlite3.connect(path)
    assert {t for (t,) in conn.execute("SELECT tbl FROM audit_chain")} == {"appeals", "case_numbers"}
    conn.close()
    tamper(path, "UPDATE appeals SET state = 'filed'")
    code, out = verify(path, capsys)
    assert code == 1 and "appeals row 1" in out
