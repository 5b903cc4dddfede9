"""The hall's configuration, live: read it, change it, its versions, restore one, TOML out and in.

Admin only (a bearer admin token, or a signed-in admin with the CSRF token). A change is the whole
hall in the TOML file's shape (GET /config gives it, the admin pages send it back edited); it is
checked like the file, applied between two engine actions and recorded as the next version.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from hallq.config import ConfigError, media_folder, parse_config
from hallq.hall_document import document_of, to_toml
from hallq.model import HallConfig
from hallq.schema import MEDIA_NAME, HallFile

from .. import body_limits, catalogue, media_upload
from ..auth import actor, require
from ..config_versions import ConfigInvalid
from ..errors import Conflict
from . import schemas
from .body import json_body
from .spec import spec

log = logging.getLogger(__name__)
bp = Blueprint("config", __name__)
WRITE_SAYS = "the new version (201), or the latest one when nothing changed (200)"
WRITE_ERRORS = (401, 403, 404, 409, 422)
GO_AHEAD = ("", 204, {body_limits.GATE_OPEN: "1"})  # the gate's yes: the front reads the body now


def book():
    return current_app.config["CONFIG_VERSIONS"]


def engine():
    return current_app.config["ENGINE"]


def gate_open(view):
    """For a gated route (server/body_limits.py): the front first runs the view with no body and the
    gate flag; past `require` (an admin), the go-ahead, and only then is the body read and the view
    run again with it."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return GO_AHEAD if request.environ.get(body_limits.GATE) else view(*args, **kwargs)
    return wrapper


def apply(document: dict, note: str, based_on: int | None) -> tuple[dict, int]:
    """Check, apply live, record; the new version (201) or the unchanged latest one (200)."""
    running = catalogue.applied(book().store)
    row = book().change(engine(), document, actor(), note, based_on, then=current_app.config["ON_RECONFIGURE"],
                        guard=lambda checked: catalogue.check(checked, running))
    if row.get("unchanged"):
        return {"version": row["version"], "at": row["at"], "actor": row["actor"], "note": row["note"],
                "diff": []}, 200
    return row, 201


@bp.get("/config")
@spec("The running hall, in the TOML file's shape (no tokens), and its version", answer=schemas.CurrentConfig,
      says="the hall", errors=(401, 403))
@require("admin")
def show():
    latest = book().latest()
    return jsonify({"version": latest["version"] if latest else 0, "hall": document_of(engine().config)})


@bp.post("/config")
@spec("Change the whole hall live: checked like the file (422 lists every problem), applied between two engine "
      "actions, recorded as the next version with who, when and the diff; 409 when a matter or window in use would "
      "go, or `based_on` is not the latest; 403 county_catalogue when it changes what the county's catalogue "
      f"release fixes; the body up to {body_limits.CONFIG_BYTES // (1024 * 1024)} MiB, read once the caller is known "
      "to be an admin", body=schemas.ConfigChange, answer=schemas.ConfigVersion, says=WRITE_SAYS, status=201,
      also={200: WRITE_SAYS}, errors=(*WRITE_ERRORS, 413))
@require("admin")
@gate_open
def change():
    data = json_body()
    body, status = apply(data["hall"], data.get("note", ""), data.get("based_on"))
    return jsonify(body), status


@bp.get("/config/schema")
@spec("The JSON schema of a hall: labels, units, ranges (the admin forms)", says="JSON schema", errors=(401, 403))
@require("admin")
def json_schema():
    """The JSON schema of a hall (labels, units, ranges): what the admin forms are drawn from."""
    return jsonify(HallFile.model_json_schema())


@bp.get("/config/media")
@spec("The pictures the hall display could show (hall.media is chosen from them)", answer=schemas.MediaFiles,
      says="the pictures in the media folder", errors=(401, 403))
@require("admin")
def media_files():
    """What is in media/ beside the config file: the editor offers these for hall.media (put there by
    an upload below, by hand or by the hall's file share)."""
    return jsonify(_media_listing())


def _media_listing() -> dict:
    folder = media_folder(engine().config.source)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and re.match(MEDIA_NAME, p.name)) \
        if folder is not None and folder.is_dir() else []
    return {"files": names, "folder": str(folder) if folder is not None else None}


def _media_folder() -> Path:
    folder = media_folder(engine().config.source)
    if folder is None:
        raise Conflict("this hall was not loaded from a config file, so it has no media folder", field="name")
    return folder


def _picture_body(op: dict, config) -> None:
    """The upload's body is the picture itself, not JSON."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    op["requestBody"] = {"required": True, "content": {"image/png": binary, "image/jpeg": binary}}


MEDIA_NAME_PARAM = {"name": {"type": "string", "pattern": MEDIA_NAME, "maxLength": 100}}


@bp.post("/config/media/<name>")
@spec("Upload a picture for the hall display into the media folder (the body is the PNG or JPEG file itself, "
      f"at most {body_limits.MEDIA_UPLOAD_BYTES // (1024 * 1024)} MiB, read only once the caller is known to be an "
      f"admin; {media_upload.MIN_SIDE}–{media_upload.MAX_SIDE} pixels a side); then offered for hall.media. 409 "
      "when the name is taken or the hall has no media folder", answer=schemas.MediaUploaded,
      says="the picture, and the folder after", status=201, errors=(401, 403, 409, 413, 422),
      path=MEDIA_NAME_PARAM, hook=_picture_body)
@require("admin")
def upload_media(name: str):
    """The front (server/front.py) first runs this with no body and the gate flag: an admin gets the
    go-ahead (204) once the name and the folder are right, and only then is the body read and this
    run again with it."""
    media_upload.check_name(name)
    folder = _media_folder()
    if request.environ.get(body_limits.GATE):
        return GO_AHEAD
    picture = media_upload.save(folder, name, request.get_data(cache=False))
    log.info("%s uploaded media/%s (%s %d×%d, %d bytes)", actor(), name, picture.format, picture.width,
             picture.height, picture.bytes)
    return jsonify({**_media_listing(), "name": picture.name, "format": picture.format, "width": picture.width,
                    "height": picture.height, "bytes": picture.bytes}), 201


@bp.post("/config/media/<name>/delete")
@spec("Delete a picture from the media folder; 409 while the running hall shows it (hall.media)", body=schemas.NoBody,
      answer=schemas.MediaFiles, says="the folder after", errors=(401, 403, 404, 409, 422), path=MEDIA_NAME_PARAM)
@require("admin")
def delete_media(name: str):
    media_upload.delete(media_folder(engine().config.source), name, engine().config.media)
    log.info("%s deleted media/%s", actor(), name)
    return jsonify(_media_listing())


@bp.get("/config/versions")
@spec("Every version, newest first, with who, when, note and diff", answer=schemas.ConfigVersions, says="versions",
      errors=(401, 403))
@require("admin")
def versions():
    return jsonify({"versions": book().versions()})


@bp.get("/config/versions/<int:number>")
@spec("One version with its whole hall", answer=schemas.ConfigVersionDetail, says="the version",
      errors=(401, 403, 404))
@require("admin")
def version(number: int):
    return jsonify(book().version(number))


@bp.post("/config/versions/<int:number>/restore")
@spec("Make an older version the running one (recorded as a new version)", body=schemas.Restore,
      answer=schemas.ConfigVersion, says=WRITE_SAYS, status=201, also={200: WRITE_SAYS}, errors=WRITE_ERRORS)
@require("admin")
def restore(number: int):
    data = json_body()
    old = book().version(number)
    body, status = apply(old["document"], data.get("note") or f"恢复第 {number} 版", None)
    return jsonify(body), status


@bp.get("/config/export")
@spec("The running hall as a TOML file (tokens are not included)", says="TOML",
      content={"application/toml": {"schema": {"type": "string"}}}, errors=(401, 403))
@require("admin")
def export():
    """The running hall as a TOML file (tokens stay where they are: in the file or the environment)."""
    config: HallConfig = engine().config
    latest = book().latest()
    text = to_toml(document_of(config), f"{config.name} — configuration version {latest['version'] if latest else 0}\n"
                                        "exported by hallq; tokens are not included")
    return Response(text, mimetype="application/toml",
                    headers={"Content-Disposition": f'attachment; filename="{config.code}.toml"'})


@bp.post("/config/import")
@spec("A whole hall as TOML text: checked with the line of every problem, applied like a change; the body up to "
      f"{body_limits.CONFIG_BYTES // (1024 * 1024)} MiB, read once the caller is known to be an admin",
      body=schemas.ConfigImport, answer=schemas.ConfigVersion, says=WRITE_SAYS, status=201, also={200: WRITE_SAYS},
      errors=(*WRITE_ERRORS, 413))
@require("admin")
@gate_open
def import_toml():
    """A whole hall as TOML text ({"toml": ...}); checked with file, line and key of every problem."""
    data = json_body()
    try:
        parsed = parse_config(data["toml"], "import.toml", environ={})
    except ConfigError as exc:
        problems = [p for p in exc.problems if not p.key.startswith("tokens")]  # tokens are not imported
        if problems:
            raise ConfigInvalid(ConfigError(problems)) from None
        parsed = parse_config(_without_tokens(data["toml"]), "import.toml")
    body, status = apply(document_of(parsed), data.get("note") or "从 TOML 文件导入", data.get("based_on"))
    return jsonify(body), status


def _without_tokens(text: str) -> str:
    import tomllib

    from hallq.hall_document import to_toml as write

    return write({k: v for k, v in tomllib.loads(text).items() if k != "tokens"})
