"""The answer models of server/api/schemas.py are the answers: real tickets through every state,
a bundle, windows and the menu, read over HTTP and checked against their models (extra fields are
refused, so a view that drifts from its declaration fails here, where the fuzz test's random
requests rarely reach a ticket page)."""

from __future__ import annotations

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
        schemas.Health.model_validate(public.get("/health"))
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
