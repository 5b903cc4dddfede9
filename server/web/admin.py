"""The admin pages: an overview of the hall's configuration and users, and the configuration editor
(its forms are drawn by admin_config.js from the hall's JSON schema, saved through /api/v1/config)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from ..users import USER_ROLES, list_users
from ..workdays import calendar_version
from .access import login_required

bp = Blueprint("admin", __name__)


@bp.get("/admin")
@login_required("admin")
def show():
    config = current_app.config["HALL"]
    return render_template("admin.html", config=config, users=list_users(current_app.config["ENGINE"].store),
                           user_roles=USER_ROLES, calendar_version=calendar_version())


@bp.get("/admin/config")
@login_required("admin")
def edit():
    return render_template("admin_config.html")
