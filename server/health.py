"""`/api/v1/health`: answered from memory only, so it stays fast while the disk is full or another
process holds the database's write lock; `storage` says which, and `ok` is false while it lasts.
With [county], `county` is the event log's link up (server/county_link.py: state, events the county
does not hold yet, its last answer; a long outage is an alert on the board). With [province],
`province` is the platform link's state (server/province_link.py): records in the outbox, rejected
ones, the last success; an outage is also a red alert on the board."""

from __future__ import annotations

from collections.abc import Mapping

from .engine import Engine


def health_view(engine: Engine, app_config: Mapping | None = None) -> dict:
    storage = engine.store.state.view()
    view = {"ok": storage["state"] == "ok", "hall": engine.config.code, "time": engine.now().isoformat(),
            "last_event_id": engine.store.last_committed_id, "storage": storage}
    province = app_config.get("PROVINCE") if app_config is not None else None
    if province is not None:
        view["province"] = province.status()  # from memory too
    county = app_config.get("COUNTY_LINK") if app_config is not None else None
    if county is not None:
        view["county"] = county.status()  # the shipper's last round (server/county_link.py)
    return view
