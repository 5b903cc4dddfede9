"""Province profiles for 好差评: the 差评 deadlines, 追评 and default-rating rules differ by province.

A hall picks one in `[rules] rating_profile`; "own" (本中心自定, the default) takes the hall's own
`rules.*` keys, so a hall that configured its deadlines before profiles existed keeps them.

- sichuan   四川: 回访 within 1 working day, rectified within 15 working days; 回访 and reply 100%
            (a case closes only after the citizen was reached: server/cases.py, for every profile).
- zhejiang  浙江: 回访 within 1 (natural) day, rectified within 15 (natural) days, one 追评.
- dezhou    德州: rectified within 5 working days.
- guangdong 广东: a service not rated within 7 natural days counts as 基本满意 (a default rating,
            channel "default", which counts in 好评率 but not as rated by the citizen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_GRADE = 3  # 基本满意


@dataclass(frozen=True)
class Profile:
    name: str
    label: str
    callback_days: int
    callback_working: bool  # working days (True) or natural days
    fix_days: int
    fix_working: bool
    follow_ups: int  # 追评: how many times the citizen may rate the handling of a 差评
    default_after_days: int  # 0: none; else a service unrated this many natural days gets 基本满意


PROFILES: dict[str, Profile] = {
    "sichuan": Profile("sichuan", "四川", 1, True, 15, True, 1, 0),
    "zhejiang": Profile("zhejiang", "浙江", 1, False, 15, False, 1, 0),
    "dezhou": Profile("dezhou", "德州", 1, True, 5, True, 1, 0),
    "guangdong": Profile("guangdong", "广东", 1, True, 15, True, 1, 7),
}
PROFILE_NAMES = ("own", *PROFILES)
PROFILE_LABELS = {"own": "本中心自定", **{k: p.label for k, p in PROFILES.items()}}


def profile_of(rules: Any) -> Profile:
    """The rules in force for a hall's `Rules`: its named profile, or its own keys ("own")."""
    name = getattr(rules, "rating_profile", "own")
    if name in PROFILES:
        return PROFILES[name]
    return Profile("own", PROFILE_LABELS["own"], rules.callback_working_days, True, rules.fix_working_days, True,
                   rules.follow_up_ratings, rules.default_rating_days)
