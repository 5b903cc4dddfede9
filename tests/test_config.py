"""Hall config loading: the shipped configs pass, and a bad config says everything wrong with it,
each problem once, with file, line and key path."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallq.cli import main
from hallq.config import ConfigError, _Locator, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo-hall.toml"
TOWNSHIP = ROOT / "config" / "township.toml"

BASE = """\
[hall]
code = "HQ-T"
name = "测试政务服务中心"

[hours]
sessions = [["08:30", "12:00"], ["14:30", "17:30"]]

[[priorities]]
code = "green"
name = "绿色通道"
rank = 0

[[priorities]]
code = "appointment"
name = "预约"
rank = 1

[[priorities]]
code = "normal"
name = "普通"
rank = 2

[[services]]
code = "S101"
name = "居民身份证申领"
category = "公安户政"
department = "公安"
prefix = "B"

[[services]]
code = "S102"
name = "居民身份证补领"
category = "公安户政"
department = "公安"
prefix = "B"

[[buses]]
name = "callers"
kind = "qb68"
port = "loop://"

[[buses]]
name = "strips"
kind = "ls-a0"
port = "loop://"
"""

GOOD_WINDOW = """
[[windows]]
number = 1
name = "综合受理窗口"
kind = "comprehensive"
services = { S101 = "primary", S102 = "primary" }
keypad = { bus = "callers", address = 1 }
evaluator = { bus = "callers", address = 0x81 }
strip = { bus = "strips", address = 1 }
"""


def problems_of(text: str, **kwargs) -> list[str]:
    """Every problem message of a config that must fail, without the '<string>:LINE: ' prefix."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, **kwargs)
    return [f"{p.key}: {p.message}" if p.key else p.message for p in caught.value.problems]


def line_with(text: str, marker: str) -> int:
    """1-based line of the only line containing `marker`, so tests do not hard-code line numbers."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(found) == 1, (marker, found)
    return found[0]


def first_line(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def window(number: int, extra: str = "", kind: str = "comprehensive") -> str:
    return f'\n[[windows]]\nnumber = {number}\nname = "窗口{number}"\nkind = "{kind}"\n{extra}\nservices = {{ S101 = "secondary" }}\n'


# ---------------------------------------------------------------------------- shipped configs


def test_demo_hall_loads_as_a_county_hall():
    hall = load_config(DEMO)
    assert hall.source == str(DEMO)
    assert 38 <= len(hall.windows) <= 45
    assert len(hall.services) >= 30
    kinds = [w.kind for w in hall.windows.values()]
    assert kinds.count("comprehensive") >= 8
    assert kinds.count("complaint") == 1 and kinds.count("help") == 1
    assert {s.case_kind for s in hall.services.values()} == {"即办", "承诺"}
    assert all(s.promised_days >= 1 for s in hall.services.values() if s.case_kind == "承诺")
    assert {b.name for b in hall.bundles.values()} >= {"开办企业一件事", "新生儿出生一件事"}
    assert 40 <= len(hall.staff) <= 50
    assert {t.role for t in hall.tokens} == {"kiosk", "caller", "display", "supervisor", "admin", "window",
                                              "notifier"}
    assert hall.hours.sessions[0].start == time(8, 30) and hall.hours.sessions[-1].end == time(17, 30)


def test_demo_hall_devices_follow_the_usual_addressing():
    hall = load_config(DEMO)
    for number, w in hall.windows.items():
        assert (w.keypad.bus, w.keypad.address) == ("callers", number)
        assert (w.evaluator.bus, w.evaluator.address) == ("callers", 0x80 + number)
        assert (w.strip.bus, w.strip.address) == ("strips", number)
    assert {b.kind for b in hall.buses.values()} == {"qb68", "ls-a0"}
    assert [k.printer.url for k in hall.kiosks.values()] == ["/dev/ttyUSB2", "/dev/ttyUSB3"]


def test_demo_hall_complaint_window_can_receive_every_matter():
    hall = load_config(DEMO)
    complaint = hall.complaint_window()
    assert complaint is not None
    assert set(complaint.services) == set(hall.services)


def test_township_has_four_comprehensive_and_four_domain_windows():
    hall = load_config(TOWNSHIP)
    kinds = [w.kind for w in hall.windows.values()]
    assert kinds.count("comprehensive") == 4 and kinds.count("domain") == 4
    assert hall.complaint_window() is None  # optional below 10 windows
    assert 12 <= len(hall.services) <= 20
    assert len(hall.kiosks) == 1


def test_model_types_are_what_the_engine_expects():
    hall = load_config(DEMO)
    assert isinstance(hall.hours.weekdays, tuple) and isinstance(hall.hours.sessions, tuple)
    assert all(isinstance(s.materials, tuple) for s in hall.services.values())
    assert all(isinstance(b.steps, tuple) for b in hall.bundles.values())
    assert isinstance(hall.tokens, tuple)
    assert set(hall.rules.alerts) == {
        "wait_minutes",
        "service_minutes",
        "idle_with_waiting_minutes",
        "paused_minutes",
        "unstaffed_minutes",
        "deadline_days",
        "called_minutes",
    }
    assert hall.rules.alerts["deadline_days"].red == 0
    assert hall.windows[1].services["S301"] == "primary"
    assert hall.windows[1] is hall.windows_for("S301")[0]


def test_locator_points_every_key_of_the_demo_at_its_own_line():
    text = DEMO.read_text(encoding="utf-8")
    lines = text.splitlines()
    located = _Locator(text).lines
    assert len(located) > 1000
    for path, line in located.items():
        last = re.split(r"[.\[]", path)[-1].rstrip("]")
        if not last.isdigit():
            assert last in lines[line - 1], (path, line)


# ---------------------------------------------------------------------------- one bad file, many problems

BAD = (
    BASE.replace('name = "测试政务服务中心"', 'name = "测试政务服务中心"\ncolour = "red"  # <- unknown key')
    + GOOD_WINDOW
    + """
[[windows]]
number = 2
name = "窗口2"
kind = "comprehensive"
services = { S101 = "secondary" }
strip = { bus = "callers", address = 2 }  # <- wrong bus kind

[[windows]]
number = 3
name = "窗口3"
kind = "comprehensive"
services = { S101 = "secondary" }
evaluator = { bus = "callers", address = 5 }  # <- out of range

[[windows]]
number = 4
name = "窗口4"
kind = "comprehensive"
services = { S102 = "primary", S301 = "primary" }  # <- unknown service

[[windows]]  # <- missing kind
number = 5
name = "窗口5"
services = { S101 = "secondary" }

[[windows]]
number = 1  # <- duplicate number
name = "窗口1又一个"
kind = "domain"
services = { S101 = "secondary" }
"""
)


def test_bad_file_reports_each_problem_once_with_line_and_key_path(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    f = str(path)
    assert str(caught.value).splitlines() == [
        f"{f}:{line_with(BAD, 'unknown key')}: hall.colour: unknown key",
        f'{f}:{line_with(BAD, "wrong bus kind")}: windows[1].strip.bus: bus "callers" is qb68; '
        "a strip needs a ls-a0 bus",
        f"{f}:{line_with(BAD, 'out of range')}: windows[2].evaluator.address: 5 (0x05) is outside "
        "the evaluator range 0x81..0xFE",
        f"{f}:{line_with(BAD, 'unknown service')}: windows[3].services.S301: unknown service",
        f"{f}:{line_with(BAD, 'missing kind')}: windows[4].kind: required key is missing",
        f"{f}:{line_with(BAD, 'duplicate number')}: windows[5].number: duplicate window number 1 "
        f"(first at windows[0].number, line {first_line(BAD, 'number = 1')})",
    ]
    assert all(p.file == f for p in caught.value.problems)


def test_unknown_service_in_a_services_subtable_points_at_its_line():
    text = (
        BASE
        + "".join(window(n) for n in (1, 2, 3))
        + textwrap.dedent("""
        [[windows]]
        number = 4
        name = "窗口4"
        kind = "domain"
        [windows.services]
        S101 = "primary"
        S102 = "primary"
        S301 = "primary"
        """)
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config/x.toml")
    assert (
        str(caught.value)
        == f"config/x.toml:{line_with(text, 'S301')}: windows[3].services.S301: unknown service"
    )


def test_toml_syntax_error_reports_the_line(tmp_path):
    text = BASE + '\n[[windows]]\nnumber = 1\nname = "窗口1\nkind = "domain"\n'
    path = tmp_path / "syntax.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.line == line_with(text, 'name = "窗口1')
    assert str(problem).startswith(f"{path}:{problem.line}: TOML syntax error: ")


def test_syntax_error_at_end_of_file_points_at_the_last_line():
    with pytest.raises(ConfigError) as caught:
        parse_config('[hall]\ncode = "X"\nname = [\n', "x.toml")
    assert str(caught.value).startswith("x.toml:4: TOML syntax error: ")
    assert str(caught.value).endswith("(at end of file)")


# ---------------------------------------------------------------------------- CLI


def test_check_config_cli_ok_and_bad(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["check-config", str(DEMO), str(TOWNSHIP)]) == 0
    out = capsys.readouterr().out
    assert f"{DEMO}: ok (40 windows, 44 services, 3 bundles" in out
    assert f"{TOWNSHIP}: ok (8 windows" in out

    assert main(["check-config", str(DEMO), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{DEMO}: ok" in captured.out
    errors = captured.err.splitlines()
    assert f"{bad}:{line_with(BAD, 'unknown service')}: windows[3].services.S301: unknown service" in errors
    assert errors[-1] == f"{bad}: 6 problems"


def test_check_config_cli_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    assert main(["check-config", str(missing)]) == 1
    assert f"{missing}: no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_check_config_as_installed_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    hallq = Path(sys.executable).parent / "hallq"
    command = [str(hallq)] if hallq.exists() else [sys.executable, "-m", "hallq.cli"]
    good = subprocess.run([*command, "check-config", str(DEMO)], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith(f"{DEMO}: ok (40 windows")
    failed = subprocess.run([*command, "check-config", str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert "windows[3].services.S301: unknown service" in failed.stderr
    assert failed.stdout == ""


# ---------------------------------------------------------------------------- single rules


def test_minimal_config_loads_with_model_defaults():
    hall = parse_config(BASE + GOOD_WINDOW, "mini.toml")
    assert hall.source == "mini.toml"
    assert hall.hotline == "12345"
    assert hall.rules.timezone == "Asia/Shanghai" and hall.rules.number_width == 3
    assert hall.rules.alerts["wait_minutes"].yellow == 30
    assert hall.appointments.checkin_before_minutes == 60
    assert hall.windows[1].idle_text == "1号窗口"
    assert hall.services["S101"].minutes == 10.0 and hall.services["S101"].case_kind == "即办"


def test_bool_is_not_an_integer():
    text = BASE + GOOD_WINDOW.replace("number = 1", "number = true")
    assert "windows[0].number: must be an integer" in problems_of(text)


def test_typo_suggests_the_key_meant():
    text = BASE + GOOD_WINDOW.replace('name = "综合受理窗口"', 'name = "综合受理窗口"\ndepartmnet = "公安"')
    assert problems_of(text) == ['windows[0].departmnet: unknown key (did you mean "department"?)']


def test_missing_top_level_table_and_empty_required_string():
    text = BASE.replace('[hours]\nsessions = [["08:30", "12:00"], ["14:30", "17:30"]]\n', "")
    text = text.replace('code = "HQ-T"', 'code = ""') + GOOD_WINDOW
    assert problems_of(text) == ["hours: required table [hours] is missing", "hall.code: must not be empty"]


def test_empty_file_names_each_missing_section_once():
    assert problems_of("") == [
        "hall: required table [hall] is missing",
        "hours: required table [hours] is missing",
        "services: at least one [[services]] is required",
        "windows: at least one [[windows]] is required",
        "priorities: missing priority class green, appointment, normal (needed: green, appointment, normal)",
    ]


def test_single_brackets_for_a_list_get_a_hint():
    text = BASE + "\n[windows]\nnumber = 1\n"
    assert problems_of(text) == ["windows: must be an array of tables (written [[windows]])"]


def test_weight_must_be_known():
    text = BASE + GOOD_WINDOW.replace('S102 = "primary"', 'S102 = "main"')
    assert problems_of(text) == [
        "windows[0].services.S102: weight 'main' is not one of primary, secondary, backup"
    ]


def test_every_service_needs_a_primary_or_secondary_window():
    text = BASE + GOOD_WINDOW.replace('S102 = "primary"', 'S102 = "backup"')
    assert problems_of(text) == ["services[1].code: S102 has no window serving it as primary or secondary"]


def test_two_devices_on_one_address():
    text = BASE + GOOD_WINDOW + window(2, 'keypad = { bus = "callers", address = 1 }')
    [message] = problems_of(text)
    assert message.startswith(
        'windows[1].keypad.address: 0x01 on bus "callers" is already used by windows[0].keypad'
    )


def test_unknown_bus():
    text = BASE + GOOD_WINDOW + window(2, 'keypad = { bus = "caller", address = 2 }')
    assert problems_of(text) == ['windows[1].keypad.bus: unknown bus "caller"']


def test_window_number_is_not_a_keypad_address():
    """A large hall numbers its windows past 126 and puts their keypads on a second line."""
    assert 200 in parse_config(BASE + GOOD_WINDOW + window(200)).windows
    assert problems_of(BASE + GOOD_WINDOW + window(1000)) == ["windows[1].number: 1000 is outside 1..999"]


def test_complaint_window_required_from_ten_windows():
    nine = BASE + GOOD_WINDOW + "".join(window(n) for n in range(2, 10))
    assert len(parse_config(nine).windows) == 9
    ten = nine + window(10)
    assert problems_of(ten) == [
        'windows: a hall with 10 or more windows needs one complaint window (kind = "complaint", 办不成事反映窗口)'
    ]
    assert parse_config(nine + window(10, kind="complaint")).complaint_window().number == 10


def test_at_most_one_complaint_window():
    text = BASE + GOOD_WINDOW + window(2, kind="complaint") + window(3, kind="complaint")
    [message] = problems_of(text)
    assert message.startswith("windows[2].kind: a second complaint window (the first is windows[1]")


def test_hours_must_be_sensible():
    text = BASE.replace(
        '[["08:30", "12:00"], ["14:30", "17:30"]]',
        '[["08:30", "12:00"], ["11:30", "17:30"], ["8:00", "9:00"]]',
    )
    text = text.replace("[hours]", "[hours]\nweekdays = [1, 8]\nlunch_windows = [7]") + GOOD_WINDOW
    assert problems_of(text) == [
        "hours.weekdays[1]: 8 is not an ISO weekday 1..7 (1 = Monday)",
        "hours.lunch_windows[0]: no window 7",
        "hours.sessions[1]: starts before the previous session ends (12:00)",
        'hours.sessions[2]: must be a pair of times like ["08:30", "12:00"] (HH:MM)',
    ]


def test_sessions_accept_toml_local_times():
    text = BASE.replace('[["08:30", "12:00"], ["14:30", "17:30"]]', "[[08:30:00, 12:00:00]]") + GOOD_WINDOW
    assert parse_config(text).hours.sessions[0].end == time(12, 0)


def test_rules_and_alerts_are_checked():
    text = (
        BASE
        + GOOD_WINDOW
        + textwrap.dedent("""
            [rules]
            number_width = 6
            timezone = "Asia/Shangai"
            [rules.alerts]
            wait_minutes = [30, 15, 45]
            deadline_days = [0, 1, 3]
            queue_minutes = [1, 2, 3]
            """)
    )
    assert sorted(problems_of(text)) == sorted(
        [
            "rules.number_width: 6 is outside 2..5",
            "rules.timezone: unknown time zone 'Asia/Shangai' (e.g. Asia/Shanghai)",
            "rules.alerts.wait_minutes: levels must be non-decreasing: warning, yellow, red",
            "rules.alerts.deadline_days: levels must be non-increasing (days left): warning, yellow, red",
            'rules.alerts.queue_minutes: unknown key (did you mean "paused_minutes"?)',
        ]
    )


def test_priorities_need_the_three_classes_in_order():
    missing = BASE.replace('code = "normal"', 'code = "walk-in"') + GOOD_WINDOW
    assert problems_of(missing) == [
        "priorities: missing priority class normal (needed: green, appointment, normal)"
    ]
    swapped = BASE.replace("rank = 1", "rank = 5") + GOOD_WINDOW
    assert problems_of(swapped) == [
        "priorities: ranks must order green < appointment < normal (lower rank is served first)"
    ]


def test_service_rules():
    text = BASE.replace('prefix = "B"\n\n[[services]]', 'prefix = "b1"\ncase_kind = "承诺"\n\n[[services]]')
    text = text.replace('code = "S102"', 'code = "S101"') + GOOD_WINDOW
    first = first_line(text, 'code = "S101"')
    assert problems_of(text) == [
        "services[0].promised_days: a 承诺 case needs promised_days of at least 1",  # at [[services]]
        "services[0].prefix: 'b1' is not one or two letters A-Z",
        f"services[1].code: duplicate code S101 (first at services[0].code, line {first})",
        "windows[0].services.S102: unknown service",
    ]


def test_bundles_are_checked_and_not_served_directly():
    text = (
        BASE
        + '\n[[bundles]]\ncode = "B01"\nname = "一件事"\ncategory = "一件事"\nprefix = "Y"\nsteps = ["S101", "S999"]\n'
        + '\n[[bundles]]\ncode = "S102"\nname = "重号"\ncategory = "一件事"\nprefix = "Y"\nsteps = ["S101"]\n'
        + GOOD_WINDOW.replace('S102 = "primary"', 'S102 = "primary", B01 = "primary"')
    )
    messages = problems_of(text)
    assert "bundles[0].steps[1]: unknown service S999" in messages
    assert any(
        m.startswith("bundles[1].code: duplicate code S102 (first at services[1].code") for m in messages
    )
    assert "bundles[1].steps: a bundle needs at least 2 steps" in messages
    assert "windows[0].services.B01: is a bundle; list its step services instead" in messages
    assert len(messages) == 4


def test_idle_text_must_suit_the_led_strip():
    text = BASE + GOOD_WINDOW.replace(
        'kind = "comprehensive"', 'kind = "comprehensive"\nidle_text = "1号窗口 𠮷"'
    )
    [message] = problems_of(text)
    assert message.startswith("windows[0].idle_text: character '𠮷' is not in GBK")
    # Unset, it comes from the department, and the message says so (the key is not in the file).
    long = "伊犁哈萨克自治州察布查尔锡伯自治县政务服务和公共资源交易中心"
    [message] = problems_of(BASE + GOOD_WINDOW.replace('kind = "comprehensive"',
                                                       f'kind = "comprehensive"\ndepartment = "{long}"'))
    assert message == (f"windows[0].idle_text: 68 bytes in GBK; an LED strip takes at most 64 (the default "
                       f"idle_text '1号窗口 {long}', made from department: set a shorter idle_text)")


def test_staff_numbers_are_ascii_digits():
    text = (
        BASE
        + GOOD_WINDOW
        + '\n[[staff]]\nnumber = "１００１"\nname = "张三"\n\n[[staff]]\nnumber = 1002\nname = "李四"\n'
    )
    assert problems_of(text) == [
        "staff[0].number: '１００１' is not 1 to 8 ASCII digits (typed on the keypad)",
        "staff[1].number: must be a string",
    ]


TOKENS = """
[[tokens]]
name = "admin"
role = "admin"
token_env = "HALLQ_TEST_ADMIN"

[[tokens]]
name = "w1"
role = "window"
token = "secret-w1"
window = 1
"""


def test_tokens_from_the_environment():
    hall = parse_config(BASE + GOOD_WINDOW + TOKENS, environ={"HALLQ_TEST_ADMIN": "s3cret-admin"})
    assert [(t.name, t.role, t.token, t.window) for t in hall.tokens] == [
        ("admin", "admin", "s3cret-admin", None),
        ("w1", "window", "secret-w1", 1),
    ]
    assert problems_of(BASE + GOOD_WINDOW + TOKENS, environ={}) == [
        "tokens[0].token_env: environment variable HALLQ_TEST_ADMIN is not set"
    ]


def test_token_rules_without_echoing_secrets():
    text = (
        BASE
        + GOOD_WINDOW
        + TOKENS.replace("window = 1", "window = 9")
        + textwrap.dedent("""
        [[tokens]]
        name = "display"
        role = "display"
        token = "secret-w1"
        window = 1

        [[tokens]]
        name = "kiosk"
        role = "kiosk"
        """)
    )
    messages = problems_of(text, environ={"HALLQ_TEST_ADMIN": "x" * 12})
    first = first_line(text, 'token = "secret-w1"')
    assert messages == [
        "tokens[1].window: no window 9",
        f"tokens[2].token: same token as tokens[1].token, line {first}",
        'tokens[2].window: only allowed for role "window"',
        "tokens[3]: needs exactly one of token or token_env",
    ]
    assert not any("secret-w1" in m for m in messages)


def test_shared_serial_port_is_a_problem():
    text = BASE.replace('port = "loop://"', 'port = "/dev/ttyUSB0"') + GOOD_WINDOW
    [message] = problems_of(text)
    assert message.startswith("buses[1].port: /dev/ttyUSB0 is already used by buses[0].port")


def test_multiline_strings_and_arrays_do_not_confuse_the_locator():
    text = BASE.replace(
        'name = "测试政务服务中心"',
        'name = "测试政务服务中心"\nnotice = """\n[[windows]]\n# not a comment, not a header\n"""',
    ) + GOOD_WINDOW.replace("number = 1", "number = 1\nbogus = [\n  1,  # one\n  [2, 3],\n]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    [problem] = caught.value.problems
    assert (problem.key, problem.line) == ("windows[0].bogus", line_with(text, "bogus"))


def test_utf8_bom_and_missing_file(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + (BASE + GOOD_WINDOW).encode())
    assert load_config(path).name == "测试政务服务中心"
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


@given(role=st.sampled_from(["keypad", "evaluator", "strip"]), address=st.integers(0, 255))
def test_device_accepted_exactly_in_its_role_range(role, address):
    bus, low, high = {
        "keypad": ("callers", 0x01, 0x7E),
        "evaluator": ("callers", 0x81, 0xFE),
        "strip": ("strips", 0x01, 0xFE),
    }[role]
    text = BASE + window(1, f'{role} = {{ bus = "{bus}", address = {address} }}') + window(2, kind="domain")
    text = text.replace('S101 = "secondary"', 'S101 = "primary", S102 = "primary"', 1)
    if low <= address <= high:
        assert getattr(parse_config(text).windows[1], role).address == address
    else:
        [message] = problems_of(text)
        assert message == (
            f"windows[0].{role}.address: {address} (0x{address:02X}) is outside the {role} range "
            f"0x{low:02X}..0x{high:02X}"
        )


def test_kiosk_tokens_may_name_their_kiosk():
    text = (
        BASE
        + GOOD_WINDOW
        + textwrap.dedent("""
        [[kiosks]]
        id = "K1"
        name = "大厅1号取号机"

        [[tokens]]
        name = "kiosk-1"
        role = "kiosk"
        token = "secret-k1"
        kiosk = "K1"

        [[tokens]]
        name = "kiosk-9"
        role = "kiosk"
        token = "secret-k9"
        kiosk = "K9"

        [[tokens]]
        name = "display"
        role = "display"
        token = "secret-d"
        kiosk = "K1"
        """)
    )
    assert problems_of(text) == ["tokens[1].kiosk: no kiosk 'K9'", 'tokens[2].kiosk: only allowed for role "kiosk"']
    good = text[: text.index("[[tokens]]\nname = \"kiosk-9\"")]
    from hallq.config import parse_config

    assert [(t.name, t.kiosk) for t in parse_config(good).tokens] == [("kiosk-1", "K1")]


@pytest.mark.parametrize("command", [
    ["serve", "--db", "x.db"], ["demo"], ["kiosk"], ["sim"], ["devices"], ["simulate"],
])
def test_no_command_starts_on_a_bad_config(tmp_path, capsys, command):
    from hallq.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[hall]\ncode = "X"\nname = "测试"\ncolour = 1\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main([command[0], "--config", str(bad), *command[1:]])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "nothing was started" in err
    assert f"{bad}:4: hall.colour: unknown key" in err


# ---------------------------------------------------------------------------- ranges and text

# Every numeric key written out once, each on a line of its own, so a test can spoil one.
EVERY_NUMBER = BASE.replace('name = "测试政务服务中心"\n', 'name = "测试政务服务中心"\nmedia_seconds = 15\nrecords_retention_months = 12\n', 1).replace(
    'port = "loop://"\n', 'port = "loop://"\nbaudrate = 9600\n', 1).replace(
    '[hours]\n', '[hours]\nweekdays = [1, 2, 3, 4, 5]\nlunch_windows = [1]\nstop_issuing_minutes = 30\n'
).replace('prefix = "B"\n\n[[services]]', 'prefix = "B"\ncase_kind = "承诺"\npromised_days = 5\nminutes = 12\n\n[[services]]'
          ) + GOOD_WINDOW + textwrap.dedent("""
    [rules]
    number_width = 3
    recall_limit = 2
    secondary_penalty_minutes = 5
    backup_after_minutes = 10
    starvation_minutes = 60
    elderly_age = 60
    rating_prompt_seconds = 30
    supplementary_rating_days = 7
    callback_working_days = 1
    fix_working_days = 15
    follow_up_ratings = 1
    default_rating_days = 0
    help_queue_length = 10
    service_level_minutes = 15
    unstaffed_grace_minutes = 10

    [rules.alerts]
    wait_minutes = [15, 30, 45]
    deadline_days = [3, 1, 0]

    [appointments]
    slot_minutes = 30
    checkin_before_minutes = 60
    checkin_after_minutes = 20
    days_ahead = 7
    slot_capacity = 2
    capacities = { S101 = 4 }

    [sms]
    near_ahead = 3
    reminder_hour = 16
    cmpp_port = 7890

    [province]
    url = "http://127.0.0.1:9"
    token = "secret-province"
    poll_seconds = 2
    max_backoff_seconds = 600

    [sessions]
    admin_idle_minutes = 15
    supervisor_idle_minutes = 30
    clerk_idle_minutes = 45

    [[kiosks]]
    id = "K1"
    name = "大厅1号取号机"
    printer = { url = "loop://", paper_mm = 80, baudrate = 115200 }
    id_reader = { url = "loop://", baudrate = 115200 }

    [[tokens]]
    name = "w1"
    role = "window"
    token = "secret-w1"
    window = 1
    """)
HUGE = "99999999999"  # what made every ticket page answer 500 as supplementary_rating_days

# (line as written, what it becomes, the problem reported at that line)
OUT_OF_RANGE = [
    ('id_reader = { url = "loop://", baudrate = 115200 }', f'id_reader = {{ url = "loop://", baudrate = {HUGE} }}',
     "kiosks[0].id_reader.baudrate: must be 9600 or 115200"),
    ('id_reader = { url = "loop://", baudrate = 115200 }', 'id_reader = { url = "loop://", baudrate = 19200 }',
     "kiosks[0].id_reader.baudrate: must be 9600 or 115200"),
    ("media_seconds = 15", f"media_seconds = {HUGE}", f"hall.media_seconds: {HUGE} is outside 3..600"),
    ("records_retention_months = 12", "records_retention_months = 5",
     "hall.records_retention_months: 5 is outside 6..120"),
    ("stop_issuing_minutes = 30", f"stop_issuing_minutes = {HUGE}", f"hours.stop_issuing_minutes: {HUGE} is outside 0..179"),
    ("weekdays = [1, 2, 3, 4, 5]", f"weekdays = [1, {HUGE}]", f"hours.weekdays[1]: {HUGE} is not an ISO weekday 1..7 (1 = Monday)"),
    ("lunch_windows = [1]", f"lunch_windows = [{HUGE}]", f"hours.lunch_windows[0]: no window {HUGE}"),
    ("promised_days = 5", f"promised_days = {HUGE}", f"services[0].promised_days: {HUGE} is outside 1..365"),
    ("minutes = 12", f"minutes = {HUGE}", f"services[0].minutes: {HUGE} is outside 0..480"),
    ("minutes = 12", "minutes = inf", "services[0].minutes: inf is outside 0..480"),
    ("minutes = 12", "minutes = 0", "services[0].minutes: must be more than 0"),
    ("minutes = 12", "minutes = nan", "services[0].minutes: must be more than 0"),
    ("baudrate = 9600", f"baudrate = {HUGE}", f"buses[0].baudrate: {HUGE} is outside 300..921600"),
    ("number = 1", f"number = {HUGE}", f"windows[0].number: {HUGE} is outside 1..999"),
    ("keypad = { bus = \"callers\", address = 1 }", f"keypad = {{ bus = \"callers\", address = {HUGE} }}",
     f"windows[0].keypad.address: {HUGE} (0x{int(HUGE):02X}) is outside the keypad range 0x01..0x7E"),
    ("evaluator = { bus = \"callers\", address = 0x81 }", f"evaluator = {{ bus = \"callers\", address = {HUGE} }}",
     f"windows[0].evaluator.address: {HUGE} (0x{int(HUGE):02X}) is outside the evaluator range 0x81..0xFE"),
    ("strip = { bus = \"strips\", address = 1 }", f"strip = {{ bus = \"strips\", address = {HUGE} }}",
     f"windows[0].strip.address: {HUGE} (0x{int(HUGE):02X}) is outside the strip range 0x01..0xFE"),
    ("rank = 2", f"rank = {HUGE}", f"priorities[2].rank: {HUGE} is outside 0..99"),
    ("slot_minutes = 30", f"slot_minutes = {HUGE}", f"appointments.slot_minutes: {HUGE} is outside 5..480"),
    ("checkin_before_minutes = 60", f"checkin_before_minutes = {HUGE}",
     f"appointments.checkin_before_minutes: {HUGE} is outside 0..480"),
    ("checkin_after_minutes = 20", f"checkin_after_minutes = {HUGE}",
     f"appointments.checkin_after_minutes: {HUGE} is outside 0..240"),
    ("days_ahead = 7", f"days_ahead = {HUGE}", f"appointments.days_ahead: {HUGE} is outside 1..90"),
    ("slot_capacity = 2", f"slot_capacity = {HUGE}", f"appointments.slot_capacity: {HUGE} is outside 0..1000"),
    ("capacities = { S101 = 4 }", f"capacities = {{ S101 = {HUGE} }}",
     f"appointments.capacities.S101: {HUGE} is outside 0..1000"),
    ("capacities = { S101 = 4 }", "capacities = { S999 = 4 }", "appointments.capacities.S999: unknown service or bundle"),
    ("near_ahead = 3", f"near_ahead = {HUGE}", f"sms.near_ahead: {HUGE} is outside 1..50"),
    ("reminder_hour = 16", f"reminder_hour = {HUGE}", f"sms.reminder_hour: {HUGE} is outside 0..23"),
    ("cmpp_port = 7890", f"cmpp_port = {HUGE}", f"sms.cmpp_port: {HUGE} is outside 1..65535"),
    ("poll_seconds = 2", "poll_seconds = 0", "province.poll_seconds: 0 is outside 1..3600"),
    ("max_backoff_seconds = 600", f"max_backoff_seconds = {HUGE}", f"province.max_backoff_seconds: {HUGE} is outside 1..86400"),
    ("wait_minutes = [15, 30, 45]", f"wait_minutes = [15, 30, {HUGE}]", f"rules.alerts.wait_minutes[2]: {HUGE} is outside 0..1440"),
    ("deadline_days = [3, 1, 0]", f"deadline_days = [{HUGE}, 1, 0]", f"rules.alerts.deadline_days[0]: {HUGE} is outside 0..365"),
    ("wait_minutes = [15, 30, 45]", "wait_minutes = [15, 30, nan]",
     "rules.alerts.wait_minutes: must be [warning, yellow, red]: three numbers, 0 or more"),
    ("printer = { url = \"loop://\", paper_mm = 80, baudrate = 115200 }",
     f"printer = {{ url = \"loop://\", paper_mm = {HUGE}, baudrate = 115200 }}", "kiosks[0].printer.paper_mm: must be 58 or 80"),
    ("printer = { url = \"loop://\", paper_mm = 80, baudrate = 115200 }",
     f"printer = {{ url = \"loop://\", paper_mm = 80, baudrate = {HUGE} }}",
     f"kiosks[0].printer.baudrate: {HUGE} is outside 300..921600"),
    ("window = 1", f"window = {HUGE}", f"tokens[0].window: no window {HUGE}"),
    ("secondary_penalty_minutes = 5", "secondary_penalty_minutes = nan", "rules.secondary_penalty_minutes: nan is outside 0..240"),
] + [
    (f"{key} = {value}", f"{key} = {HUGE}", f"sessions.{key}: {HUGE} is outside 1..720")
    for key, value in [("admin_idle_minutes", 15), ("supervisor_idle_minutes", 30), ("clerk_idle_minutes", 45)]
] + [
    (f"{key} = {value}", f"{key} = {HUGE}", f"rules.{key}: {HUGE} is outside {low}..{high}")
    for key, value, (low, high) in [
        ("number_width", 3, (2, 5)), ("recall_limit", 2, (0, 10)), ("secondary_penalty_minutes", 5, (0, 240)),
        ("backup_after_minutes", 10, (0, 480)), ("starvation_minutes", 60, (1, 1440)), ("elderly_age", 60, (50, 100)),
        ("rating_prompt_seconds", 30, (5, 600)), ("supplementary_rating_days", 7, (1, 365)),
        ("callback_working_days", 1, (1, 30)), ("fix_working_days", 15, (1, 90)), ("help_queue_length", 10, (1, 1000)),
        ("follow_up_ratings", 1, (0, 3)), ("default_rating_days", 0, (0, 30)),
        ("service_level_minutes", 15, (1, 240)),
        ("unstaffed_grace_minutes", 10, (0, 240)),
    ]
]

# Every number in hallq/model.py -> the key (or key prefix) that sets it; a new number needs a range and a line here.
MODEL_NUMBERS = {
    "HallConfig.media_seconds": "hall.media_seconds",
    "HallConfig.records_retention_months": "hall.records_retention_months",
    "Hours.weekdays": "hours.weekdays", "Hours.lunch_windows": "hours.lunch_windows",
    "Hours.stop_issuing_minutes": "hours.stop_issuing_minutes",
    "Service.promised_days": "services[0].promised_days", "Service.minutes": "services[0].minutes",
    "DeviceRef.address": "windows[0].keypad.address", "Window.number": "windows[0].number",
    "Bus.baudrate": "buses[0].baudrate", "Printer.paper_mm": "kiosks[0].printer.paper_mm",
    "Printer.baudrate": "kiosks[0].printer.baudrate", "IdReader.baudrate": "kiosks[0].id_reader.baudrate", "PriorityClass.rank": "priorities[2].rank",
    "Appointments.slot_minutes": "appointments.slot_minutes",
    "Appointments.checkin_before_minutes": "appointments.checkin_before_minutes",
    "Appointments.checkin_after_minutes": "appointments.checkin_after_minutes",
    "Appointments.days_ahead": "appointments.days_ahead", "Appointments.slot_capacity": "appointments.slot_capacity",
    "ProvinceLink.poll_seconds": "province.poll_seconds",
    "ProvinceLink.max_backoff_seconds": "province.max_backoff_seconds",
    "Sms.near_ahead": "sms.near_ahead", "Sms.reminder_hour": "sms.reminder_hour", "Sms.cmpp_port": "sms.cmpp_port",
    "AlertLevels.warning": "rules.alerts.deadline_days[0]", "AlertLevels.yellow": "rules.alerts.wait_minutes[2]",
    "AlertLevels.red": "rules.alerts.wait_minutes[2]", "Token.window": "tokens[0].window",
    **{f"SignInSessions.{role}_idle_minutes": f"sessions.{role}_idle_minutes" for role in ("admin", "supervisor", "clerk")},
    **{f"Rules.{key}": f"rules.{key}" for key in (
        "number_width", "recall_limit", "secondary_penalty_minutes", "backup_after_minutes", "starvation_minutes",
        "elderly_age", "rating_prompt_seconds", "supplementary_rating_days", "callback_working_days",
        "fix_working_days", "help_queue_length", "service_level_minutes", "unstaffed_grace_minutes",
        "follow_up_ratings", "default_rating_days")},
}


def test_sms_templates_take_only_their_own_placeholders_and_a_gateway_needs_its_address():
    text = EVERY_NUMBER.replace("near_ahead = 3", 'near_ahead = 3\nnear_text = "{code} 还有 {people} 人"\nenabled = true\n'
                                'gateway = "http"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hall.toml")
    found = [str(p) for p in caught.value.problems]
    assert f"hall.toml:{line_with(text, 'near_text')}: sms.near_text: unknown placeholder {{people}}; it may use " \
        "{code}, {ahead}, {service}, {link}" in found
    assert any("sms.http_url: the HTTP SMS platform's address" in f for f in found), found
    hall = parse_config(EVERY_NUMBER)
    assert hall.sms.near_text.format(code="A023", ahead=3, service="") == "您的 A023 号前面还有 3 人，请回到大厅等候"
    assert hall.appointments.capacity("S101") == 4 and hall.appointments.capacity("S102") == 2


def test_the_full_config_of_every_number_loads():
    hall = parse_config(EVERY_NUMBER)
    assert hall.rules.supplementary_rating_days == 7 and hall.kiosks["K1"].printer.baudrate == 115200


@pytest.mark.parametrize(("line", "spoilt", "problem"), OUT_OF_RANGE, ids=[p.split(":")[0] for *_, p in OUT_OF_RANGE])
def test_every_number_out_of_its_range_is_reported_at_its_line(line, spoilt, problem):
    assert EVERY_NUMBER.count(line) == 1
    text = EVERY_NUMBER.replace(line, spoilt)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hall.toml")
    assert f"hall.toml:{line_with(text, spoilt)}: {problem}" in [str(p) for p in caught.value.problems]


def test_every_number_in_the_model_has_a_range_tested():
    import dataclasses
    import types
    import typing

    import hallq.model as model

    numbers = set()
    for name, cls in vars(model).items():
        if dataclasses.is_dataclass(cls):
            for f, hint in typing.get_type_hints(cls).items():
                union = typing.get_origin(hint) in (typing.Union, types.UnionType)
                if {int, float} & set(typing.get_args(hint) if union else (hint,)) or hint == tuple[int, ...]:
                    numbers.add(f"{name}.{f}")
    assert numbers == set(MODEL_NUMBERS)
    tested = {p.split(":")[0] for *_, p in OUT_OF_RANGE}
    assert {key for key in MODEL_NUMBERS.values() if not any(t.startswith(key) for t in tested)} == set()


def test_check_config_names_the_file_line_and_key_of_a_number_out_of_range(tmp_path, capsys):
    bad = tmp_path / "hall.toml"
    text = EVERY_NUMBER.replace("supplementary_rating_days = 7", f"supplementary_rating_days = {HUGE}")
    bad.write_text(text, encoding="utf-8")
    assert main(["check-config", str(bad)]) == 1
    line = line_with(text, "supplementary_rating_days")
    assert f"{bad}:{line}: rules.supplementary_rating_days: {HUGE} is outside 1..365" in capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(("line", "spoilt", "problem"), [
    ('name = "测试政务服务中心"', 'name = "测试\\u0000中心"', "hall.name: contains the control character U+0000"),
    ('name = "综合受理窗口"', 'name = "综合\\n受理窗口"', "windows[0].name: contains the control character U+000A"),
    ('name = "居民身份证申领"', 'name = "居民身份证\\u001b申领"', "services[0].name: contains the control character U+001B"),
    ('name = "大厅1号取号机"', 'name = "   "', "kiosks[0].name: must not be empty"),
    ('port = "loop://"\nbaudrate', 'port = "loop://\\u0000"\nbaudrate', "buses[0].port: contains the control character U+0000"),
    ('token = "secret-w1"', 'token = " secret-w1"', "tokens[0].token: the token has spaces around it"),
    ('token = "secret-w1"', 'token = "secret-w1\\t"', "tokens[0].token: contains the control character U+0009"),
    ('token = "secret-w1"', 'token = "secret\\u0007w1"', "tokens[0].token: contains the control character U+0007"),
])
def test_strings_are_one_line_of_printable_text(line, spoilt, problem):
    assert EVERY_NUMBER.count(line) == 1
    text = EVERY_NUMBER.replace(line, spoilt)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hall.toml")
    found = [str(p) for p in caught.value.problems]  # a refused window also leaves what needs it
    assert any(f.startswith(f"hall.toml:{line_with(text, spoilt.splitlines()[0])}: {problem}") for f in found), found
    assert not any("secret-w1" in f for f in found)


def test_materials_and_tokens_from_the_environment_are_checked_too():
    text = BASE.replace('prefix = "B"\n\n[[services]]', 'prefix = "B"\nmaterials = ["身份证\\u0000"]\n\n[[services]]')
    assert problems_of(text + GOOD_WINDOW) == [
        "services[0].materials[0]: contains the control character U+0000; write one line of printable text"]
    assert problems_of(BASE + GOOD_WINDOW + TOKENS, environ={"HALLQ_TEST_ADMIN": "s3cret \n"}) == [
        "tokens[0].token_env: the token has spaces around it; a presented token is stripped, so it would never match"]


def test_the_notice_may_span_lines_but_holds_no_other_control_characters():
    text = BASE.replace('name = "测试政务服务中心"', 'name = "测试政务服务中心"\nnotice = "请取号\\n依次办理"') + GOOD_WINDOW
    assert parse_config(text).notice == "请取号\n依次办理"
    assert problems_of(text.replace("\\n依次", "\\u0000依次")) == [
        "hall.notice: contains the control character U+0000; write one line of printable text"]


def test_a_faulty_table_hides_no_other_problem_in_it():
    """One pass finds everything: a window missing its name still has its unknown service reported,
    and a service with a bad prefix still has its duplicate code reported."""
    text = BASE + GOOD_WINDOW.replace('name = "综合受理窗口"\n', "").replace('S102 = "primary"', 'S102 = "primary", S301 = "primary"')
    assert problems_of(text) == ["windows[0].name: required key is missing", "windows[0].services.S301: unknown service"]


def test_the_schema_gives_every_number_a_label_a_unit_and_its_range():
    """The admin forms and the OpenAPI document are drawn from hallq/schema.py: each number there
    says what it is in Chinese, its unit, and its bounds."""
    from hallq.schema import HallFile

    defs = HallFile.model_json_schema()["$defs"]
    rules = defs["RulesSection"]["properties"]
    assert rules["supplementary_rating_days"] == {
        "default": 7, "maximum": 365, "minimum": 1, "title": "补充评价期限", "type": "integer", "unit": "天"}
    assert defs["ServiceSection"]["properties"]["minutes"]["exclusiveMinimum"] == 0
    assert defs["AlertsSection"]["properties"]["deadline_days"]["unit"] == "工作日"
