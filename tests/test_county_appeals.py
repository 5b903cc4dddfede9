"""The county's figures of a hall take 申诉复核 and default ratings as the hall does: a rating an upheld
appeal took out leaves the county's day figures and live 好评率 too, and a default 基本满意 rating a
week later counts for its service's day, so the hall's indicators and the county's agree."""

from datetime import timedelta

from hallfactory import small_hall
from webhall import MONDAY_9AM, serve_one

from county import registry
from county.app import create_app as county_app
from county.app import stop_app as stop_county
from county.serve import BackgroundCounty
from server.app import create_app
from server.clock import ManualClock
from server.rating_record import indicators
from server.shipper import Shipper


def ship(base, hall_db, token):
    shipper = Shipper(hall_db, base, token, batch=50)
    while shipper.step():
        pass
    shipper.stop()


def county_day(db, day):
    with db.connection() as conn:
        row = conn.execute("SELECT ratings, good_ratings, bad_ratings FROM day_figures "
                           "WHERE hall = 'QS' AND dim = 'hall' AND day = %s", [day]).fetchone()
        [state] = conn.execute("SELECT state FROM hall_live WHERE hall = 'QS'").fetchone()
    return tuple(row), state


def test_hall_and_county_agree_after_an_upheld_appeal_and_a_default_rating(pg_url, tmp_path):
    capp = county_app(pg_url)
    server = BackgroundCounty(capp).start()
    db = capp.config["DB"]
    token = registry.add_hall(db, "QS", "青石镇便民服务中心")
    # no users added: their sign-up events carry the real date, and the county's live day is the newest
    app = create_app(small_hall(), tmp_path / "hall.db", clock=ManualClock(MONDAY_9AM), supervise=False)
    engine, store = app.config["ENGINE"], app.config["ENGINE"].store
    try:
        for grade in (5, 1, 4):
            serve_one(engine)
            engine.rate(grade, "evaluator", window=1, **({"reason": "attitude"} if grade == 1 else {}))
        serve_one(engine)  # never rated: 基本满意 by default a week later
        day = engine.now().date()
        nxt = (day + timedelta(days=1)).isoformat()
        bad = store.rows("SELECT id FROM ratings WHERE grade = 1")[0]["id"]
        appeals = app.config["APPEALS"]
        appeals.file(bad, "w1", 1, "群众误按", "监控录像", None)
        appeals.decide(1, True, "录像核实，属误评", "sup")
        ship(server.url, tmp_path / "hall.db", token)
        hall = indicators(store, day.isoformat(), nxt, "hall")["all"]
        assert (hall["ratings"], hall["good_rate"]) == (2, 1.0)
        (ratings, good, bad_n), state = county_day(db, day)
        assert (ratings, good, bad_n) == (2, 2, 0)  # before the fix: 3 ratings, 1 bad
        assert (state["ratings"], state["good"]) == (2, 2), state
        engine.clock.advance(minutes=8 * 24 * 60)
        assert engine.rate_by_default(3, 7) == 1
        ship(server.url, tmp_path / "hall.db", token)
        hall = indicators(store, day.isoformat(), nxt, "hall")["all"]
        (ratings, good, bad_n), state = county_day(db, day)
        assert (hall["ratings"], hall["good_rate"]) == (ratings, good / ratings) == (3, 1.0)
        assert state["day"] == day.isoformat() and (state["ratings"], state["good"]) == (3, 3)  # the service's day
    finally:
        store.close()
        server.stop()
        stop_county(capp)
