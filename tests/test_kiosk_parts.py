"""Kiosk pieces on their own: alert mapping, spoken codes, the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drivers.printer import Paper, PrinterStatus
from hallq.config import load_config
from kiosk.cli import pick_kiosk, pick_token
from kiosk.printing import alert_kinds, problem_text, public_link
from kiosk.voice import spoken_code, synthesize

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("status", "kinds", "text"), [
    (PrinterStatus(True, Paper.OK), {}, "打印机故障"),
    (PrinterStatus(True, Paper.NEAR_END), {"printer_paper_low": "warning"}, "打印机故障"),
    (PrinterStatus(True, Paper.OUT, offline=True), {"printer_paper_out": "red"}, "打印机缺纸"),
    (PrinterStatus(True, Paper.OK, cover_open=True, offline=True), {"printer_error": "red"}, "打印机盖未关好"),
    (PrinterStatus(False), {"device_offline": "red"}, "打印机未连接"),
    (PrinterStatus(True, supported=False), {}, "打印机故障"),
])
def test_status_to_alerts_and_words(status, kinds, text):
    assert {k: v[0] for k, v in alert_kinds(status).items()} == kinds
    assert problem_text(status) == text


def test_public_link_joins_base_and_page():
    assert public_link("http://10.0.0.5:8080", "/t/abc") == "http://10.0.0.5:8080/t/abc"
    assert public_link("https://zwfw.example.gov.cn/hall/", "/t/abc") == "https://zwfw.example.gov.cn/hall/t/abc"


def test_codes_are_read_digit_by_digit():
    assert spoken_code("A023") == "A 零 二 三"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_makes_a_wav():
    assert synthesize("请 A 零 二 三 号到 3 号窗口办理")[:4] == b"RIFF"


def test_kiosk_and_token_from_config(monkeypatch):
    monkeypatch.delenv("HALLQ_KIOSK_TOKEN", raising=False)
    config = load_config(REPO / "config" / "demo-hall.toml")
    assert pick_kiosk(config, None).id == "K1"
    assert pick_token(config, config.kiosks["K2"], None) == "demo-kiosk-2"
    # The token that names its kiosk wins, whatever the order in the file.
    from dataclasses import replace

    shuffled = replace(config, tokens=tuple(reversed(config.tokens)))
    assert pick_token(shuffled, shuffled.kiosks["K1"], None) == "demo-kiosk-1"
    assert pick_token(config, config.kiosks["K1"], "explicit") == "explicit"
    monkeypatch.setenv("HALLQ_KIOSK_TOKEN", "from-env")
    assert pick_token(config, config.kiosks["K1"], None) == "from-env"
    with pytest.raises(SystemExit):
        pick_kiosk(config, "K9")


def test_hallq_kiosk_is_registered(capsys):
    from hallq.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["kiosk", "--help"])
    assert exc.value.code == 0
    assert "--public-url" in capsys.readouterr().out
