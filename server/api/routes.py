"""Which blueprints make up /api/v1: the app registers them, the OpenAPI document walks them."""

from __future__ import annotations

from flask import Blueprint

API = "/api/v1"


def blueprints() -> tuple[Blueprint, ...]:
    """Imported when asked, so server/openapi.py (imported by the status blueprint) can use this too."""
    from . import (
        alerts,
        appeals,
        cases,
        config,
        events,
        ratings,
        referrals,
        reports,
        sms,
        status,
        tickets,
        users,
        windows,
    )

    return (tickets.bp, windows.bp, ratings.bp, events.bp, status.bp, cases.bp, alerts.bp, reports.bp, config.bp,
            users.bp, sms.bp, appeals.bp, referrals.bp)
