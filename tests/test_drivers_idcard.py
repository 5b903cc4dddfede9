"""The ID card reader (SAM frames): datasheet bytes, a fuzzed stream parser, and the reader client
against the simulated reader over a real pty, with every fault the datasheet names."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import idcard
from drivers.idcard import CardText, Cmd, FrameParser, Status
from drivers.idcard_reader import IdCardReader
from drivers.sim import wait_for
from drivers.sim.idcard import DEMO_CARDS, IdCardReaderSim, id_number, make_card

# ---------------------------------------------------------------- datasheet bytes


@pytest.mark.parametrize(("cmd", "raw"), [
    (Cmd.FIND, "AA AA AA 96 69 00 03 20 01 22"),
    (Cmd.SELECT, "AA AA AA 96 69 00 03 20 02 21"),
    (Cmd.READ, "AA AA AA 96 69 00 03 30 01 32"),
    (Cmd.SAM_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
])
def test_commands_are_the_datasheet_bytes(cmd, raw):
    assert idcard.command(cmd) == bytes.fromhex(raw)
    [frame] = FrameParser().feed(bytes.fromhex(raw))
    assert frame.cmd == cmd


def test_answers_are_the_datasheet_bytes():
    found = bytes.fromhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
    none = bytes.fromhex("AA AA AA 96 69 00 04 00 00 80 84")
    assert idcard.answer(Status.CARD_FOUND, b"\0\0\0\0") == found
    assert idcard.answer(Status.NO_CARD) == none
    frames = FrameParser().feed(found + none)
    assert [(f.status, f.data) for f in frames] == [(0x9F, b"\0\0\0\0"), (0x80, b"")]


def test_text_block_layout_is_ucs2_le_at_the_datasheet_offsets():
    card = make_card("王秀英", date(1950, 3, 8), 242, sex="2")
    block = card.encode()
    assert len(block) == 256
    assert block[0:6] == "王秀英".encode("utf-16-le") and block[6:8] == b"\x20\x00"
    assert block[30:32] == b"2\x00" and block[32:36] == "01".encode("utf-16-le")
    assert block[36:52] == "19500308".encode("utf-16-le")
    assert block[122:158] == card.id_number.encode("utf-16-le")
    assert block[204:208] == "长期".encode("utf-16-le") and block[208:220] == b"\x20\x00" * 6
    assert CardText.decode(block) == card
    text, photo = idcard.parse_read(idcard.read_data(block, b"\x55" * 1024))
    assert text == card and photo == 1024


def test_made_up_id_numbers_have_a_valid_check_digit():
    # GB 11643 example from the standard: 11010519491231002X
    assert id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


# ---------------------------------------------------------------- the stream parser, fuzzed

answers = st.builds(lambda sw3, data: idcard.answer(sw3, data), st.sampled_from(list(Status)), st.binary(max_size=40))


def _damaged(raw: bytes, flip: int) -> bytes:
    i = 5 + flip % (len(raw) - 5)  # anywhere after the preamble: LEN, payload or CHK
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]


noise = st.binary(max_size=16).map(lambda b: b.replace(b"\xaa", b"\x55"))  # no preamble inside noise


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(answers.map(lambda a: ("ok", a)),
                          st.tuples(answers, st.integers(0, 100)).map(lambda t: ("bad", _damaged(*t))),
                          noise.map(lambda n: ("noise", n))), max_size=10),
       st.lists(st.integers(1, 30), max_size=40))
def test_stream_with_noise_damage_and_any_chunking_yields_the_good_frames_in_order(parts, cuts):
    stream = b""
    expected = []
    for kind, raw in parts:
        stream += raw
        if kind == "ok":
            expected.append(raw)
    parser = FrameParser()
    got, pos = [], 0
    for c in cuts:
        got += parser.feed(stream[pos:pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    if all(kind != "bad" for kind, _ in parts):
        assert [idcard.frame(f.payload) for f in got] == expected
        return
    # A damaged LEN may swallow what follows until the host's timeout resets the parser, and the
    # datasheet's one-byte XOR passes a wrongly cut frame once in 256: what comes out is checksum-valid,
    # and every intact frame before the first damaged one comes out first, whole and in order.
    before = []
    for kind, raw in parts:
        if kind == "bad":
            break
        if kind == "ok":
            before.append(raw)
    assert all(f.ok for f in got)
    assert [idcard.frame(f.payload) for f in got[:len(before)]] == before


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), answers, st.just(idcard.PREAMBLE)), max_size=10),
       st.lists(st.integers(1, 17), max_size=40))
def test_any_bytes_never_raise_and_chunking_does_not_matter(pieces, cuts):
    stream = b"".join(pieces)
    whole = FrameParser().feed(stream)
    parser = FrameParser()
    got, pos = [], 0
    for c in cuts:
        got += parser.feed(stream[pos:pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    assert got == whole
    for f in got:
        assert f.ok and f.payload is not None


def test_bad_checksum_resumes_one_byte_after_its_preamble():
    good = idcard.answer(Status.NO_CARD)
    # A frame whose CHK is wrong, holding a good frame inside it: the good one must still be found.
    outer = idcard.frame(b"\x00\x00\x90" + good)
    bad = outer[:-1] + bytes([outer[-1] ^ 0xFF])
    parser = FrameParser()
    frames = parser.feed(bad)
    assert [f.status for f in frames] == [0x80]
    assert parser.stats.bad_checksum == 1


# ---------------------------------------------------------------- the reader against the simulator


class Seen:
    def __init__(self) -> None:
        self.cards = []
        self.removed = 0
        self.states: list[tuple[bool, str]] = []


@pytest.fixture
def sim():
    s = IdCardReaderSim()
    yield s
    s.close()


def reader_for(sim, seen: Seen, **kw) -> IdCardReader:
    kw.setdefault("answer_timeout", 0.5)
    kw.setdefault("offline_retry", 0.3)
    kw.setdefault("retry_interval", 0.2)
    return IdCardReader(sim.path, on_card=seen.cards.append, on_removed=lambda: setattr(seen, "removed", seen.removed + 1),
                        on_state=lambda on, why: seen.states.append((on, why)), **kw).start()


def test_a_placed_card_is_read_once_until_taken_away(sim):
    seen = Seen()
    with reader_for(sim, seen) as reader:
        assert wait_for(lambda: reader.online, 5)
        assert seen.states == [(True, "")]
        sim.place(DEMO_CARDS[0])
        assert wait_for(lambda: seen.cards, 5)
        card = seen.cards[0]
        assert card.text == DEMO_CARDS[0] and len(card.serial) == 8 and card.photo_bytes == 1024
        assert not hasattr(card, "photo")  # the photo is measured, never kept
        finds = sim.received.count(Cmd.FIND)
        assert wait_for(lambda: sim.received.count(Cmd.FIND) >= finds + 3, 5)
        assert len(seen.cards) == 1 and sim.reads == 1  # lying on the reader: not read again
        sim.remove()
        assert wait_for(lambda: seen.removed == 1, 5)
        sim.place(DEMO_CARDS[1])
        assert wait_for(lambda: len(seen.cards) == 2, 5)
        assert seen.cards[1].text.name == "李建国"
    # Strictly find -> select -> read for each card, with finds in between.
    seq = [c for c in sim.received if c != Cmd.FIND]
    assert seq == [Cmd.SAM_STATUS, Cmd.SELECT, Cmd.READ, Cmd.SELECT, Cmd.READ]


def test_polls_no_faster_than_every_300_ms(sim):
    seen = Seen()
    with reader_for(sim, seen, poll_interval=0.01) as reader:
        assert wait_for(lambda: reader.online, 5)
        start = len(sim.received)
        assert wait_for(lambda: len(sim.received) >= start + 4, 5)
        finds = [t for c, t in zip(sim.received, sim.received_at, strict=True) if c == Cmd.FIND]
        assert min(b - a for a, b in zip(finds, finds[1:], strict=False)) >= 0.29


@pytest.mark.parametrize("fault", ["fail_select", "fail_read", "corrupt_answers", "damage_commands"])
def test_a_failed_read_is_retried_from_find(sim, fault):
    seen = Seen()
    with reader_for(sim, seen) as reader:
        assert wait_for(lambda: reader.online, 5)
        setattr(sim, fault, 2)
        sim.place(DEMO_CARDS[2])
        assert wait_for(lambda: seen.cards, 8)
        assert seen.cards[0].text == DEMO_CARDS[2]
        assert len(seen.cards) == 1 and reader.online
        if fault == "damage_commands":
            assert reader.stats.command_errors == 2
        elif fault != "corrupt_answers":
            assert reader.stats.read_failures == 2


def test_noise_and_split_answers_still_read(sim):
    seen = Seen()
    sim.noise = b"\x00\xaa\xaa\x13"
    sim.split = 7
    with reader_for(sim, seen, read_timeout=3.0) as reader:
        assert wait_for(lambda: reader.online, 5)
        sim.place(DEMO_CARDS[0])
        assert wait_for(lambda: seen.cards, 8)
        assert seen.cards[0].text == DEMO_CARDS[0]


def test_silence_and_late_answers_make_it_offline_and_it_comes_back(sim):
    seen = Seen()
    with reader_for(sim, seen, answer_timeout=0.2) as reader:
        assert wait_for(lambda: reader.online, 5)
        sim.silent = True
        assert wait_for(lambda: reader.online is False, 5)
        assert seen.states[-1] == (False, "no answer")
        sim.silent = False
        assert wait_for(lambda: reader.online, 5)
        sim.delay = 0.4  # past the host's 200 ms: no answer
        assert wait_for(lambda: reader.online is False, 8)
        sim.delay = 0.0
        assert wait_for(lambda: reader.online, 5)
        sim.place(DEMO_CARDS[1])
        assert wait_for(lambda: seen.cards, 5)


def test_sam_self_test_failure_is_offline_until_a_reset_heals_it(sim):
    seen = Seen()
    sim.sam_failed = True
    sim.reset_heals = False
    with reader_for(sim, seen) as reader:
        assert wait_for(lambda: reader.online is False, 5)
        assert seen.states[-1] == (False, "SAM self-test failed")
        sim.place(DEMO_CARDS[0])
        assert wait_for(lambda: sim.received.count(Cmd.SAM_RESET) >= 2, 5)
        assert not seen.cards and Cmd.FIND not in sim.received
        sim.reset_heals = True
        assert wait_for(lambda: reader.online, 5)
        assert wait_for(lambda: seen.cards, 5)


def test_an_unplugged_reader_is_offline_and_resumes_when_plugged_in(sim):
    seen = Seen()
    with reader_for(sim, seen) as reader:
        assert wait_for(lambda: reader.online, 5)
        sim.unplug()
        assert wait_for(lambda: reader.online is False, 5)
        sim.replug()
        assert wait_for(lambda: reader.online, 8)
        sim.place(DEMO_CARDS[0])
        assert wait_for(lambda: seen.cards, 5)
    assert [s for s, _ in seen.states] == [True, False, True]


def test_the_simulator_answers_bad_commands_with_the_datasheet_status(sim):
    from drivers.transport import LineSettings, ReconnectingPort

    port = ReconnectingPort(sim.path, LineSettings(baudrate=115200))
    assert port.wait_online(3)
    parser = FrameParser()

    def ask(raw: bytes) -> int:
        port.write(raw)
        got: list = []
        assert wait_for(lambda: got.extend(parser.feed(port.read(64))) or got, 3)
        return got[0].status

    try:
        good = idcard.command(Cmd.FIND)
        assert ask(good[:-1] + bytes([good[-1] ^ 1])) == Status.COMMAND_CHECKSUM
        assert ask(idcard.command(Cmd.FIND, b"\x01")) == Status.COMMAND_LENGTH
        assert ask(idcard.frame(b"\x55\x01")) == Status.UNKNOWN_COMMAND
        assert ask(good) == Status.NO_CARD
    finally:
        port.close()
