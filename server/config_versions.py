"""The hall's configuration as numbered versions: change it live, see who changed what, restore.

Each version is the whole hall as a document of the TOML file's shape (hallq/hall_document.py,
without tokens, which stay in the file or the environment), with who, when, a note and the diff
against the version before. A change is checked by the same code as the file (hallq/config.py),
then applied between two engine actions (Engine.reconfigure), written in one transaction with its
`config.changed` event, which tells kiosks, displays and pages to re-read what they show.

At start-up the file counts when it changed since the last start (its digest is kept in
`settings`): it becomes a new version. Otherwise the latest version runs, so changes made in the
browser survive a restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hallq.config import ConfigError, check_hall
from hallq.config_zh import chinese
from hallq.hall_document import diff, document_of
from hallq.model import HallConfig

from .errors import Conflict, Invalid, NotFound
from .store import Changes, Store

log = logging.getLogger(__name__)
DIGEST_KEY = "config_file_digest"


class ConfigInvalid(Invalid):
    """422 naming the first key path at fault, with every problem found (one per key)."""

    code = "invalid_config"

    def __init__(self, error: ConfigError) -> None:
        first = error.problems[0]
        super().__init__(f"{first.key}: {first.message}" if first.key else first.message, field=first.key or "hall")
        self.problems = [{"field": p.key, "message": p.message, "message_zh": chinese(p.message) or p.message,
                          **({"line": p.line} if p.line else {})} for p in error.problems]

    def to_json(self) -> dict:
        return {**super().to_json(), "problems": self.problems}


def _digest(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


class ConfigBook:
    """The versions table and the running configuration's document."""

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now
        self.held = ""  # why the file's edit waits (set by `start`), "" when it applied or was unchanged

    # -- start-up ----------------------------------------------------------------------------

    def start(self, config: HallConfig, fits: Callable[[HallConfig], None] | None = None) -> HallConfig:
        """The configuration to run: `config` (from the file) if it is new or changed since the last
        start, recorded as a version; else the latest version, built with the file's tokens.
        `fits` refuses (Conflict) a file that would strand what is live — a ticket waiting for a
        matter or window the edited file removed, as a live change is refused: then the latest
        version runs and the file is tried again at the next start."""
        document = document_of(config)
        digest = _digest(document)
        latest = self.latest()
        kept = self.store.rows("SELECT value FROM settings WHERE key = ?", [DIGEST_KEY])
        changed = latest is None or not kept or kept[0]["value"] != digest
        if changed and latest is not None and fits is not None and latest["document"] != document:
            try:
                fits(config)
            except Conflict as exc:
                log.warning("%s changed, but %s (%s); running configuration version %s until then",
                            config.source, exc.message, exc.field, latest["version"])
                self.held = (f"配置文件 {Path(config.source or 'memory').name} 已修改，但仍有群众持号等候其删除的"
                             f"事项或窗口（{exc.field}）：仍按第 {latest['version']} 版运行，这些号办完后重启即生效")
                changed = False
        if changed:
            if latest is None or latest["document"] != document:
                self._write(document, f"file:{config.source or 'memory'}", "启动时从配置文件载入",
                            latest, digest=digest)
            else:
                self._remember_digest(digest)
            return config
        if latest["document"] == document:
            return config
        try:
            return self.build(latest["document"], config)
        except (ConfigError, Conflict) as exc:  # a version this code no longer accepts: the file runs
            log.warning("configuration version %s does not load (%s); running %s", latest["version"], exc,
                        config.source)
            return config

    # -- reading -----------------------------------------------------------------------------

    def latest(self) -> dict | None:
        rows = self.store.rows("SELECT * FROM config_versions ORDER BY version DESC LIMIT 1")
        return _decode(rows[0]) if rows else None

    def version(self, number: int) -> dict:
        rows = self.store.rows("SELECT * FROM config_versions WHERE version = ?", [number])
        if not rows:
            raise NotFound(f"no configuration version {number}", field="version")
        return _decode(rows[0])

    def versions(self, limit: int = 200) -> list[dict]:
        rows = self.store.rows("SELECT version, at, actor, note, diff FROM config_versions "
                               "ORDER BY version DESC LIMIT ?", [limit])
        return [{**r, "diff": json.loads(r["diff"])} for r in rows]

    # -- changing ----------------------------------------------------------------------------

    def build(self, document: dict, running: HallConfig) -> HallConfig:
        """A HallConfig from a document, with the running hall's tokens and source; ConfigError or
        Conflict (a token acts on a window or kiosk the document no longer has)."""
        config = check_hall({k: v for k, v in document.items() if k != "tokens"}, "hall")
        for t in running.tokens:
            if t.window is not None and t.window not in config.windows:
                raise Conflict(f"token {t.name} acts on window {t.window}: keep the window, or change the token in "
                               "the file first", field=f"windows[{t.window}]", code="in_use")
            if t.kiosk is not None and t.kiosk not in config.kiosks:
                raise Conflict(f"token {t.name} belongs to kiosk {t.kiosk}", field=f"kiosks[{t.kiosk}]", code="in_use")
        # Secrets are not in the document: the county and province links and the SMS gateway's secret stay the
        # running hall's (from its file or environment), like the tokens.
        sms = dataclasses.replace(config.sms, cmpp_secret=running.sms.cmpp_secret)
        return dataclasses.replace(config, tokens=running.tokens, source=running.source, county=running.county,
                                   province=running.province, sms=sms)

    def change(self, engine, document: dict, actor: str, note: str, based_on: int | None = None,
               then: Callable[[HallConfig], None] | None = None, guard: Callable[[dict], None] | None = None,
               settings: dict[str, str] | None = None) -> dict:
        """Check `document`, apply it live and record it as the next version; the version's row.
        `guard` may refuse the checked document (the county catalogue's locks); `settings` are
        written in the same transaction (the catalogue release the version applies)."""
        try:
            config = self.build(document, engine.config)
        except ConfigError as exc:
            raise ConfigInvalid(exc) from None
        document = document_of(config)  # every key written out, as the versions keep it
        if guard is not None:
            guard(document)
        made: dict = {}

        def changes() -> Changes:
            """Under the engine's lock: the version before is the one this change follows."""
            latest = self.latest()
            if based_on is not None and latest is not None and latest["version"] != based_on:
                raise Conflict(f"version {latest['version']} was saved by {latest['actor']} after version {based_on}, "
                               "which this change was made from: reload and make it again", field="based_on",
                               code="stale")
            if latest is not None and latest["document"] == document:
                raise _Unchanged(latest)
            ch, made["row"] = self._changes(document, actor, note, latest)
            for key, value in (settings or {}).items():
                ch.put("settings", {"key": key, "value": value})
            return ch

        try:
            engine.reconfigure(config, changes, then=(lambda: then(config)) if then else None)
        except _Unchanged as same:
            if settings:
                ch = Changes()
                for key, value in settings.items():
                    ch.put("settings", {"key": key, "value": value})
                self.store.commit(ch)
            return {**same.latest, "document": None, "unchanged": True}
        return made["row"]

    def _changes(self, document: dict, actor: str, note: str, latest: dict | None,
                 digest: str | None = None) -> tuple[Changes, dict]:
        at = self.now()
        number = (latest["version"] + 1) if latest else 1
        lines = diff(latest["document"], document) if latest else []
        row = {"version": number, "at": at.isoformat(), "actor": actor, "note": note or "", "diff": lines}
        ch = Changes()
        ch.put("config_versions", {**row, "document": json.dumps(document, ensure_ascii=False),
                                   "diff": json.dumps(lines, ensure_ascii=False)})
        if digest is not None:
            ch.put("settings", {"key": DIGEST_KEY, "value": digest})
        if digest is not None:  # at start-up: every client reads the hall afresh anyway, nobody to tell
            return ch, row
        ch.event(ts=at.isoformat(), type="config.changed", actor=actor, window=None, ticket_id=None,
                 ticket_code=None, service=None,
                 data={"version": number, "changes": len(lines), "keys": [line.split(":")[0] for line in lines[:20]]})
        return ch, row

    def _write(self, document: dict, actor: str, note: str, latest: dict | None, digest: str) -> None:
        ch, _ = self._changes(document, actor, note, latest, digest)
        self.store.commit(ch)

    def _remember_digest(self, digest: str) -> None:
        ch = Changes()
        ch.put("settings", {"key": DIGEST_KEY, "value": digest})
        self.store.commit(ch)


class _Unchanged(Exception):
    def __init__(self, latest: dict) -> None:
        super().__init__("unchanged")
        self.latest = latest


def _decode(row: dict) -> dict:
    return {**row, "document": json.loads(row["document"]), "diff": json.loads(row["diff"])}
