"""Datasheet examples byte for byte, and property tests for the QB-68 and LS-A0 codecs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import lsa0, qb68
from drivers.gbk import encode_gbk
from drivers.printer import Paper, parse_status
from drivers.qb68 import (
    Ack,
    CallNext,
    Cmd,
    FrameParser,
    Grade,
    Outcome,
    RatingReason,
    Result,
)

# ---------------------------------------------------------------- datasheet examples


def test_qb68_call_next_example_both_directions():
    raw = bytes.fromhex("FF 68 03 03 68 03 0C 01 10 16")
    assert CallNext(addr=3, seq=1).encode() == raw
    frames = FrameParser().feed(raw)
    assert frames == [qb68.Frame(3, 0x0C, b"\x01")]
    assert qb68.decode(frames[0]) == CallNext(3, 1)


def test_qb68_ack_example_checksum_equals_end_byte():
    raw = bytes.fromhex("FF 68 05 05 68 03 06 01 0C 00 16 16")
    assert Ack(3, 1, Cmd.CALL_NEXT, Result.ACCEPTED).encode() == raw
    parser = FrameParser()
    # byte by byte, so the parser never sees the CS 0x16 together with the end byte
    frames = [f for b in raw for f in parser.feed(bytes([b]))]
    assert [qb68.decode(f) for f in frames] == [Ack(3, 1, 0x0C, Result.ACCEPTED)]
    assert parser.stats.dropped == 0


def test_lsa0_show_example_both_directions():
    raw = bytes.fromhex("A0 90 03 A5 00 06 01 02 41 30 32 33 E3")
    assert lsa0.encode(lsa0.Show(3, "A023", lsa0.Color.GREEN, lsa0.Mode.BLINK)) == raw
    [(frame, ok)] = lsa0.FrameParser().feed(raw)
    assert ok
    assert lsa0.decode(frame) == lsa0.Show(3, "A023", lsa0.Color.GREEN, lsa0.Mode.BLINK)


def test_gbk_bytes_of_datasheet_characters():
    assert encode_gbk("请").data == bytes.fromhex("C7 EB")
    assert encode_gbk("号").data == bytes.fromhex("BA C5")
    assert encode_gbk("窗口").data == bytes.fromhex("B4 B0 BF DA")
    show = lsa0.encode(lsa0.Show(3, "请到3号窗口"))
    assert bytes.fromhex("C7 EB") in show and bytes.fromhex("B4 B0 BF DA") in show


def test_printer_status_bytes_from_datasheet():
    assert parse_status(0x12, 0x12, 0x12).paper == Paper.OK
    assert parse_status(0x12, 0x12, 0x1E).paper == Paper.NEAR_END
    assert parse_status(0x12, 0x12, 0x1E).can_print
    out = parse_status(0x1A, 0x32, 0x72)
    assert out.paper == Paper.OUT and not out.can_print and out.offline
    cover = parse_status(0x1A, 0x16, 0x12)
    assert cover.cover_open and not cover.can_print


def test_gbk_replacement_and_cut_on_character_boundary():
    enc = encode_gbk("A😀号", 64)
    assert enc.data == b"A?" + "号".encode("gbk") and enc.replaced == ("😀",)
    cut = lsa0.encode_text("号" * 40)  # 80 bytes
    assert len(cut.data) == 64 and cut.truncated and cut.text == "号" * 32
    odd = lsa0.encode_text("A" + "号" * 40)  # a 2-byte char would straddle byte 64
    assert len(odd.data) == 63 and odd.data.decode("gbk") == "A" + "号" * 31


def test_malformed_events_are_reported_not_raised_as_other_errors():
    bad = [
        qb68.Frame(3, 0x10, b"\x01\x09"),  # FINISH with unknown outcome
        qb68.Frame(3, 0x0C, b""),  # no SEQ
        qb68.Frame(3, 0x0C, b"\x00"),  # SEQ 0 is never used
        qb68.Frame(0x83, 0x11, b"\x01\x04\x01"),  # RATING reason with grade 4
        qb68.Frame(3, 0x77, b"\x01"),  # unknown CMD
        qb68.Frame(3, 0x0A, b"\x01abc"),  # LOGIN with letters
    ]
    for f in bad:
        try:
            qb68.decode(f)
        except qb68.MalformedError:
            continue
        raise AssertionError(f"{f} decoded")


# ---------------------------------------------------------------- strategies

seqs = st.integers(1, 255)
keypads = st.integers(0x01, 0x7E)
evaluators = st.integers(0x81, 0xFE)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)


@st.composite
def ratings(draw):
    grade = draw(st.sampled_from(list(Grade)))
    reason = draw(st.sampled_from(list(RatingReason))) if grade in (1, 2) and draw(st.booleans()) else None
    return qb68.Rating(draw(evaluators), draw(seqs), grade, reason)


events = st.one_of(
    st.builds(qb68.Login, keypads, seqs, st.text("0123456789", min_size=1, max_size=8)),
    *[st.builds(c, keypads, seqs) for c in (qb68.Logout, qb68.CallNext, qb68.Recall, qb68.NoShow,
                                            qb68.InviteRating, qb68.Resume)],
    st.builds(qb68.Finish, keypads, seqs, st.sampled_from(list(Outcome))),
    st.builds(qb68.Function, keypads, seqs, st.sampled_from(list(qb68.FunctionCode)), ascii_text),
    st.builds(qb68.Pause, keypads, seqs, st.sampled_from(list(qb68.PauseReason))),
    st.builds(qb68.Transfer, keypads, seqs,
              st.one_of(st.integers(1, 999).map(lambda n: f"W{n}"), st.from_regex(r"S[0-9A-Z]{1,6}", fullmatch=True))),
    ratings(),
    st.builds(qb68.Status, st.integers(1, 0xFE), st.integers(0, 255), st.sampled_from([qb68.StatusFlags(v) for v in range(8)])),
)

gbk_names = st.text(st.sampled_from("张三李四王五赵六钱七孙八周吴郑王AaBb·"), max_size=20)
commands = st.one_of(
    st.builds(Ack, st.integers(1, 0xFE), seqs, st.sampled_from([int(c) for c in Cmd]), st.sampled_from(list(Result))),
    st.builds(qb68.Display, keypads, ascii_text),
    st.builds(qb68.Beep, keypads, st.integers(0, 255)),
    st.builds(qb68.RatingPrompt, evaluators, st.from_regex(r"[A-F][0-9]{3}", fullmatch=True), gbk_names),
    st.builds(qb68.CancelPrompt, evaluators),
    st.builds(qb68.Poll, st.integers(1, 0xFE)),
)
messages = st.one_of(events, commands)


@given(messages)
def test_every_qb68_message_round_trips(msg):
    raw = msg.encode()
    frames = FrameParser().feed(raw)
    assert len(frames) == 1
    assert qb68.decode(frames[0]) == msg


def _no_ff(b: bytes) -> bytes:
    return bytes(x for x in b if x != 0xFF)


@st.composite
def corrupted_frames(draw):
    """A frame with a sound header but a wrong CS or end byte; no 0xFF inside, so no frame can
    start within it and the parser must drop exactly this one."""
    addr = draw(st.integers(0, 0xFE))
    cmd = draw(st.integers(0, 0xFE))
    data = draw(st.binary(max_size=20).map(_no_ff))
    raw = bytearray(qb68.encode_frame(addr, cmd, data))
    if draw(st.booleans()):
        raw[-2] = (raw[-2] + draw(st.integers(1, 255))) & 0xFF
        if raw[-2] == 0xFF:
            raw[-2] = (qb68.checksum(addr, cmd, data) + 1) & 0xFF or 1
        kind = "cs"
    else:
        raw[-1] = draw(st.integers(0, 0xFE).filter(lambda b: b != qb68.END))
        kind = "end"
    return bytes(raw), kind


noise = st.binary(max_size=12).map(_no_ff)


@settings(max_examples=200)
@given(st.lists(st.one_of(messages.map(lambda m: ("ok", m)), corrupted_frames().map(lambda c: ("bad", c)),
                          noise.map(lambda n: ("noise", n))), max_size=12),
       st.lists(st.integers(1, 40), max_size=30))
def test_stream_of_frames_noise_and_bad_frames_yields_valid_frames_in_order(parts, cuts):
    stream = b""
    expected = []
    bad = {"cs": 0, "end": 0}
    for kind, item in parts:
        if kind == "ok":
            stream += item.encode()
            expected.append(item)
        elif kind == "bad":
            raw, why = item
            stream += raw
            bad[why] += 1
        else:
            stream += item
    parser = FrameParser()
    got = []
    pos = 0
    for c in cuts:  # arbitrary chunking
        got += parser.feed(stream[pos : pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    assert [qb68.decode(f) for f in got] == expected
    assert parser.stats.bad_checksum == bad["cs"]
    assert parser.stats.bad_end == bad["end"]


def _reference_frames(stream: bytes) -> list[qb68.Frame]:
    """Non-streaming reference: try a frame at every offset, skip it whole when valid."""
    out = []
    i = 0
    while i < len(stream):
        s = stream[i:]
        if len(s) >= 7 and s[0] == 0xFF and s[1] == 0x68 and s[2] == s[3] and 2 <= s[2] <= 64 and s[4] == 0x68:
            n = s[2]
            if len(s) >= n + 7:
                addr, cmd, data = s[5], s[6], s[7 : 5 + n]
                if s[5 + n] == qb68.checksum(addr, cmd, data) and s[6 + n] == 0x16:
                    out.append(qb68.Frame(addr, cmd, bytes(data)))
                    i += n + 7
                    continue
        i += 1
    return out


frame_ish = st.one_of(
    st.binary(max_size=30),
    messages.map(lambda m: m.encode()),
    messages.map(lambda m: m.encode()[: len(m.encode()) // 2]),
    st.just(b"\xff\x68"),
)


@settings(max_examples=300)
@given(st.lists(frame_ish, max_size=10), st.lists(st.integers(1, 17), max_size=40))
def test_any_bytes_never_raise_and_chunking_does_not_matter(pieces, cuts):
    stream = b"".join(pieces)
    p1 = FrameParser()
    whole = p1.feed(stream)
    # At the end of the stream an unfinished candidate is abandoned (as when the line goes quiet).
    whole += p1.flush()
    assert whole == _reference_frames(stream)
    parser = FrameParser()
    got = []
    pos = 0
    for c in cuts:
        got += parser.feed(stream[pos : pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    got += parser.flush()
    assert got == whole
    for f in got:
        try:
            qb68.decode(f)
        except qb68.MalformedError:
            pass


# ---------------------------------------------------------------- LS-A0 properties

strip_addrs = st.integers(1, 0xFE)
gbk_text = st.text(st.sampled_from("A023 请到号窗口社保医保暂停服务0123456789"), max_size=40)
strip_commands = st.one_of(
    st.builds(lsa0.Show, strip_addrs, gbk_text, st.sampled_from(list(lsa0.Color)), st.sampled_from(list(lsa0.Mode))),
    st.builds(lsa0.SetIdle, strip_addrs, gbk_text, st.sampled_from(list(lsa0.Color))),
    st.builds(lsa0.ShowIdle, strip_addrs),
    st.builds(lsa0.Brightness, strip_addrs, st.integers(0, 15)),
    st.builds(lsa0.Clear, strip_addrs),
)


def _fits(cmd):
    """Text commands round-trip exactly when the text fits 64 GBK bytes; longer text is cut."""
    text = getattr(cmd, "text", "")
    return len(text.encode("gbk")) <= 64


@given(strip_commands)
def test_every_strip_command_round_trips(cmd):
    raw = lsa0.encode(cmd)
    [(frame, ok)] = lsa0.FrameParser().feed(raw)
    assert ok
    decoded = lsa0.decode(frame)
    if _fits(cmd):
        assert decoded == cmd
    else:
        assert decoded.text == lsa0.encode_text(cmd.text).text


@given(st.lists(st.one_of(strip_commands.map(lsa0.encode), st.binary(max_size=10).map(
    lambda b: bytes(x for x in b if x != 0xA0))), max_size=10), st.lists(st.integers(1, 13), max_size=30))
def test_strip_frame_stream_with_noise_and_chunks(pieces, cuts):
    stream = b"".join(pieces)
    expected = [p for p in pieces if p[:1] == b"\xa0"]
    parser = lsa0.FrameParser()
    got = []
    pos = 0
    for c in cuts:
        got += parser.feed(stream[pos : pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    assert [f.encode() for f, ok in got if ok] == expected


@given(st.lists(st.builds(lsa0.Answer, strip_addrs, st.sampled_from(list(lsa0.Cmd)), st.booleans()), max_size=8),
       st.binary(max_size=40))
def test_answers_parse_in_order_and_random_bytes_never_raise(answers, junk):
    parser = lsa0.AnswerParser()
    assert parser.feed(b"".join(a.encode() for a in answers)) == answers
    lsa0.AnswerParser().feed(junk)
    lsa0.FrameParser().feed(junk)
