"""Web users, for admins: list, add, reset a password, disable or enable, unlock after failed sign-ins."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify

from ..auth import require
from ..errors import NotFound
from ..users import add_user, get_user, list_users, set_active, set_password
from . import schemas
from .body import json_body

bp = Blueprint("users", __name__)


def store():
    return current_app.config["ENGINE"].store


def view(user) -> dict:
    locked = current_app.config["SIGNIN_GUARD"].wait_minutes(user.username, "")
    return {**asdict(user), "role_name": user.role_name, "locked_minutes": locked}


def _user(username: str):
    user = get_user(store(), username)
    if user is None:
        raise NotFound(f"no user {username!r}", field="username")
    return user


@bp.get("/users")
@require("admin")
def index():
    return jsonify({"users": [view(u) for u in list_users(store())]})


@bp.post("/users")
@require("admin")
def add():
    data = json_body(schemas.UserAdd)
    user = add_user(store(), current_app.config["HALL"], data["username"], data["password"], data["role"],
                    staff=data.get("staff"), window=data.get("window"))
    return jsonify(view(user)), 201


@bp.post("/users/<username>/password")
@require("admin")
def password(username: str):
    data = json_body(schemas.Password)
    set_password(store(), username, data["password"])
    return jsonify(view(_user(username)))


@bp.post("/users/<username>/active")
@require("admin")
def active(username: str):
    data = json_body(schemas.Active)
    set_active(store(), username, data["active"])
    return jsonify(view(_user(username)))


@bp.post("/users/<username>/unlock")
@require("admin")
def unlock(username: str):
    json_body(schemas.NoBody)
    user = _user(username)
    current_app.config["SIGNIN_GUARD"].unlock(username)
    return jsonify(view(user))
