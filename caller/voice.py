"""Spoken calls: "请 A023 号到 3 号窗口办理", twice, played from a folder of clips.

Halls record a human voice when they can; so the announcement is built from clips, one WAV per
token, that a hall drops into `config/voice/` (see config/voice/README.md for the token set). A
token with no recording is generated once with espeak-ng (Mandarin read from pinyin, letters in
English) into a cache directory, so a hall with no recordings still speaks.

Reading rules (what Chinese halls do): the ticket is read character by character ("A 零 二 三"),
the window number as a number ("3号" 三, "12号" 十二, "40号" 四十), since that is how people
name windows. Announcements queue: they never overlap and none is dropped when several windows
call at once.
"""

from __future__ import annotations

import array
import logging
import math
import os
import queue
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("hallq.voice")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP_DIR = REPO / "config" / "voice"
REPEATS = 2

PINYIN_VOICE = "cmn-latn-pinyin"  # the plain "cmn" voice reads tone digits as English numbers
DIGITS = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
# token -> (espeak-ng voice, text). File names are the tokens: qing.wav, A.wav, 0.wav …
SPOKEN: dict[str, tuple[str, str]] = {
    "qing": (PINYIN_VOICE, "qing3"),  # 请
    "hao": (PINYIN_VOICE, "hao4"),  # 号 (after the ticket number)
    "dao": (PINYIN_VOICE, "dao4"),  # 到
    "shi": (PINYIN_VOICE, "shi2"),  # 十 (window numbers)
    "bai": (PINYIN_VOICE, "bai3"),  # 百
    "hao_chuangkou_banli": (PINYIN_VOICE, "hao4 chuang1 kou3 ban4 li3"),  # 号窗口办理
    **{str(d): (PINYIN_VOICE, p) for d, p in enumerate(DIGITS)},
    **{chr(c): ("en", chr(c)) for c in range(ord("A"), ord("Z") + 1)},  # ticket prefixes, as halls say them
}
SYNTHETIC = ("chime", "pause")  # a two-tone chime before the call, a short silence between repeats
TOKENS = (*SYNTHETIC, *SPOKEN)


class VoiceUnavailable(RuntimeError):
    """A clip is neither recorded nor can be generated."""


def number_tokens(n: int) -> list[str]:
    """A window number read as a number: 3 -> 三, 12 -> 十二, 20 -> 二十, 105 -> 一百零五."""
    if n < 0:
        raise ValueError("window numbers are not negative")
    if n < 10:
        return [str(n)]
    if n < 20:
        return ["shi"] + ([str(n - 10)] if n > 10 else [])
    if n < 100:
        tens, ones = divmod(n, 10)
        return [str(tens), "shi"] + ([str(ones)] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        out = [str(hundreds), "bai"]
        if rest == 0:
            return out
        if rest < 10:
            return out + ["0", str(rest)]
        tens, ones = divmod(rest, 10)
        return out + [str(tens), "shi"] + ([str(ones)] if ones else [])
    return list(str(n))  # no hall has a thousand windows; read digit by digit


def code_tokens(code: str) -> list[str]:
    """A ticket code read character by character: "A023" -> A 零 二 三."""
    out = []
    for ch in code.strip().upper():
        if ch.isascii() and (ch.isdigit() or ch.isalpha()):
            out.append(ch)
        else:
            raise ValueError(f"ticket code {code!r}: cannot read {ch!r}")
    return out


def clips_for(code: str, window: int) -> list[str]:
    """The clip tokens of one announcement: chime, then the sentence twice with a pause between."""
    sentence = ["qing", *code_tokens(code), "hao", "dao", *number_tokens(window), "hao_chuangkou_banli"]
    out = ["chime"]
    for i in range(REPEATS):
        if i:
            out.append("pause")
        out += sentence
    return out


# --------------------------------------------------------------------------- the clip files


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hallq" / "voice"


class ClipLibrary:
    """Token -> WAV file: the hall's recording if there is one, else a generated clip (cached)."""

    def __init__(self, clip_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                 rate: int = 22050) -> None:
        self.clip_dir = Path(clip_dir) if clip_dir else DEFAULT_CLIP_DIR
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.rate = rate
        self._lock = threading.Lock()

    def path(self, token: str) -> Path:
        recorded = self.clip_dir / f"{token}.wav"
        if recorded.is_file():
            return recorded
        cached = self.cache_dir / f"{token}.wav"
        with self._lock:
            if not cached.is_file():
                self.generate(token, cached)
        return cached

    def generate(self, token: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.wav")
        if token == "chime":
            _write_wav(tmp, _chime(self.rate), self.rate)
        elif token == "pause":
            _write_wav(tmp, array.array("h", bytes(2 * int(self.rate * 0.6))), self.rate)
        elif token in SPOKEN:
            exe = shutil.which("espeak-ng")
            if exe is None:
                raise VoiceUnavailable(f"no recording {self.clip_dir / (token + '.wav')} and no espeak-ng to "
                                       "generate it: apt-get install -y espeak-ng")
            voice, text = SPOKEN[token]
            try:
                subprocess.run([exe, "-v", voice, "-s", "150", "-w", str(tmp), text], check=True,
                               capture_output=True, timeout=20)
            except (OSError, subprocess.SubprocessError) as exc:
                raise VoiceUnavailable(f"espeak-ng failed for {token!r}: {exc}") from exc
            _trim_silence(tmp)
        else:
            raise VoiceUnavailable(f"unknown clip token {token!r}")
        os.replace(tmp, target)

    def prepare(self, tokens: tuple[str, ...] = TOKENS) -> list[str]:
        """Make sure every clip exists (generating what is missing); the tokens that failed."""
        failed = []
        for token in tokens:
            try:
                self.path(token)
            except VoiceUnavailable as exc:
                log.error("%s", exc)
                failed.append(token)
        return failed


def _write_wav(path: Path, samples: array.array, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def _chime(rate: int) -> array.array:
    """Ding-dong: two soft decaying tones, as hall call systems play before speaking."""
    out = array.array("h")
    for freq, seconds in ((784.0, 0.35), (587.3, 0.55)):
        n = int(rate * seconds)
        for i in range(n):
            t = i / rate
            envelope = math.exp(-4.0 * t) * min(1.0, i / (0.005 * rate))
            out.append(int(9000 * envelope * math.sin(2 * math.pi * freq * t)))
    return out


def _trim_silence(path: Path, threshold: int = 300, keep_seconds: float = 0.03) -> None:
    """espeak pads each word with silence; trimmed clips join into a natural sentence."""
    with wave.open(str(path), "rb") as r:
        params = r.getparams()
        frames = r.readframes(r.getnframes())
    if params.sampwidth != 2 or params.nchannels != 1:
        return
    samples = array.array("h", frames)
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    if not loud:
        return
    keep = int(params.framerate * keep_seconds)
    start, end = max(0, loud[0] - keep), min(len(samples), loud[-1] + keep)
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(samples[start:end].tobytes())


# --------------------------------------------------------------------------- playing


class Voice:
    """Plays announcements one after another through pygame.mixer, on its own thread.

    `announce` never blocks and never drops: calls queue in the order they came. `played` keeps
    the tokens of every finished announcement (tests, and a log of what the hall heard).
    """

    def __init__(self, clip_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                 library: ClipLibrary | None = None, on_clip: Callable[[str], None] | None = None) -> None:
        self.library = library or ClipLibrary(clip_dir, cache_dir)
        self.on_clip = on_clip
        self.played: list[tuple[str, int, list[str]]] = []
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._sounds: dict[Path, object] = {}
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> Voice:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(5)

    def announce(self, code: str, window: int) -> None:
        try:
            code_tokens(code)
        except ValueError as exc:
            log.error("not announced: %s", exc)
            return
        self._idle.clear()
        self._queue.put((code, window))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until everything announced so far has been played."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        import pygame

        try:
            if not pygame.mixer.get_init():
                pygame.mixer.init()
            channel = pygame.mixer.Channel(0)
        except pygame.error as exc:
            log.error("no audio output (%s): calls are not announced", exc)
            channel = None
        while True:
            if self._queue.empty():
                self._idle.set()
            item = self._queue.get()
            if item is None:
                return
            code, window = item
            tokens = clips_for(code, window)
            try:
                for token in tokens:
                    self._play(channel, token)
            except VoiceUnavailable as exc:
                log.error("announcement %s -> %s not played: %s", code, window, exc)
                continue
            except Exception:  # a recording pygame cannot load, a failing callback: keep the voice alive
                log.exception("announcement %s -> %s not played", code, window)
                continue
            self.played.append((code, window, tokens))

    def _play(self, channel, token: str) -> None:
        import pygame

        path = self.library.path(token)
        if self.on_clip is not None:
            self.on_clip(token)
        if channel is None:
            return
        sound = self._sounds.get(path)
        if sound is None:
            sound = self._sounds[path] = pygame.mixer.Sound(str(path))
        channel.play(sound)
        deadline = time.monotonic() + sound.get_length() + 2.0
        while channel.get_busy() and time.monotonic() < deadline:
            time.sleep(0.005)
