"""The hall's configuration, live: read it, change it, its versions, restore one, TOML out and in.

Admin only (a bearer admin token, or a signed-in admin with the CSRF token). A change is the whole
hall in the TOML file's shape (GET /config gives it, the admin pages send it back edited); it is
checked like the file, applied between two engine actions and recorded as the next version.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify

from hallq.config import ConfigError, media_folder, parse_config
from hallq.hall_document import document_of, to_toml
from hallq.model import HallConfig
from hallq.schema import MEDIA_NAME, HallFile

from .. import catalogue
from ..auth import actor, require
from ..config_versions import ConfigInvalid
from . import schemas
from .body import json_body
from .spec import spec

bp = Blueprint("config", __name__)
WRITE_SAYS = "the new version (201), or the latest one when nothing changed (200)"
WRITE_ERRORS = (401, 403, 404, 409, 422)


def book():
    return current_app.config["CONFIG_VERSIONS"]


def engine():
    return current_app.config["ENGINE"]


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
      "release fixes", body=schemas.ConfigChange, answer=schemas.ConfigVersion, says=WRITE_SAYS, status=201, also={200: WRITE_SAYS}, errors=WRITE_ERRORS)
@require("admin")
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
    """What is in media/ beside the config file: the editor offers these for hall.media (files are put
    there by hand or by the hall's file share; the API takes no uploads past its 64 KiB body limit)."""
    folder = media_folder(engine().config.source)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and re.match(MEDIA_NAME, p.name)) \
        if folder is not None and folder.is_dir() else []
    return jsonify({"files": names, "folder": str(folder) if folder is not None else None})


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
@spec("A whole hall as TOML text: checked with the line of every problem, applied like a change",
      body=schemas.ConfigImport, answer=schemas.ConfigVersion, says=WRITE_SAYS, status=201, also={200: WRITE_SAYS}, errors=WRITE_ERRORS)
@require("admin")
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
