"""The QB-68 bus master against simulated keypads and evaluators over a real pty."""

from __future__ import annotations

import threading
import time

import pytest

from drivers import qb68
from drivers.qb68 import CallNext, Grade, Outcome, Rating, Result
from drivers.qb68_bus import BusMaster
from drivers.sim import wait_for
from drivers.sim.qb68_devices import Qb68LineSim


class Recorder:
    """A handler that records events and answers from a script (default ACCEPTED)."""

    def __init__(self) -> None:
        self.events: list[qb68.Event] = []
        self.answer = Result.ACCEPTED
        self.delay = 0.0

    def __call__(self, event: qb68.Event) -> Result:
        if self.delay:
            time.sleep(self.delay)
        self.events.append(event)
        return self.answer


@pytest.fixture
def line():
    sim = Qb68LineSim()
    yield sim
    sim.close()


def start(line, handler, **kw) -> BusMaster:
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("retry_interval", 0.05)
    kw.setdefault("offline_retry", 0.2)
    return BusMaster(line.path, handler, **kw).start()


def test_event_is_handled_and_acked_with_handler_result(line):
    kp = line.add_keypad(3)
    rec = Recorder()
    with start(line, rec):
        assert kp.call_next() == Result.ACCEPTED
        rec.answer = Result.NOTHING_TO_DO
        assert kp.call_next() == Result.NOTHING_TO_DO
        assert kp.finish(Outcome.MATERIALS_INCOMPLETE) == Result.NOTHING_TO_DO
    assert rec.events == [CallNext(3, 1), CallNext(3, 2), qb68.Finish(3, 3, Outcome.MATERIALS_INCOMPLETE)]
    assert kp.beeps == 1 + 3 + 3  # one beep for accepted, three otherwise
    assert kp.last_result == Result.NOTHING_TO_DO


def test_resend_after_lost_ack_is_applied_once_and_gets_original_result(line):
    kp = line.add_keypad(3)
    rec = Recorder()
    rec.answer = Result.REJECTED
    with start(line, rec) as bus:
        kp.drop_acks = 2  # the first two ACKs are lost on the line
        press = kp.press(CallNext, wait=False)
        assert press.wait(3.0) == Result.REJECTED
        assert press.sends == 3
        assert len(rec.events) == 1
        assert bus.duplicates == 2
        # a new press (new SEQ) is a new event
        rec.answer = Result.ACCEPTED
        assert kp.call_next() == Result.ACCEPTED
        assert len(rec.events) == 2


def test_same_seq_after_dedup_window_is_a_new_event(line):
    kp = line.add_keypad(3)
    rec = Recorder()
    now = [1000.0]
    with start(line, rec, clock=lambda: now[0]):
        kp.call_next()
        kp.seq = 0  # device restarted: SEQ counts from 1 again
        now[0] += 5
        kp.call_next()  # same (addr, SEQ 1) within 10 s: a duplicate
        assert len(rec.events) == 1
        kp.seq = 0
        now[0] += 11
        kp.call_next()
        assert len(rec.events) == 2


def test_restarted_keypad_reusing_a_seq_with_another_cmd_is_a_duplicate(line):
    """Datasheet §3: (ADDR, SEQ) alone names an event. A keypad power-cycled right after CALL_NEXT
    (SEQ 1) whose first press is RECALL (SEQ 1 again) within 10 s gets CALL_NEXT's result back, and
    the RECALL is not applied; the keypad's next press (SEQ 2) is a new event."""
    kp = line.add_keypad(3)
    rec = Recorder()
    now = [1000.0]
    with start(line, rec, clock=lambda: now[0]) as bus:
        assert kp.call_next() == Result.ACCEPTED
        kp.restart()
        rec.answer = Result.NOTHING_TO_DO
        now[0] += 3
        assert kp.recall() == Result.ACCEPTED  # the first answer again, ACK naming the RECALL
        assert rec.events == [CallNext(3, 1)]
        assert bus.duplicates == 1
        now[0] += 1
        assert kp.recall() == Result.NOTHING_TO_DO
        assert rec.events == [CallNext(3, 1), qb68.Recall(3, 2)]


def test_seq_wraps_from_255_to_1(line):
    kp = line.add_keypad(4)
    rec = Recorder()
    with start(line, rec):
        kp.seq = 254
        kp.recall()
        kp.recall()
    assert [e.seq for e in rec.events] == [255, 1]


def test_slow_handler_still_applies_once(line):
    kp = line.add_keypad(3)
    rec = Recorder()
    rec.delay = 0.45  # longer than the keypad's 300 ms ACK wait: it resends meanwhile
    with start(line, rec):
        press = kp.press(CallNext, wait=False)
        assert press.wait(3.0) == Result.ACCEPTED
    assert len(rec.events) == 1
    assert press.sends >= 2


def test_malformed_and_corrupt_frames(line):
    kp = line.add_keypad(3)
    rec = Recorder()
    with start(line, rec) as bus:
        line.transmit(qb68.encode_frame(3, 0x10, b"\x07\x09"))  # FINISH, unknown outcome, SEQ 7
        assert wait_for(lambda: any(isinstance(c, qb68.Ack) and c.seq == 7 for c in kp.received))
        ack = next(c for c in kp.received if isinstance(c, qb68.Ack) and c.seq == 7)
        assert ack.result == Result.UNKNOWN
        kp.corrupt_next = 1  # first send has a bad checksum: dropped, counted, the resend gets through
        line.noise_before_next = b"\x00\xff\x68\x03"
        press = kp.press(CallNext, wait=False)
        assert press.wait(3.0) == Result.ACCEPTED
        assert press.sends == 2
        assert bus.parser.stats.bad_checksum >= 1
    assert [type(e) for e in rec.events] == [CallNext]


def test_malformed_status_is_not_acked(line):
    """STATUS is never ACKed (datasheet §4), even when its DATA is wrong: a keypad would beep three
    times at every poll."""
    kp = line.add_keypad(3)
    with start(line, Recorder(), poll_interval=10.0) as bus:
        line.transmit(qb68.encode_frame(3, qb68.Cmd.STATUS, b"\x05\x00\x00"))  # one byte too many
        assert wait_for(lambda: bus.malformed == 1)
        time.sleep(0.2)
    assert not [c for c in kp.received if isinstance(c, qb68.Ack)]


def test_commands_reach_keypad_and_evaluator(line):
    kp = line.add_keypad(3)
    ev = line.add_evaluator(0x83, prompt_seconds=0.3)
    rec = Recorder()
    with start(line, rec) as bus:
        bus.display(3, "A023")
        bus.beep(3, 2)
        bus.prompt_rating(0x83, "A023", "张三")
        assert wait_for(lambda: kp.display == "A023" and kp.beeps == 2 and ev.prompt is not None)
        assert ev.prompt.ticket == "A023" and ev.prompt.staff_name == "张三"
        bus.cancel_prompt(0x83)
        assert wait_for(lambda: ev.prompt is None and ev.cancels == 1)
        assert ev.rate(Grade.DISSATISFIED, qb68.RatingReason.EFFICIENCY) == Result.ACCEPTED
        bus.display(3, "张三号码12345")  # not ASCII, too long: sanitised, never invalid bytes
        assert wait_for(lambda: kp.display == "????1234")
        # an unanswered prompt times out into a GRADE 0 rating
        bus.prompt_rating(0x83, "A024", "李四")
        assert wait_for(lambda: any(isinstance(e, Rating) and e.grade == Grade.TIMEOUT for e in rec.events))
    assert Rating(0x83, 1, Grade.DISSATISFIED, qb68.RatingReason.EFFICIENCY) in rec.events


def test_frames_to_one_address_are_spaced(line):
    kp = line.add_keypad(3)
    stamps: list[float] = []
    orig = kp.on_command

    def stamp(cmd):
        stamps.append(time.monotonic())
        orig(cmd)

    kp.on_command = stamp
    with start(line, Recorder(), poll_interval=10) as bus:
        for i in range(5):
            bus.display(3, f"T{i}")
        assert wait_for(lambda: len(stamps) == 5)
    # ≥ 20 ms between frames on the host side. The keypad's stamps are taken when its thread reads,
    # so one gap can shrink by however long that thread was late (two frames read at once under a
    # loaded machine); the span of four gaps is late only at its two ends.
    assert stamps[-1] - stamps[0] >= 4 * 0.020 - 0.015


def test_poll_tracks_online_offline_with_callbacks(line):
    kp = line.add_keypad(3)
    line.add_evaluator(0x83)
    states: list[tuple[int, bool]] = []
    statuses = []
    with start(line, Recorder(), devices=[3, 0x83, 5], on_device_state=lambda a, o: states.append((a, o)),
               on_status=lambda a, s: statuses.append((a, s))) as bus:
        assert wait_for(lambda: {(3, True), (0x83, True), (5, False)} <= set(states))
        assert any(a == 3 and s.flags & qb68.StatusFlags.RESTARTED for a, s in statuses)
        kp.silent = True
        assert wait_for(lambda: states.count((3, False)) == 1)
        assert bus.health[3].missed >= 3
        kp.silent = False
        assert wait_for(lambda: states.count((3, True)) == 2)
        status = bus.poll(3)
        assert status is not None and status.addr == 3
    assert (5, True) not in states


def test_port_that_disappears_is_reconnected(line):
    kp = line.add_keypad(3)
    port_states: list[bool] = []
    dev_states: list[tuple[int, bool]] = []
    with start(line, Recorder(), devices=[3], on_port_state=port_states.append,
               on_device_state=lambda a, o: dev_states.append((a, o))):
        assert kp.call_next() == Result.ACCEPTED
        assert wait_for(lambda: dev_states == [(3, True)])
        line.unplug()
        assert wait_for(lambda: port_states[-1:] == [False])
        time.sleep(0.2)  # several retries and polls while unplugged: still reported once
        assert port_states == [True, False]
        # The line is down, not the keypad: it is never reported offline for that (one fault, one alert).
        assert dev_states == [(3, True)]
        line.replug()
        assert wait_for(lambda: port_states[-1:] == [True], 3.0)
        assert kp.call_next() == Result.ACCEPTED
    assert port_states == [True, False, True] and dev_states == [(3, True)]


def test_port_missing_at_start_comes_up_later(tmp_path):
    line = Qb68LineSim()
    try:
        kp = line.add_keypad(3)
        line.unplug()
        states: list[bool] = []
        rec = Recorder()
        with BusMaster(line.path, rec, retry_interval=0.05, on_port_state=states.append).start():
            assert wait_for(lambda: states == [False])
            line.replug()
            assert wait_for(lambda: states == [False, True], 3.0)
            assert kp.call_next() == Result.ACCEPTED
    finally:
        line.close()


def test_many_devices_share_one_line_concurrently(line):
    pads = [line.add_keypad(a) for a in range(1, 9)]
    rec = Recorder()
    lock = threading.Lock()
    with start(line, rec, devices=range(1, 9)):
        presses = []
        with lock:
            for kp in pads:
                presses.append(kp.press(CallNext, wait=False))
        assert all(p.wait(3.0) == Result.ACCEPTED for p in presses)
    assert sorted(e.addr for e in rec.events) == list(range(1, 9))


def polls_to(line, addr: int) -> int:
    return sum(1 for f in line.host_frames if f.addr == addr and f.cmd == qb68.Cmd.POLL)


def test_offline_devices_are_polled_only_now_and_then(line):
    line.add_keypad(3)
    with start(line, Recorder(), devices=[3, 5], poll_interval=0.02, offline_retry=0.5) as bus:
        assert wait_for(lambda: bus.online(5) is False)
        before_dead, before_live = polls_to(line, 5), polls_to(line, 3)
        time.sleep(1.2)
        dead, live = polls_to(line, 5) - before_dead, polls_to(line, 3) - before_live
    assert 1 <= dead <= 3  # retried every 0.5 s, not every cycle
    assert live >= 10  # the live device is still polled every cycle


def test_acks_go_before_polls_on_a_busy_line(line):
    kp = line.add_keypad(3)
    dead = [5, 6, 7, 8]  # each poll of these holds the line for the whole poll timeout
    with start(line, Recorder(), devices=[3, *dead], poll_interval=0.0, offline_retry=0.0):
        assert wait_for(lambda: polls_to(line, 8) >= 3)
        between = []
        for _ in range(8):
            mark = len(line.host_frames)
            assert kp.call_next() == Result.ACCEPTED
            frames = line.host_frames[mark:]
            ack = next(i for i, f in enumerate(frames) if f.addr == 3 and f.cmd == qb68.Cmd.ACK)
            between.append(sum(1 for f in frames[:ack] if f.cmd == qb68.Cmd.POLL))
    # At most the poll already on the wire when the key was pressed goes first.
    assert max(between) <= 1, between


def test_a_key_is_acked_in_time_behind_a_burst_of_displays_at_9600_bit_s():
    """On a line that takes its wire time, 40 keypad displays are 0.7 s of bytes. A call changes
    every keypad's waiting count: written at once into the adapter while the server answers, the
    displays put the call's ACK behind them, past the keypad's 300 ms resend (datasheet §3), and a
    big hall lost key presses.
    """
    from drivers.sim.pty import WirePtyEndpoint

    sim = Qb68LineSim(WirePtyEndpoint("wire", baudrate=9600))
    try:
        kp = sim.add_keypad(1)
        others = [sim.add_keypad(a) for a in range(2, 42)]
        master: list[BusMaster] = []

        def handler(event: qb68.Event) -> Result:
            threading.Thread(target=lambda: [master[0].display(d.addr, "W  12") for d in others], daemon=True).start()
            time.sleep(0.03)  # the server's answer
            return Result.ACCEPTED

        with start(sim, handler, devices=[1], poll_interval=10.0) as bus:
            master.append(bus)
            assert wait_for(lambda: kp.polls >= 1, 3.0)
            press = kp.call_next(wait=False)
            assert press.wait(3.0) == Result.ACCEPTED
            assert press.sends == 1, "the keypad had to resend: its ACK came after 300 ms"
            assert wait_for(lambda: all(d.display == "W  12" for d in others), 3.0)
    finally:
        sim.close()
