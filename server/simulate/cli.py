"""`hallq simulate`: simulate whole hall days under each allocation policy and print the figures."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from hallq.config import load_or_exit

from . import compare
from .arrivals import Assumptions, load_profile, offered_load, tickets_per_day
from .policies import BASELINES, POLICIES
from .report import render
from .whatif import cross_trained

ALL = (*BASELINES, "pooled")


def _number(low: float, high: float | None = None, above: bool = False):
    """An argparse type: a float in low..high (`above`: more than low), so a bad value is a one-line
    usage error naming the flag ("--green-share 2" ran as a share of 200%), never a silent oddity."""
    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ((x > low if above else x >= low) and (high is None or x <= high)):  # NaN fails too
            want = f"{low:g}..{high:g}" if high is not None else f"{'more than' if above else 'at least'} {low:g}"
            raise argparse.ArgumentTypeError(f"{text}: must be {want}")
        return x
    return parse


SHARE = _number(0.0, 1.0)
MINUTES = _number(0.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="hall configuration (TOML)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same day")
    parser.add_argument("--policy", action="append", choices=[*POLICIES, "all"],
                        help="policy to run (repeatable); default all: separate, bind, pooled-fcfs, "
                             "scarcity-fcfs, lqf, gcmu, hallq and the fully pooled lower bound `pooled`")
    parser.add_argument("--days", type=int, default=1,
                        help="working days to simulate (default 1; the days the hall opens: weekends, 法定节假日 "
                             "with official_holidays and closed special days skipped)")
    parser.add_argument("--day-profile", default="county",
                        help="arrival intensity by hour: county (morning peak), flat, 8=0.8,9=1.6,… or a "
                             ".json/.toml file of hour -> weight")
    volume = parser.add_mutually_exclusive_group()
    volume.add_argument("--per-day", type=_number(0.0, above=True), help="expected tickets a day")
    volume.add_argument("--load", type=_number(0.0, above=True), default=0.55,
                        help="offered load when --per-day is not given (default 0.55: ~700 a day in the demo hall)")
    parser.add_argument("--green-share", type=SHARE, default=0.08, help="share of 绿色通道 tickets")
    parser.add_argument("--appointment-share", type=SHARE, default=0.05, help="share of appointment tickets")
    parser.add_argument("--no-show-share", type=SHARE, default=0.04, help="share of citizens who never come")
    parser.add_argument("--service", choices=["lognormal", "exponential"], default="lognormal",
                        help="distribution of service times around each matter's minutes (default lognormal)")
    parser.add_argument("--service-cv", type=_number(0.0, above=True), default=0.7,
                        help="coefficient of variation of the log-normal service times")
    parser.add_argument("--break-minutes", type=MINUTES, default=10.0, help="each clerk's break per session")
    parser.add_argument("--balk-share", type=SHARE, default=0.2,
                        help="share of citizens turned away at lunch (matter not issued then) who go home "
                             "instead of coming back when it is (default 0.2)")
    parser.add_argument("--return-minutes", type=MINUTES, default=20.0,
                        help="those who come back do so within this many minutes of the time given (default 20)")
    parser.add_argument("--cross-train", action="store_true",
                        help="what if every window also took every matter it lacks, as secondary "
                             "(server/simulate/whatif.py)")
    parser.add_argument("--keep-own", default="", metavar="S101,S102,…",
                        help="with --cross-train: matters that stay with the windows holding them")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--plot", metavar="FILE.png", help="draw people waiting and mean wait across the day")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: only on a terminal)")


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    if args.keep_own and not args.cross_train:
        print("hallq simulate: --keep-own goes with --cross-train", file=sys.stderr)
        return 2
    if args.green_share + args.appointment_share > 1:
        print("hallq simulate: --green-share and --appointment-share add up to more than 1", file=sys.stderr)
        return 2
    if args.plot:  # its folder made now (`--plot var/day.png` in a fresh checkout), any failure said before the run
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        except OSError as exc:
            print(f"hallq simulate: --plot: cannot write {args.plot}: {exc.strerror}", file=sys.stderr)
            return 2
    keep_own = [c for c in args.keep_own.split(",") if c] if args.cross_train else []
    if args.cross_train:
        try:
            config = cross_trained(config, keep_own)
        except ValueError as exc:
            print(f"hallq simulate: --keep-own: {exc}", file=sys.stderr)
            return 2
    try:
        profile = load_profile(args.day_profile)
    except (ValueError, OSError) as exc:
        print(f"hallq simulate: --day-profile: {exc}", file=sys.stderr)
        return 2
    if args.days < 1:
        print("hallq simulate: --days must be at least 1", file=sys.stderr)
        return 2
    assumptions = Assumptions(
        per_day=args.per_day, load=args.load, profile=profile, green_share=args.green_share,
        appointment_share=args.appointment_share, no_show_share=args.no_show_share,
        service=args.service, service_cv=args.service_cv, break_minutes=args.break_minutes, balk_share=args.balk_share,
        return_minutes=args.return_minutes,
    )
    chosen = args.policy or ["all"]
    policies = list(dict.fromkeys(p for name in chosen for p in (ALL if name == "all" else (name,))))
    show = sys.stderr.isatty() if args.progress is None else args.progress
    summaries = compare(config, args.seed, policies, args.days, assumptions, _bar if show else None)
    if show:
        print(file=sys.stderr)
    meta = {"config": args.config, "hall": config.code, "seed": args.seed, "days": args.days,
            "service": args.service,
            "per_day": tickets_per_day(config, assumptions), "load": offered_load(config, assumptions),
            "profile": args.day_profile, "cross_trained": args.cross_train,
            "kept_own": keep_own}
    if args.plot:
        from .plot import plot

        plot(summaries, args.plot, f"{config.name}：随机种子 {args.seed}，{args.days} 个工作日")
    if args.json:
        body = _jsonable({"meta": meta, "policies": summaries})
        text = json.dumps(body, ensure_ascii=False, indent=1, allow_nan=False)
    else:
        text = render(config, summaries, meta) + (f"\n\n图已写入 {args.plot}" if args.plot else "")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `hallq simulate … | head`: the reader has what it wanted. Point stdout at /dev/null so the
        # interpreter's own flush at exit does not raise again, and end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _bar(policy: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r{policy:<12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} citizens")
    sys.stderr.flush()


def _jsonable(x):
    """NaN (no data, e.g. a class nobody was in) becomes null: JSON has no NaN."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x
