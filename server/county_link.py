"""The threads that link a hall to its county (`[county]`): the shipper (event log up) and the
followers (catalogue releases, referrals, 差评 case steps, 附近大厅 wait figures), with their poll
options — one place for `hallq serve` and `hallq demo`, so a demo hall is linked as a real one."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hallq.model import HallConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalogue-poll", type=seconds_up_to_hour, default=30.0, metavar="SECONDS",
                        help="with [county]: how often to ask the county for a newer catalogue release (default 30)")
    parser.add_argument("--referral-poll", type=seconds_up_to_hour, default=5.0, metavar="SECONDS",
                        help="with [county]: how often to exchange cross-level referrals with the county (default 5)")
    parser.add_argument("--case-poll", type=seconds_up_to_hour, default=10.0, metavar="SECONDS",
                        help="with [county]: how often to take the county's steps on 差评 cases (default 10)")
    parser.add_argument("--nearby-poll", type=seconds_up_to_hour, default=30.0, metavar="SECONDS",
                        help="with [county]: how often to take every centre's wait figures for 附近大厅 (default 30)")
    parser.add_argument("--no-ship", action="store_true",
                        help="with [county]: do not ship the event log from this process (a `hallq ship` does)")


def seconds_up_to_hour(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be 0.1–3600 seconds")
    return value


def start(app, config: HallConfig, db: str, args: argparse.Namespace) -> Callable[[], None]:
    """Start the link's threads when the config has [county]; returns what stops them."""
    if config.county is None:
        return lambda: None
    from .case_follower import CaseFollower
    from .catalogue_follower import CatalogueFollower
    from .nearby import NearbyFollower
    from .referral_follower import ReferralFollower
    from .shipper import Shipper

    url, token = config.county.url, config.county.token
    threads: list = [] if args.no_ship else [Shipper(db, url, token).start()]
    threads += [CatalogueFollower(app, url, token, args.catalogue_poll).start(),  # releases down, applied live
                ReferralFollower(app, url, token, args.referral_poll).start(),  # referrals both ways
                CaseFollower(app, url, token, args.case_poll).start(),  # the county's steps on its cases
                NearbyFollower(app, url, token, args.nearby_poll).start()]  # every centre's wait, for kiosks

    def stop() -> None:
        for thread in threads:
            thread.stop()

    return stop
