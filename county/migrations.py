"""Versioned schema migrations for the county's PostgreSQL: each step once, in order, in its own
transaction, under an advisory lock (two county processes starting together migrate once).

Add a new function to MIGRATIONS for every schema change; never edit a step that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

LOCK_KEY = 0x68616C6C71  # "hallq": the advisory lock migrations hold


def _v1(conn: psycopg.Connection) -> None:
    """Halls and their tokens, the shipped event logs partitioned by the halls' local month."""
    conn.execute("""
        CREATE TABLE halls (
            code text PRIMARY KEY,
            name text NOT NULL,
            high_water bigint NOT NULL DEFAULT 0,       -- the last event id applied: what the hall resumes after
            registered_at timestamptz NOT NULL DEFAULT now(),
            last_ingest_at timestamptz,                 -- the county's clock, never the hall's
            last_event_ts text                          -- the hall's own stamp of its newest event
        )""")
    conn.execute("""
        CREATE TABLE tokens (
            token_hash bytea PRIMARY KEY,               -- sha256 of a random 256-bit token; the token is never stored
            name text NOT NULL UNIQUE,
            role text NOT NULL CHECK (role IN ('hall', 'reader')),
            hall text REFERENCES halls (code),
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((role = 'hall') = (hall IS NOT NULL))
        )""")
    # One row per event of every hall. Partitioned by month of the hall's local day: reports read a
    # period's partitions only, and old months can be detached and archived whole. (hall, event_id)
    # is unique: the key holds `day` too (PostgreSQL wants the partition key in a unique index), and
    # the day of an event is a function of the event (server.stats.event_day), and ingest applies
    # only ids above the hall's high-water mark under that hall's row lock (county/ingest.py).
    conn.execute("""
        CREATE TABLE events (
            hall text NOT NULL REFERENCES halls (code),
            event_id bigint NOT NULL,
            day date NOT NULL,                          -- the hall's local day (server.stats.event_day)
            ts text NOT NULL,                           -- the hall's own timestamp, as written, with its offset
            received_at timestamptz NOT NULL DEFAULT now(),  -- the county's clock
            type text NOT NULL,
            actor text,
            window_number integer,
            ticket text,                                -- a pseudonym of the ticket id (the id is the citizen's secret)
            ticket_code text,
            service text,
            data jsonb NOT NULL,
            PRIMARY KEY (hall, day, event_id)
        ) PARTITION BY RANGE (day)""")
    conn.execute("CREATE INDEX events_hall_id ON events (hall, event_id)")
    conn.execute("""
        CREATE TABLE ingests (
            id bigserial PRIMARY KEY,
            hall text NOT NULL REFERENCES halls (code),
            after_id bigint NOT NULL,
            high_water bigint NOT NULL,
            applied integer NOT NULL,
            skipped integer NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute("CREATE INDEX ingests_hall ON ingests (hall, id)")


def _v2(conn: psycopg.Connection) -> None:
    """The catalogue (county/catalogue.py): releases, each hall's level and the release it reports
    running with its overrides; a token role that may publish releases."""
    conn.execute("ALTER TABLE halls ADD COLUMN level text NOT NULL DEFAULT 'township' "
                 "CHECK (level IN ('county', 'township', 'village'))")
    conn.execute("ALTER TABLE tokens DROP CONSTRAINT tokens_role_check")
    conn.execute("ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('hall', 'reader', 'catalogue'))")
    conn.execute("""
        CREATE TABLE catalogue_releases (
            number integer PRIMARY KEY,                 -- 1, 2, 3 … without gaps
            note text NOT NULL DEFAULT '',
            published_by text NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now(),
            matters jsonb NOT NULL,                     -- [{code, name, category, case_kind, promised_days, minutes, materials}]
            overridable jsonb NOT NULL                  -- {level: [minutes | windows | hours]}
        )""")
    conn.execute("""
        CREATE TABLE hall_catalogue (
            hall text PRIMARY KEY REFERENCES halls (code),
            release integer NOT NULL,                   -- 0: the hall runs no release yet
            overrides jsonb NOT NULL,
            reported_at timestamptz NOT NULL DEFAULT now()   -- the county's clock
        )""")


def _v3(conn: psycopg.Connection) -> None:
    """Figures per hall, day and dimension kept inside the ingest transaction (reports read thousands
    of rows, not millions of events); each hall's live state; the county's web users and sessions."""
    conn.execute("ALTER TABLE halls ADD COLUMN last_contact_at timestamptz")  # any request of its shipper
    # dim: 'hall' (the whole day, = server.stats.replay), 'service', 'department', 'staff'.
    conn.execute("""
        CREATE TABLE day_figures (
            hall text NOT NULL REFERENCES halls (code),
            day date NOT NULL,
            dim text NOT NULL,
            key text NOT NULL,
            name text NOT NULL DEFAULT '',
            issued integer NOT NULL, finished integer NOT NULL, no_shows integer NOT NULL,
            services_done integer NOT NULL, transfers integer NOT NULL,
            waits integer NOT NULL, wait_minutes_total double precision NOT NULL,
            ratings integer NOT NULL, good_ratings integer NOT NULL, bad_ratings integer NOT NULL,
            cases_opened integer NOT NULL, cases_closed integer NOT NULL,
            PRIMARY KEY (hall, day, dim, key)
        )""")
    conn.execute("CREATE INDEX day_figures_dim_day ON day_figures (dim, day)")
    conn.execute("""
        CREATE TABLE hall_live (
            hall text PRIMARY KEY REFERENCES halls (code),
            state jsonb NOT NULL,                        -- county/live.py: waiting, windows, alerts, estimates
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute("""
        CREATE TABLE county_users (
            username text PRIMARY KEY,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('director', 'supervisor', 'auditor')),
            password_hash text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute("""
        CREATE TABLE county_sessions (
            sid_hash bytea PRIMARY KEY,                 -- sha256 of the cookie's random session id
            username text NOT NULL REFERENCES county_users (username),
            address text NOT NULL DEFAULT '',
            opened_at timestamptz NOT NULL DEFAULT now(),
            seen_at timestamptz NOT NULL DEFAULT now(),
            ended_at timestamptz
        )""")


def _v4(conn: psycopg.Connection) -> None:
    """Cross-level referrals (帮办代办 / 就近办, county/referrals.py): the county's record of a
    matter one hall passes up to another, which both halls poll for (the county never calls a hall)."""
    conn.execute("""
        CREATE TABLE referrals (
            from_hall text NOT NULL REFERENCES halls (code),
            id text NOT NULL,                           -- made by the referring hall: its retries are one referral
            to_hall text REFERENCES halls (code),       -- routed by the county; NULL: no hall above serves the matter
            matter text NOT NULL,
            phone text NOT NULL,
            id_number text,                             -- only until the receiving hall has booked (then erased)
            sms boolean NOT NULL DEFAULT false,
            materials jsonb NOT NULL,                   -- the catalogue's materials, each ticked or not
            state text NOT NULL CHECK (state IN ('pending', 'booked', 'refused', 'served', 'no_show', 'not_done')),
            appointment text,                           -- the code, until the referring hall has seen it
            slot_start text,                            -- the receiving hall's time, as it wrote it
            reason text,
            from_seen text,                             -- the last state the referring hall took in
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (from_hall, id)
        )""")
    conn.execute("CREATE INDEX referrals_to ON referrals (to_hall, state)")
    conn.execute("CREATE INDEX referrals_unseen ON referrals (from_hall) WHERE state IS DISTINCT FROM from_seen")


def _v5(conn: psycopg.Connection) -> None:
    """差评 cases kept by the county (county/cases.py): the steps a county supervisor takes on a
    hall's case, numbered so the hall polls them in order; per hall, who owns its cases (as it last
    said) and the last step it has applied."""
    conn.execute("""
        CREATE TABLE county_case_steps (
            id bigserial PRIMARY KEY,                   -- the order the hall applies them in
            hall text NOT NULL REFERENCES halls (code),
            case_id integer NOT NULL,                   -- the hall's own case number
            action text NOT NULL,
            from_state text NOT NULL,
            to_state text NOT NULL,
            contact text,
            answer text,
            note text NOT NULL,
            by text NOT NULL,                           -- the county user
            at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute("CREATE INDEX county_case_steps_case ON county_case_steps (hall, case_id, id)")
    conn.execute("ALTER TABLE halls ADD COLUMN cases_owner text NOT NULL DEFAULT 'hall' "
                 "CHECK (cases_owner IN ('hall', 'county'))")
    conn.execute("ALTER TABLE halls ADD COLUMN case_mark bigint NOT NULL DEFAULT 0")


def _v6(conn: psycopg.Connection) -> None:
    """主动评价率 and 未评价率 per hall, day and dimension (county/rollup.py): the services rated on
    site and those the citizen did not rate; the days already kept are replayed again to fill them."""
    from .rollup import refresh

    conn.execute("ALTER TABLE day_figures ADD COLUMN rated_on_site integer NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE day_figures ADD COLUMN unrated integer NOT NULL DEFAULT 0")
    kept: dict[str, set] = {}
    for hall, day in conn.execute("SELECT hall, day FROM day_figures WHERE dim = 'hall'").fetchall():
        kept.setdefault(hall, set()).add(day)
    for hall, days in kept.items():
        refresh(conn, hall, days)


def _v7(conn: psycopg.Connection) -> None:
    """Each hall's live state digested for the page (county/live.py digest): the page reads this,
    never the state with its whole waiting list; the states already kept are digested now."""
    from psycopg.types.json import Jsonb

    from .live import digest

    conn.execute("ALTER TABLE hall_live ADD COLUMN summary jsonb")
    for hall, state in conn.execute("SELECT hall, state FROM hall_live").fetchall():
        conn.execute("UPDATE hall_live SET summary = %s WHERE hall = %s", [Jsonb(digest(state)), hall])


def _v8(conn: psycopg.Connection) -> None:
    """A hall restored from a backup (county/ingest.py, county/rebase.py): each event's SM3 link as the
    hall's chain sealed it (NULL for the events shipped before: not compared); a hall whose log no
    longer matches the county's (`diverged`, NULL while they agree); the county's events of a hall
    that a rebase took out of its history (kept, never counted); and who rebased which hall when.
    IF NOT EXISTS: a county whose earlier steps are replayed (tests/test_county_indicators.py) keeps them."""
    conn.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS link text")
    conn.execute("ALTER TABLE halls ADD COLUMN IF NOT EXISTS diverged jsonb")  # {at, after, high_water, reason, common}
    conn.execute("""
        CREATE TABLE IF NOT EXISTS rebases (
            id bigserial PRIMARY KEY,
            hall text NOT NULL REFERENCES halls (code),
            common bigint NOT NULL,                     -- the last event id the hall and the county share
            old_high_water bigint NOT NULL,
            archived integer NOT NULL,                  -- events moved to archived_events
            diverged jsonb,                             -- the divergence it resolved, as recorded
            by text NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute("""
        CREATE TABLE IF NOT EXISTS archived_events (
            rebase bigint NOT NULL REFERENCES rebases (id),
            hall text NOT NULL REFERENCES halls (code),
            event_id bigint NOT NULL,
            day date NOT NULL,
            ts text NOT NULL,
            received_at timestamptz NOT NULL,
            type text NOT NULL,
            actor text,
            window_number integer,
            ticket text,
            ticket_code text,
            service text,
            data jsonb NOT NULL,
            link text,
            PRIMARY KEY (rebase, event_id)
        )""")
    conn.execute("CREATE INDEX IF NOT EXISTS archived_events_hall ON archived_events (hall, event_id)")


# (number, step): numbered, so branches that add steps side by side keep their numbers.
MIGRATIONS: list[tuple[int, Callable[[psycopg.Connection], None]]] = [(1, _v1), (2, _v2), (3, _v3), (4, _v4), (5, _v5),
                                                                   (6, _v6), (7, _v7), (8, _v8)]


def migrate(conn: psycopg.Connection) -> int:
    """Bring the schema to the newest version; returns it. `conn` is in autocommit mode."""
    conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        version = int(row[0])
        for number, step in MIGRATIONS:
            if number <= version:
                continue
            with conn.transaction():
                step(conn)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [number])
            version = number
        return version
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
