"""The answer models of server/api/schemas.py are the answers: real tickets through every state,
a bundle, windows and the menu, read over HTTP and checked against their models (extra fields are
refused, so a view that drifts from its declaration fails here, where the fuzz test's random
requests rarely reach a ticket page)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hallfactory import small_hall
from liveserver import serve_app

from hallq.client import ApiClient
from server.api import schemas
from server.app import create_app


def test_real_answers_match_their_models(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "answers.db", supervise=False)
    with serve_app(app) as base:
        kiosk, w3, caller, public = (ApiClient(base, t) for t in ("t-kiosk", "t-w3", "t-caller", None))
        menu = schemas.Menu.model_validate(public.get("/services"))
        assert {row.kind for row in menu.services} == {"service", "bundle"}
        health = public.get("/health")
        schemas.Health.model_validate(health)
        stamps = datetime.fromisoformat(health["storage"]["since"]), datetime.fromisoformat(health["time"])
        assert stamps[0].utcoffset() == stamps[1].utcoffset()  # the hall's zone, not the machine's
        bundle = schemas.Ticket.model_validate(kiosk.post("/tickets", {"service": "B01"}))
        page = schemas.Ticket.model_validate(public.get(f"/tickets/{bundle.id}"))
        assert page.step is not None and page.step.of == 2 and page.position is not None and page.rating is not None
        w3.post("/windows/3/login", {"staff": "1003"})
        w3.post("/windows/3/call-next", {})
        called = schemas.Ticket.model_validate(public.get(f"/tickets/{bundle.id}"))
        assert called.state == "called" and called.window is not None
        window = schemas.WindowView.model_validate(w3.get("/windows/3"))
        assert window.current is not None and window.staff is not None and window.queue == []
        w3.post("/windows/3/start", {})
        w3.post("/windows/3/finish", {"outcome": "done"})
        w3.post("/windows/3/call-next", {})
        w3.post("/windows/3/start", {})
        w3.post("/windows/3/finish", {"outcome": "done"})
        caller.post("/ratings", {"grade": 5, "channel": "evaluator", "window": 3})
        done = schemas.Ticket.model_validate(public.get(f"/tickets/{bundle.id}"))
        assert done.state == "finished" and done.rating.can_rate and done.rating.until and done.outcome_name
        schemas.Windows.model_validate(w3.get("/windows"))
        window = schemas.WindowView.model_validate(w3.get("/windows/3"))
        assert window.last_service is not None


def test_every_answer_model_is_a_real_answer(tmp_path):
    """One walk through the hall's work (a 承诺件 served and rated badly, its case, the commitment, an
    alert raised, acknowledged and cleared, an appeal, SMS, a referral, users, config versions), each
    answer checked against its model; every model of schemas.ANSWERS must have met a real answer."""
    from datetime import timedelta

    from hallq.client import ApiError
    from server.users import add_user

    hall = small_hall(all_day=True)
    app = create_app(hall, tmp_path / "every.db", supervise=False)
    engine = app.config["ENGINE"]
    add_user(engine.store, hall, "sup1", "password1", "supervisor")  # a case's owner
    met: set[type] = set()

    def check(model, answer):
        met.add(model)
        return model.model_validate(answer)

    with serve_app(app) as base:
        admin, sup, kiosk, caller, public = (ApiClient(base, t) for t in ("t-admin", "t-sup", "t-kiosk", "t-caller", None))
        ticket = check(schemas.Ticket, kiosk.post("/tickets", {"service": "S201", "phone": "13800138000", "sms": True}))
        check(schemas.WindowAction, admin.post("/windows/1/login", {"staff": "1001"}))
        check(schemas.WindowAction, admin.post("/windows/1/call-next", {}))
        watch = check(schemas.SmsWatch, admin.get("/sms/watch"))
        assert watch.tickets[0].window == 1
        check(schemas.WindowAction, admin.post("/windows/1/start", {}))
        done = check(schemas.WindowAction, admin.post("/windows/1/finish", {"outcome": "accepted"}))
        assert done.record == 1 and done.ticket is not None
        day = done.ticket.finished_at[:10]  # the service's day, should midnight pass during the test
        check(schemas.CaseNumberAttached, admin.post("/windows/1/case-number", {"case_number": "BJ-2026-1"}))
        rated = check(schemas.RatingResult, caller.post("/ratings", {"grade": 1, "channel": "evaluator", "window": 1,
                                                                    "reason": "attitude"}))
        assert rated.rated and rated.grade == 1
        nobody = check(schemas.WindowAction, admin.post("/windows/1/call-next", {}))
        assert nobody.result == "nothing_to_do" and nobody.ticket is None and nobody.reason
        paused = check(schemas.WindowAction, admin.post("/windows/1/pause", {"reason": "meeting"}))
        assert paused.window.pause_reason == "meeting"
        check(schemas.WindowAction, admin.post("/windows/1/resume", {}))
        kiosk.post("/tickets", {"service": "S101"})
        check(schemas.WindowAction, admin.post("/windows/1/call-next", {}))
        check(schemas.Queue, admin.get("/queue"))
        check(schemas.Queue, admin.get("/queue?tickets=0"))
        check(schemas.StatsToday, admin.get("/stats/today"))

        raised = check(schemas.AlertReported, kiosk.post("/alerts", {"kind": "device_offline", "source": "strip:3",
                                                                     "active": True, "window": 1}))
        check(schemas.Alert, sup.post(f"/alerts/{raised.alert.id}/ack", {"note": "seen"}))
        other = kiosk.post("/alerts", {"kind": "printer_paper_low", "source": "kiosk:1", "active": True})
        acked = check(schemas.AlertsAcked, sup.post("/alerts/ack", {"alerts": [raised.alert.id, other["alert"]["id"]],
                                                                     "note": "seen"}))
        assert acked.skipped and acked.acked
        check(schemas.AlertReported, kiosk.post("/alerts", {"kind": "device_offline", "source": "strip:3",
                                                            "active": False}))
        assert any(a.cleared_at for a in check(schemas.Alerts, admin.get("/alerts?all=1")).alerts)

        case = check(schemas.Cases, sup.get("/cases?state=all")).cases[0]
        check(schemas.Case, sup.get(f"/cases/{case.id}"))
        check(schemas.CasePhone, sup.post(f"/cases/{case.id}/phone"))
        stepped = check(schemas.Case, sup.post(f"/cases/{case.id}/call-back",
                                               {"note": "回访", "contact": "phone", "answer": "satisfied"}))
        assert stepped.steps and stepped.callback_answer == "satisfied"
        assert check(schemas.FixStatus, public.get(f"/tickets/{ticket.id}/case")).case
        commitment = check(schemas.Commitments, sup.get("/commitments")).commitments[0]
        check(schemas.Commitment, sup.post(f"/commitments/{commitment.record_id}/done"))

        report = check(schemas.Report, sup.get(f"/reports?by=window&date={day}"))
        assert report.hours and report.honour is not None and report.rows
        check(schemas.Report, sup.get("/reports?by=department&period=month"))
        record = check(schemas.RatingRecords, sup.get(f"/rating-records?date={day}")).records[0]
        check(schemas.RatingIndicators, sup.get(f"/rating-indicators?group=window&date={day}"))
        appeal = check(schemas.Appeal, admin.post(f"/ratings/{record.id}/appeal", {"reason": "恶意差评"}))
        check(schemas.Appeals, sup.get("/appeals?state=all"))
        check(schemas.Appeal, sup.get(f"/appeals/{appeal.id}"))
        assert check(schemas.Appeal, sup.post(f"/appeals/{appeal.id}/reject", {"note": "不成立"})).state == "rejected"

        tomorrow = (engine.now() + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        booked = check(schemas.Appointment, admin.post("/appointments", {"service": "S101", "phone": "13900139000",
                                                                         "slot_start": tomorrow.isoformat(),
                                                                         "sms": True}))
        reminders = check(schemas.SmsReminders, admin.get(f"/sms/reminders?day={tomorrow.date().isoformat()}"))
        assert [r.code for r in reminders.appointments] == [booked.code]
        check(schemas.SwitchedOff, admin.post("/sms/opt-out", {"phone": "13900139000"}))
        check(schemas.SwitchedOff, public.post(f"/tickets/{ticket.id}/sms-opt-out"))
        # a referral as the county follower records one taken in (a live county is test_county_referral's)
        engine.record_referral({"direction": "in", "from_hall": "TOWN", "id": "r-1", "to_hall": "TEST",
                                "matter": "S101", "phone": "13700137000", "id_number": None, "sms": 0,
                                "materials": [{"name": "居民身份证", "checked": True}], "state": "booked",
                                "appointment": "Y001", "slot_start": tomorrow.isoformat(), "reason": None,
                                "created_at": engine.now().isoformat(), "synced": "booked"}, None)
        listed = admin.get("/referrals")
        assert check(schemas.Referrals, listed).referrals[0].at_county
        check(schemas.Referral, listed["referrals"][0])  # what POST /referrals answers, the same view

        check(schemas.Users, admin.get("/users"))
        check(schemas.User, admin.post("/users", {"username": "clerk9", "password": "password9", "role": "clerk",
                                                  "staff": "1002"}))
        check(schemas.User, admin.post("/users/clerk9/unlock"))
        check(schemas.ConfigVersions, admin.get("/config/versions"))
        assert check(schemas.MediaFiles, admin.get("/config/media")).files == []  # a hall not from a file
        check(schemas.ConfigVersionDetail, admin.get("/config/versions/1"))
        current = admin.get("/config")
        check(schemas.CurrentConfig, current)
        current["hall"]["hall"]["notice"] = "今日下午系统升级"
        changed = check(schemas.ConfigVersion, admin.post("/config", {"hall": current["hall"], "note": "notice"}))
        assert changed.version == 2 and changed.diff
        check(schemas.Menu, public.get("/services"))
        check(schemas.Windows, admin.get("/windows"))
        check(schemas.WindowView, admin.get("/windows/1"))
        check(schemas.Appointments, kiosk.get("/appointments?phone=13900139000"))
        check(schemas.CitizenTodayAnswer, kiosk.post("/citizens/today", {"id_number": "11010519491231002X"}))
        check(schemas.Health, public.get("/health"))
        check(schemas.Nearby, kiosk.get("/nearby"))  # no [county]: unlinked, empty (tests/test_nearby.py: linked)
        with pytest.raises(ApiError) as refused:
            public.get("/tickets/nope")
        check(schemas.Error, refused.value.body)
    met.add(schemas.Position)  # inside every waiting ticket's page (the test above)
    met.add(schemas.MediaUploaded)  # a hall with a media folder: tests/test_media_upload.py validates it
    assert set(schemas.ANSWERS) - met == set()
