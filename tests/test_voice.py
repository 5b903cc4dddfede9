"""Spoken calls: the clip sequence, queueing without overlap or loss, and generated clips."""

from __future__ import annotations

import os
import shutil
import threading
import wave

import pytest

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from caller.voice import TOKENS, ClipLibrary, Voice, clips_for, code_tokens, number_tokens  # noqa: E402


def sentence(code: list[str], window: list[str]) -> list[str]:
    return ["qing", *code, "hao", "dao", *window, "hao_chuangkou_banli"]


def test_call_is_read_character_by_character_twice():
    once = sentence(["A", "0", "2", "3"], ["3"])
    assert clips_for("A023", 3) == ["chime", *once, "pause", *once]
    twelve = sentence(["B", "1", "0", "7"], ["shi", "2"])
    assert clips_for("b107", 12) == ["chime", *twelve, "pause", *twelve]


@pytest.mark.parametrize(("n", "tokens"), [
    (0, ["0"]), (3, ["3"]), (10, ["shi"]), (12, ["shi", "2"]), (20, ["2", "shi"]), (39, ["3", "shi", "9"]),
    (100, ["1", "bai"]), (105, ["1", "bai", "0", "5"]), (110, ["1", "bai", "1", "shi"]),
    (126, ["1", "bai", "2", "shi", "6"]),
])
def test_window_numbers_are_read_as_numbers(n, tokens):
    assert number_tokens(n) == tokens


def test_unreadable_code_is_refused():
    with pytest.raises(ValueError):
        code_tokens("A-23")


def tiny_clips(folder) -> None:
    """A recorded clip for every token, 20 ms each, so tests play the real path quickly."""
    folder.mkdir(exist_ok=True)
    for token in TOKENS:
        with wave.open(str(folder / f"{token}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\x10\x00" * 441)


def test_simultaneous_calls_are_announced_whole_and_in_order(tmp_path):
    tiny_clips(tmp_path / "clips")
    heard: list[str] = []
    voice = Voice(clip_dir=tmp_path / "clips", cache_dir=tmp_path / "cache", on_clip=heard.append).start()
    try:
        barrier = threading.Barrier(2)

        def call(code, window):
            barrier.wait()
            voice.announce(code, window)

        threads = [threading.Thread(target=call, args=a) for a in (("A023", 3), ("C105", 12))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        voice.announce("A023", 3)  # a recall announces again
        assert voice.wait_idle(20)
    finally:
        voice.stop()
    first, second = voice.played[0][:2], voice.played[1][:2]
    assert {first, second} == {("A023", 3), ("C105", 12)}
    assert voice.played[2][:2] == ("A023", 3)
    expected = clips_for(*first) + clips_for(*second) + clips_for("A023", 3)
    assert heard == expected  # never interleaved, nothing dropped
    assert not (tmp_path / "cache").exists()  # every clip came from the hall's recordings


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_missing_clips_are_generated_with_espeak(tmp_path):
    library = ClipLibrary(clip_dir=tmp_path / "none", cache_dir=tmp_path / "cache")
    for token in ("qing", "A", "3", "hao_chuangkou_banli", "chime", "pause"):
        path = library.path(token)
        assert path.parent == tmp_path / "cache"
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
            frames = w.readframes(w.getnframes())
        assert 0.1 < seconds < 3.0, (token, seconds)
        if token != "pause":
            assert max(frames) > 0
    # Phrases are longer than one syllable; leading silence was trimmed.
    with wave.open(str(library.path("qing"))) as w:
        qing = w.getnframes()
    with wave.open(str(library.path("hao_chuangkou_banli"))) as w:
        assert w.getnframes() > 2 * qing


def test_a_broken_recording_does_not_silence_the_hall(tmp_path):
    """A hall's clip pygame cannot load (a renamed MP3, say) loses that announcement only: the
    voice thread survives and the next call is heard."""
    tiny_clips(tmp_path / "clips")
    (tmp_path / "clips" / "B.wav").write_bytes(b"ID3 not a wave file at all")
    voice = Voice(clip_dir=tmp_path / "clips", cache_dir=tmp_path / "cache").start()
    try:
        voice.announce("B001", 3)
        voice.announce("A023", 3)
        assert voice.wait_idle(20)
    finally:
        voice.stop()
    assert [p[:2] for p in voice.played] == [("A023", 3)]
