"""Ticket printing through python-escpos to the simulated printer over a real pty / TCP."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import qrcode

from drivers.escpos_decode import qr_modules, render_png
from drivers.printer import Paper, TicketPrinter, printer_kind
from drivers.sim import wait_for
from drivers.sim.printer import PrinterSim
from drivers.sim.pty import TcpEndpoint
from drivers.ticket_layout import PaperLayout, TicketPrint, ticket_bytes
from hallq.model import Printer

TICKET = TicketPrint(
    hall_name="某某市政务服务中心",
    matter_name="社会保障卡申领（补换）",
    number="A023",
    waiting_ahead=5,
    wait_text="预计等候约 5–15 分钟",
    issued_at=datetime(2024, 5, 6, 9, 30),
    qr_payload="https://zwfw.example.gov.cn/q/3201/A023?d=20240506",
    materials=("身份证原件，复印件一份", "近期一寸免冠照片（白底）：2张"),
    footer="监督电话：12345",
)

EXPECTED_LINES = [
    "某某市政务服务中心",
    "社会保障卡申领（补换）",
    "A023",
    "前面还有 5 人等候",
    "预计等候约 5–15 分钟",
    "扫码查看排队进度",
    "取号时间：2024-05-06 09:30",
    "请备齐以下材料：",
    "1. 身份证原件，复印件一份",
    "2. 近期一寸免冠照片（白底）：2张",
    "监督电话：12345",
]


@pytest.fixture
def sim():
    s = PrinterSim()
    yield s
    s.close()


def _printed(sim: PrinterSim):
    assert wait_for(lambda: sim.jobs and sim.jobs[-1].cut)
    return sim.jobs[-1]


@pytest.mark.parametrize("native", [True, False])
def test_chinese_ticket_with_qr_decodes_to_same_text(sim, native, tmp_path):
    pr = TicketPrinter(Printer(url=sim.path, native_qr=native))
    try:
        result = pr.print_ticket(TICKET)
        assert result.printed, result.reason
        job = _printed(sim)
    finally:
        pr.close()
    lines = [ln for ln in job.lines if ln and set(ln) != {"-"}]
    assert lines == EXPECTED_LINES
    assert "?" not in job.text  # full-width punctuation survived
    assert b"\x1c\x26" in job.raw and "（".encode("gbk") in job.raw
    number = next(i for i in job.items if getattr(i, "text", None) == "A023")
    assert number.style.width == 4 and number.style.height == 4 and number.style.align == "center"
    if native:
        assert job.qr_payloads == [TICKET.qr_payload] and not job.images
        assert len(job.raw) < 2048
    else:
        assert job.qr_payloads == [] and len(job.images) == 1
        want = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
        want.add_data(TICKET.qr_payload)
        want.make(fit=True)
        assert qr_modules(job.images[0].to_image()) == want.get_matrix()
        assert len(job.raw) > 5 * len(ticket_bytes(TICKET, PaperLayout(native_qr=True)))
    png = render_png(job, tmp_path / "ticket.png")
    assert (tmp_path / "ticket.png").stat().st_size > 1000 and png.endswith(".png")


@pytest.mark.parametrize(("mm", "qr"), [(80, "https://zwfw.example.gov.cn/t/0123456789abcdef"), (58, "")])
def test_a_long_list_of_materials_keeps_the_ticket_within_2_kb_and_points_to_the_rest(mm, qr):
    """Datasheet §4: keep a ticket under about 2 KB. An unseen hall's 30 papers of 50 characters
    made a 5 KB ticket; the papers that do not fit are counted and sent to the QR page."""
    from dataclasses import replace

    from drivers.escpos_decode import decode

    paper = "申请人身份证明材料原件及复印件（需加盖单位公章并由法定代表人签字确认）一式两份"
    ticket = replace(TICKET, qr_payload=qr, materials=tuple(f"{paper}{i}" for i in range(30)))
    layout = PaperLayout(paper_mm=mm, native_qr=True, cutter=mm == 80)
    data = ticket_bytes(ticket, layout)
    assert len(data) <= 2048
    lines = decode(data)[-1].lines
    text = "".join(lines)
    printed = [i for i in range(30) if any(line.startswith(f"{i + 1}. ") for line in lines)]
    assert printed == list(range(len(printed))) and len(printed) >= 5  # the first papers, in order
    where = "请扫码查看" if qr else "请到服务台咨询"
    assert f"另有 {30 - len(printed)} 项材料，{where}" in text
    assert ticket_bytes(TICKET, layout) == ticket_bytes(TICKET, layout, budget=False)  # a short list is untouched


def test_profile_without_qr_support_falls_back_to_raster_and_58mm_without_cutter(sim):
    pr = TicketPrinter(Printer(url=sim.path, profile="ZJ-5870", paper_mm=58, native_qr=True, cutter=True))
    try:
        assert pr.layout == PaperLayout(paper_mm=58, native_qr=False, cutter=False)
        assert pr.print_ticket(TICKET).printed
        assert wait_for(lambda: sim.jobs and sim.jobs[-1].images)
        job = sim.jobs[-1]
    finally:
        pr.close()
    assert not job.cut
    assert max(len(ln.encode("gbk")) for ln in job.lines) <= 32
    assert job.images[0].width <= 384


@pytest.mark.parametrize("fault, problem", [("paper", "paper out"), ("cover", "cover open"), ("silent", "no answer")])
def test_fault_detected_before_printing_within_500ms(sim, fault, problem):
    seen = []
    pr = TicketPrinter(Printer(url=sim.path), on_status=seen.append)
    try:
        assert pr.status().can_print
        sim.clear()
        if fault == "paper":
            sim.paper = "out"
        elif fault == "cover":
            sim.cover_open = True
        else:
            sim.silent = True
        t0 = time.monotonic()
        result = pr.print_ticket(TICKET)
        elapsed = time.monotonic() - t0
    finally:
        pr.close()
    assert not result.printed and problem in result.reason
    assert elapsed < 0.6
    assert sim.jobs == []  # nothing but status queries went out
    assert seen[-1].problem.startswith(problem)


def test_near_end_prints_and_is_reported_once(sim):
    seen = []
    pr = TicketPrinter(Printer(url=sim.path), on_status=seen.append)
    try:
        sim.paper = "near_end"
        assert pr.print_ticket(TICKET).printed
        assert pr.print_ticket(TICKET).printed
        assert pr.last_status.paper == Paper.NEAR_END and pr.last_status.needs_attention
    finally:
        pr.close()
    assert [s.paper for s in seen] == [Paper.NEAR_END]
    assert wait_for(lambda: len(sim.jobs) == 2)


def test_unplugged_printer_is_reopened(sim):
    pr = TicketPrinter(Printer(url=sim.path))
    try:
        assert pr.print_ticket(TICKET).printed
        assert wait_for(lambda: len(sim.jobs) == 1)  # taken off the line before the cable goes
        sim.unplug()
        st = pr.status()
        assert not st.answered and not st.can_print
        assert not pr.print_ticket(TICKET).printed
        sim.replug()
        assert pr.print_ticket(TICKET).printed
        assert wait_for(lambda: len(sim.jobs) == 2)
    finally:
        pr.close()


def test_network_printer_over_tcp():
    sim = PrinterSim(TcpEndpoint())
    pr = TicketPrinter(Printer(url=sim.path.replace("socket://", "tcp://")))
    try:
        assert pr.kind == "network"
        assert pr.print_ticket(TICKET).printed
        job = _printed(sim)
        assert job.qr_payloads == [TICKET.qr_payload]
        sim.paper = "out"
        assert pr.print_ticket(TICKET).reason == "paper out"
    finally:
        pr.close()
        sim.close()


def test_file_printer_prints_without_status(tmp_path):
    out = tmp_path / "ticket.bin"
    pr = TicketPrinter(Printer(url=str(out)))
    try:
        assert pr.kind == "file"
        r = pr.print_ticket(TICKET)
        assert r.printed and not r.status.supported
    finally:
        pr.close()
    assert out.read_bytes() == ticket_bytes(TICKET, PaperLayout())


def test_printer_kind_by_url():
    assert printer_kind("/dev/usb/lp0") == "file"
    assert printer_kind("tcp://10.0.0.5:9100") == "network"
    assert printer_kind("COM3") == "serial"
    assert printer_kind("/dev/ttyUSB0") == "serial"
    assert printer_kind("usb://0416:5011") == "usb"


def test_usb_printer_not_plugged_in_is_reported_not_crashed():
    from drivers.printer import TicketPrinter
    from hallq.model import Printer

    printer = TicketPrinter(Printer(url="usb://0416:5011"))  # a common 80 mm printer's VID:PID
    printer.open()
    status = printer.status()
    assert not status.answered and not status.can_print
    # pyusb and libusb are there (bin/hallq installs them): the reason is the missing device.
    assert "not found" in status.detail and "backend" not in status.detail.lower()


def test_unreachable_network_printer_is_reported_within_500ms():
    """A switched-off printer on the LAN makes connect() wait for its whole timeout (1 s here): the
    status check must still give up within its 500 ms bound, and tickets keep their longer timeout."""
    from escpos.exceptions import DeviceNotFoundError
    from escpos.printer import Network

    class Blackhole(Network):
        def open(self, raise_not_found: bool = True) -> None:
            time.sleep(self.timeout)  # SYNs unanswered until the socket timeout
            raise DeviceNotFoundError("timed out")

    made: list[Network] = []

    def factory(cfg):
        made.append(Blackhole("192.0.2.1", timeout=1.0))
        return made[-1]

    tp = TicketPrinter(Printer(url="tcp://192.0.2.1:9100"), escpos_factory=factory)
    t0 = time.monotonic()
    st = tp.status()
    assert time.monotonic() - t0 < 0.6
    assert not st.answered and not st.can_print
