"""`hallq sim` and `hallq devices` on the demo hall config."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers import devices_cli
from drivers.sim.cli import SimHall, rewrite_ports
from hallq.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo-hall.toml"

pytestmark = pytest.mark.skipif(not DEMO.exists(), reason="demo hall config not present")


def test_devices_list_without_probe(capsys):
    args = argparse.Namespace(config=str(DEMO), probe=False, timeout=0.1)
    assert devices_cli.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["window", "role", "bus", "kind", "port", "address"]
    assert any(line.split()[:6] == ["1", "keypad", "callers", "qb68", "/dev/ttyUSB0", "0x01"] for line in out)
    assert any("printer" in line and "/dev/ttyUSB2" in line for line in out)


def test_sim_hall_and_probe_through_rewritten_config(tmp_path, capsys):
    cfg = load_config(DEMO)
    hall = SimHall(cfg, directory=str(tmp_path / "ports"))
    try:
        out = tmp_path / "sim.toml"
        out.write_text(rewrite_ports(DEMO.read_text(encoding="utf-8"), hall.ports), encoding="utf-8")
        sim_cfg = load_config(out)
        assert {b.port for b in sim_cfg.buses.values()} == {hall.ports[n] for n in cfg.buses}
        assert all(k.printer.url == hall.ports[f"printer:{k.id}"] for k in sim_cfg.kiosks.values() if k.printer)
        # one keypad goes quiet: the probe says so and exits 1
        first = sorted(cfg.windows)[0]
        ref = cfg.windows[first].keypad
        hall.qb68[ref.bus].devices[ref.address].silent = True
        hall.printers[next(iter(hall.printers))].paper = "near_end"
        code = devices_cli.run(argparse.Namespace(config=str(out), probe=True, timeout=0.05))
        table = capsys.readouterr().out
        assert code == 1
        rows = [line.split(None, 6) for line in table.splitlines()[1:]]
        statuses = {(r[0], r[1]): r[6] for r in rows}
        assert statuses[(str(first), "keypad")].startswith("offline")
        assert statuses[(str(first), "evaluator")].startswith("online")
        assert [k for k, s in statuses.items() if not s.startswith("online")] == [(str(first), "keypad")]
        assert "paper near end" in table
        strip_ref = cfg.windows[first].strip
        if strip_ref is not None and cfg.windows[first].idle_text:
            assert hall.strips[strip_ref.bus].strips[strip_ref.address].idle_text == cfg.windows[first].idle_text
    finally:
        hall.close()


def test_hallq_sim_process_prints_ports_and_stops_on_ctrl_c(tmp_path):
    out = tmp_path / "sim.toml"
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "sim", "--config", str(DEMO), "--write-config", str(out),
                             "--dir", str(tmp_path / "ports")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "running" in line:
                break
        buses = [ln.split("\t") for ln in lines if "\t" in ln]
        assert ["callers", "qb68"] == buses[0][:2] and os.path.islink(buses[0][2].strip())
        assert out.exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sim_hall_has_the_kiosk_id_card_reader_with_cards_to_place(tmp_path):
    import threading

    from drivers.idcard_reader import IdCardReader
    from drivers.sim import wait_for
    from drivers.sim.cli import card_commands

    cfg = load_config(DEMO)
    hall = SimHall(cfg, directory=str(tmp_path / "ports"))
    try:
        out = tmp_path / "sim.toml"
        out.write_text(rewrite_ports(DEMO.read_text(encoding="utf-8"), hall.ports), encoding="utf-8")
        kiosk = load_config(out).kiosks["K1"]
        assert kiosk.id_reader.url == hall.ports["idreader:K1"] and kiosk.printer.url == hall.ports["printer:K1"]
        cards = []
        with IdCardReader(kiosk.id_reader.url, on_card=cards.append, answer_timeout=0.5) as reader:
            assert wait_for(lambda: reader.online, 5)
            card_commands(hall, threading.Event(), ["card K1 1\n"])
            assert wait_for(lambda: cards, 5)
            assert cards[0].text.name == "王秀英"
    finally:
        hall.close()


TOWNSHIP = ROOT / "config" / "township.toml"


def _read_until(proc, marker: str, seconds: float = 10) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in {lines}")


def _probe(config: Path) -> dict[tuple[str, str], str]:
    out = subprocess.run([sys.executable, "-m", "hallq.cli", "devices", "--config", str(config), "--probe"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60).stdout.splitlines()
    rows = [line.split(None, 6) for line in out[1:]]
    return {(r[0], r[1]): r[6] for r in rows if len(r) == 7}


def test_hallq_sim_injects_faults_from_the_command_line_stdin_and_a_control_fifo(tmp_path):
    """--fault at the start, then commands on stdin and on the --control FIFO; `hallq devices
    --probe` (the real drivers) sees each fault, and a command naming nothing is refused, not fatal."""
    out, fifo = tmp_path / "sim.toml", tmp_path / "sim.ctl"
    proc = subprocess.Popen([sys.executable, "-m", "hallq.cli", "sim", "--config", str(TOWNSHIP), "--write-config",
                             str(out), "--dir", str(tmp_path / "ports"), "--control", str(fifo),
                             "--fault", "paper-near-end K1", "--fault", "silent keypad:2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = _read_until(proc, "running")
        assert "# fault: paper-near-end K1\n" in lines and "# fault: silent keypad:2\n" in lines
        status = _probe(out)
        assert status[("K1", "printer")] == "online (paper near end)"
        assert status[("2", "keypad")].startswith("offline") and status[("1", "keypad")].startswith("online")
        proc.stdin.write("cover-open K1\nnoisy evaluator:1 2\npaper-ends K1 200\nsilent warp-drive\n")
        proc.stdin.flush()
        lines = _read_until(proc, "# error")
        assert "# fault: cover-open K1\n" in lines and "# fault: noisy evaluator:1 2\n" in lines
        assert "# fault: paper-ends K1 after 200 bytes\n" in lines
        assert "warp-drive" in lines[-1]
        fifo.write_text("answer keypad:2\nunplug bus:callers\n")
        _read_until(proc, "unplug bus:callers")
        status = _probe(out)
        assert status[("K1", "printer")] == "online (cover open)"
        assert status[("2", "keypad")].startswith("bus unavailable")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
        assert not fifo.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
