"""Web users, for admins: list, add, reset a password, disable or enable, unlock after failed sign-ins."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify

from ..auth import require
from ..errors import NotFound
from ..users import add_user, get_user, list_users, set_active, set_password
from . import schemas
from .body import json_body
from .spec import spec

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
@spec("Web users, with minutes still locked after failed sign-ins", answer=schemas.Users, says="users",
      errors=(401, 403))
@require("admin")
def index():
    return jsonify({"users": [view(u) for u in list_users(store())]})


@bp.post("/users")
@spec("Add a web user (a clerk needs a staff number of the hall)", body=schemas.UserAdd, answer=schemas.User,
      says="the user", status=201, errors=(401, 403, 409, 422))
@require("admin")
def add():
    data = json_body()
    user = add_user(store(), current_app.config["HALL"], data["username"], data["password"], data["role"],
                    staff=data.get("staff"), window=data.get("window"))
    return jsonify(view(user)), 201


@bp.post("/users/<username>/password")
@spec("Reset a password; every session of the user ends", body=schemas.Password, answer=schemas.User,
      says="the user", errors=(401, 403, 404, 422))
@require("admin")
def password(username: str):
    data = json_body()
    set_password(store(), username, data["password"])
    return jsonify(view(_user(username)))


@bp.post("/users/<username>/active")
@spec("Disable (ends every session) or enable a user", body=schemas.Active, answer=schemas.User, says="the user",
      errors=(401, 403, 404, 422))
@require("admin")
def active(username: str):
    data = json_body()
    set_active(store(), username, data["active"])
    return jsonify(view(_user(username)))


@bp.post("/users/<username>/unlock")
@spec("Let a name locked by failed sign-ins try again now", body=schemas.NoBody, answer=schemas.User,
      says="the user", errors=(401, 403, 404, 422))
@require("admin")
def unlock(username: str):
    json_body()
    user = _user(username)
    current_app.config["SIGNIN_GUARD"].unlock(username)
    return jsonify(view(user))
