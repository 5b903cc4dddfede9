"""`/api/v1/health`: answered from memory only, so it stays fast while the disk is full or another
process holds the database's write lock; `storage` says which, and `ok` is false while it lasts."""

from __future__ import annotations

from .engine import Engine


def health_view(engine: Engine) -> dict:
    storage = engine.store.state.view()
    return {"ok": storage["state"] == "ok", "hall": engine.config.code, "time": engine.now().isoformat(),
            "last_event_id": engine.store.last_committed_id, "storage": storage}
