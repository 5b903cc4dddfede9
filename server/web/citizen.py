"""The citizen's ticket page (/t/<id>, the QR code's target): public, phone-sized, no sign-in.

It shows only this ticket (the id is the secret) and polls its JSON; after the service it offers
the 补充评价 form while the period lasts, and, after a bad rating was handled, a rating of the fix.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from ..errors import NotFound
from ..tickets import GRADES, RATING_REASONS
from ..views import ticket_view

bp = Blueprint("citizen", __name__)


@bp.get("/t")
def find():
    """找回我的号: a closed ticket page is reopened by the ticket's code and the phone's last 4 digits
    (POST /api/v1/tickets/find, limited like appointment look-ups); an SMS link is /t/<id> itself."""
    engine = current_app.config["ENGINE"]
    # The hall's date, for the ticket saved on this phone: the phone's own date is in its own zone
    # (an Asia/Urumqi phone is still on yesterday until 02:00 Beijing) and clock.
    return render_template("ticket_find.html", hotline=engine.config.hotline, hall_day=engine.now().date().isoformat())


def missing_ticket():
    """The 404 a citizen sees (a mistyped or cut-off QR link): in Chinese, on the phone page, with
    what to do next, and no staff sign-in link."""
    return render_template("ticket_missing.html"), 404


@bp.get("/t/<ticket_id>")
def ticket(ticket_id: str):
    engine = current_app.config["ENGINE"]
    try:
        t = engine.ticket(ticket_id)
    except NotFound:
        return missing_ticket()
    data = ticket_view(engine, t, public=True, secret=True)
    data["case"] = current_app.config["CASES"].fix_status(ticket_id)
    return render_template("ticket.html", ticket=data, grades=GRADES, reasons=RATING_REASONS,
                           hotline=engine.config.hotline, callback_days=engine.config.rules.callback_working_days)
