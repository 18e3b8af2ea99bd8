"""Generate small test media with the ffmpeg Cutroom itself runs, for every test suite."""

import re
import subprocess
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import IO

from jobs.containers import MP4_FAMILY
from jobs.ffmpeg import ffmpeg_exe

# Audio codec for each container, so callers only choose a file name.
AUDIO_CODECS = {
    ".mp3": "libmp3lame",
    ".m4a": "aac",
    ".aac": "aac",
    ".mp4": "aac",
    ".mov": "aac",
    ".mkv": "aac",
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".ogg": "libvorbis",
    ".opus": "libopus",
    ".webm": "libopus",
}
# The quickest settings of each encoder: test media only has to be decodable.
VIDEO_CODEC_OPTIONS = {
    "libx264": ("-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    "libx265": ("-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    "libvpx": ("-deadline", "realtime", "-cpu-used", "8"),
    "libvpx-vp9": ("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"),
}
COPY_CHUNK = 1024 * 1024
SUBTITLES = "1\n00:00:00,000 --> 00:00:02,000\nHello.\n\n2\n00:00:02,500 --> 00:00:04,000\nBye.\n"


def make_video(
    path: str | Path,
    seconds: float = 5.0,
    size: str = "320x240",
    fps: int = 25,
    audio: bool = True,
    codec: str = "libx264",
    faststart: bool = True,
) -> Path:
    """A test-pattern video with a tone whose loudness swells and fades."""
    path = Path(path)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", _tone(seconds, 48000)]
    # A keyframe every second keeps seeking and cutting tests quick.
    args += ["-c:v", codec, *VIDEO_CODEC_OPTIONS.get(codec, ()), "-g", str(fps)]
    if audio:
        args += ["-c:a", AUDIO_CODECS.get(path.suffix.lower(), "aac")]
    if faststart and path.suffix.lower() in MP4_FAMILY:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(path))
    return path


def make_audio(
    path: str | Path,
    seconds: float = 5.0,
    codec: str | None = None,
    sample_rate: int = 44100,
    cover_art: bool = False,
) -> Path:
    """A mono tone with a swelling loudness; the codec follows the extension unless given.

    With `cover_art` a small picture is attached the way music files carry album art.
    """
    path = Path(path)
    args = ["-f", "lavfi", "-i", _tone(seconds, sample_rate)]
    if cover_art:
        args += ["-f", "lavfi", "-i", "color=c=orange:s=64x64:d=0.04"]
        args += ["-map", "0:a", "-map", "1:v", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
    args += ["-c:a", codec or AUDIO_CODECS[path.suffix.lower()]]
    _ffmpeg(*args, str(path))
    return path


def make_live_webm(path: str | Path, seconds: float = 3.0) -> Path:
    """A WebM written as a stream, like a browser's MediaRecorder: it never states its length."""
    path = Path(path)
    with path.open("wb") as target:
        _ffmpeg(
            *("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"),
            *("-f", "lavfi", "-i", _tone(seconds, 48000)),
            *("-c:v", "libvpx", *VIDEO_CODEC_OPTIONS["libvpx"], "-c:a", "libopus"),
            *("-f", "webm", "pipe:1"),
            stdout=target,
        )
    return path


def make_subtitles_only(path: str | Path) -> Path:
    """A Matroska file holding a subtitle track and no audio or video at all."""
    path = Path(path)
    srt = path.with_suffix(".srt")
    srt.write_text(SUBTITLES)
    try:
        _ffmpeg("-i", str(srt), "-c:s", "srt", str(path))
    finally:
        srt.unlink()
    return path


def make_text_file(path: str | Path) -> Path:
    """Plain text, for checking that a file named like a video but not one is refused."""
    path = Path(path)
    path.write_text("These are meeting notes, not a recording.\n" * 20)
    return path


def make_truncated(src: str | Path, dest: str | Path, keep_fraction: float = 0.5) -> Path:
    """Copy the first `keep_fraction` of `src` to `dest`, like an upload cut short."""
    dest = Path(dest)
    remaining = int(Path(src).stat().st_size * keep_fraction)
    with open(src, "rb") as source, dest.open("wb") as target:
        while remaining > 0:
            chunk = source.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            target.write(chunk)
            remaining -= len(chunk)
    return dest


def _tone(seconds: float, sample_rate: int) -> str:
    """A lavfi source: a 220 Hz tone whose loudness swells and fades every few seconds."""
    return (
        f"sine=frequency=220:sample_rate={sample_rate}:duration={seconds},"
        "volume='6*(0.15+0.85*abs(sin(PI*t/3)))':eval=frame"
    )


def _ffmpeg(*args: str, stdout: IO[bytes] | None = None, stdin: bytes | None = None) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        input=stdin,
        stdout=stdout,
        check=True,
    )


# Audio-sync material: speech from espeak-ng turned into camera/recorder pairs with known offsets.

SPEECH_RATE = 48000
SENTENCES = (
    "The meeting starts at nine, so please bring the quarterly figures with you.",
    "Yesterday the river rose above the old stone bridge for the first time in years.",
    "Could you check whether the second camera is still recording the interview?",
    "Seven orange boxes were stacked beside the kitchen door.",
    "After lunch we will walk through the new schedule, one item at a time.",
    "Nobody expected the quiet violinist to win the competition.",
    "Turn left at the bakery, then follow the tram line until you reach the park.",
    "The battery lasts about four hours when the screen is dimmed.",
)


def espeak_exe() -> str | None:
    """espeak-ng on PATH, or None when it is not installed."""
    import shutil

    return shutil.which("espeak-ng")


def speak(text: str, voice: str = "en", speed: int = 165, pitch: int = 50):
    """`text` spoken by espeak-ng, as float32 samples at SPEECH_RATE."""
    return _espeak(text, voice, speed, pitch).copy()


# espeak-ng is deterministic, and the scenes of a test session say the same sentences in the same
# voices again and again: each is said once (an espeak-ng and an ffmpeg run) and then copied.
@cache
def _espeak(text: str, voice: str, speed: int, pitch: int):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(
            [espeak_exe(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text], check=True
        )
        return read_samples(wav)


def speech_scene(seconds: float, seed: int = 1, sentences=SENTENCES):
    """About `seconds` of sentences in shuffled order, voices and pauses, with faint room noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts, total = [], 0
    # Every sentence is spoken once per voice variant: an exact repeat would match twice.
    for variant in range(1000):
        for index in rng.permutation(len(sentences)):
            if total >= seconds * SPEECH_RATE:
                break
            speed, pitch = 140 + 7 * (variant % 9), 30 + 9 * (variant % 7)
            clip = speak(sentences[index], voice="en" if variant % 2 else "en-us", speed=speed, pitch=pitch)
            pause = np.zeros(int(rng.uniform(0.3, 1.5) * SPEECH_RATE), dtype=np.float32)
            parts += [clip * rng.uniform(0.5, 1.0), pause]
            total += clip.size + pause.size
    scene = np.concatenate(parts)[: int(seconds * SPEECH_RATE)].astype(np.float32)
    scene += rng.normal(0, 0.002, scene.size).astype(np.float32)
    return scene


def read_samples(path: str | Path, sample_rate: int = SPEECH_RATE):
    """The first audio track of `path` as mono float32 at `sample_rate`."""
    import numpy as np

    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
        + ["-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"],
        stdout=subprocess.PIPE,
        check=True,
    )
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def derive_track(
    scene,
    start: float,
    seconds: float,
    *,
    gain_db: float = 0.0,
    snr_db: float | None = None,
    lowpass: float | None = None,
    drift_ppm: float = 0.0,
    sample_rate: int = SPEECH_RATE,
    seed: int = 2,
):
    """What a recorder starting at scene time `start` (may be negative) would capture.

    A recorder whose clock runs `drift_ppm` fast takes that many more samples per real second.
    Filters are zero-phase so the sound's timing stays the truth the tests compare against.
    """
    import numpy as np
    from scipy import signal

    count = int(round(seconds * SPEECH_RATE))
    # Scene time of each output sample at the recorder's nominal rate.
    times = start * SPEECH_RATE + np.arange(count, dtype=np.float64) / (1 + drift_ppm * 1e-6)
    track = np.interp(times, np.arange(scene.size), scene, left=0.0, right=0.0).astype(np.float32)
    if lowpass:
        track = signal.sosfiltfilt(signal.butter(4, lowpass, fs=SPEECH_RATE, output="sos"), track)
        # A presence bump as well, like a different microphone.
        presence = signal.butter(2, [800, 1500], "bandpass", fs=SPEECH_RATE, output="sos")
        bump = signal.sosfiltfilt(presence, track)
        track = (track + 1.5 * bump).astype(np.float32)
    track *= 10 ** (gain_db / 20)
    if snr_db is not None:
        rms = float(np.sqrt(np.mean(track.astype(np.float64) ** 2)))
        noise = np.random.default_rng(seed).normal(0, rms / 10 ** (snr_db / 20), track.size)
        track = (track + noise).astype(np.float32)
    if sample_rate != SPEECH_RATE:
        divisor = np.gcd(sample_rate, SPEECH_RATE)
        track = signal.resample_poly(track, sample_rate // divisor, SPEECH_RATE // divisor).astype(np.float32)
    return track.astype(np.float32)


def write_track(
    path: str | Path,
    samples,
    sample_rate: int = SPEECH_RATE,
    video: bool = False,
    fps: int = 25,
) -> Path:
    """Encode mono float samples to `path` (codec from the extension); with `video`, add a picture."""
    import numpy as np

    path = Path(path)
    peak = float(np.max(np.abs(samples))) or 1.0
    data = (samples * (0.7 / peak) if peak > 0.95 else samples).astype(np.float32).tobytes()
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    args += ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0"]
    if video:
        seconds = len(samples) / sample_rate
        args += ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={fps}:duration={seconds}"]
        args += ["-map", "1:v", "-map", "0:a", "-c:v", "libx264", *VIDEO_CODEC_OPTIONS["libx264"]]
        args += ["-g", str(fps)]
    args += ["-c:a", AUDIO_CODECS[path.suffix.lower()]]
    if path.suffix.lower() == ".mp3":
        args += ["-b:a", "128k"]
    args.append(str(path))
    subprocess.run(args, input=data, check=True)
    return path


# Known sentences with pauses of known length between them (transcription, silence detection).


def spoken(
    sentences, pause: float, *, edges: bool = True, trim: bool = False, voice: str = "en-us", speed: int = 150
):
    """`sentences` spoken by espeak-ng with exactly `pause` s of digital silence between them (and,
    with `edges`, before the first and after the last). With `trim`, espeak's own leading and
    trailing silence goes, so the spans are where the voice really starts and stops.

    Returns the samples at SPEECH_RATE and the (start, end) seconds of each sentence in them.
    """
    import numpy as np

    gap = np.zeros(round(pause * SPEECH_RATE), dtype=np.float32)
    parts, spans, at = [], [], 0
    for index, sentence in enumerate(sentences):
        clip = speak(sentence, voice=voice, speed=speed)
        if trim:
            voiced = np.flatnonzero(np.abs(clip) > 0.01)
            clip = clip[voiced[0] : voiced[-1] + 1]
        if edges or index:
            parts.append(gap)
            at += gap.size
        spans.append((at / SPEECH_RATE, (at + clip.size) / SPEECH_RATE))
        parts.append(clip)
        at += clip.size
    if edges:
        parts.append(gap)
    return np.concatenate(parts), spans


def make_spoken(
    path: str | Path,
    sentences: list[str] | tuple[str, ...],
    pause: float = 1.0,
    video: bool = False,
    voice: str = "en-us",
    speed: int = 150,
) -> tuple[Path, list[tuple[float, float]]]:
    """`sentences` spoken with `pause` seconds of silence around each one, written to `path`
    (codec from the extension; with `video`, a test picture as well), and each one's span."""
    samples, spans = spoken(sentences, pause, voice=voice, speed=speed)
    return write_track(path, samples, video=video), spans


def make_talk(
    path: str | Path,
    pattern: list[tuple[float, bool]],
    level_db: float = -20.0,
    video: bool = True,
    gop_seconds: float = 1.0,
    fps: int = 25,
    size: str = "320x240",
) -> Path:
    """A "talk": voice-like tone bursts and digital silence, `pattern` being (seconds, sounding).

    The sound's RMS while sounding is `level_db` dBFS; with `video` a test pattern runs under it,
    H.264 with a keyframe every `gop_seconds` (and B-frames, as cameras and phones make).
    """
    path = Path(path)
    seconds = sum(length for length, _ in pattern)
    args = ["-f", "f32le", "-ar", str(TALK_RATE), "-ac", "1", "-i", "pipe:0"]
    if video:
        args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}", *args]
        gop = str(round(gop_seconds * fps))
        args += [
            "-c:v",
            "libx264",
            *VIDEO_CODEC_OPTIONS["libx264"],
            "-bf",
            "2",
            "-g",
            gop,
            "-keyint_min",
            gop,
        ]
        args += ["-sc_threshold", "0"]
    args += ["-c:a", AUDIO_CODECS.get(path.suffix.lower(), "aac")]
    if path.suffix.lower() in MP4_FAMILY:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(path), stdin=_talk_sound(pattern, level_db))
    return path


TALK_RATE = 48000


def _talk_sound(pattern: list[tuple[float, bool]], level_db: float) -> bytes:
    """make_talk's sound as float32 samples. Made here rather than by an ffmpeg expression, whose
    gate is evaluated term by term for every sample (a minute for the five-minute talk)."""
    import numpy as np

    t = np.arange(round(sum(length for length, _ in pattern) * TALK_RATE)) / TALK_RATE
    gate, cursor = np.zeros(t.size, dtype=bool), 0.0
    for length, sounding in pattern:
        if sounding:  # both ends included, at the 0.1 ms the expression gave them
            gate |= (t >= round(cursor, 4)) & (t <= round(cursor + length, 4))
        cursor += length
    # Two partials under a syllable-rate swell: RMS of the tone pair at full swell ≈ amplitude.
    amplitude = 10 ** (level_db / 20)
    voice = (
        amplitude
        * (0.7 + 0.3 * np.sin(2 * np.pi * 4 * t))
        * (np.sin(2 * np.pi * 180 * t) + np.sin(2 * np.pi * 410 * t))
    )
    return np.where(gate, voice, 0.0).astype(np.float32).tobytes()


def make_phrases(path: str | Path, phrases: list[str], pause: float) -> list[tuple[float, float]]:
    """`phrases` spoken with exactly `pause` s of digital silence between their voices, written to
    `path`; returns the (start, end) seconds of each pause, where the voice really stops and starts."""
    samples, spans = spoken(phrases, pause, edges=False, trim=True, voice="en", speed=165)
    write_track(path, samples)
    return [(end, start) for (_, end), (start, _) in zip(spans, spans[1:], strict=False)]


# --- syncdoubt ---
# Recordings that hold the same sound twice (a jingle played at the start and again later), built
# to tempt the sync search into the wrong copy.


def jingle(seconds: float, seed: int = 21):
    """A short tune at SPEECH_RATE: plucked notes with harmonics over soft noise hits. The same
    `seed` always gives the very same samples, as a jingle played twice from a file would be."""
    import numpy as np

    rng = np.random.default_rng(seed)
    count = int(seconds * SPEECH_RATE)
    tune = np.zeros(count, dtype=np.float64)
    at = 0
    while at < count:
        length = int(rng.uniform(0.12, 0.45) * SPEECH_RATE)
        t = np.arange(min(length, count - at)) / SPEECH_RATE
        pitch = 220.0 * 2 ** (rng.choice([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
        note = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3, 5))
        hit = rng.normal(0, 0.3, t.size) * np.exp(-t * 40)
        tune[at : at + t.size] += (note * np.exp(-t * 6) + hit) * rng.uniform(0.4, 0.8)
        at += length
    return (0.25 * tune / np.max(np.abs(tune))).astype(np.float32)


def scene_with_repeats(seconds: float, places: tuple[float, ...], jingle_seconds: float, seed: int = 1):
    """speech_scene with the same jingle in place of the speech at each of `places` (scene seconds)."""
    scene = speech_scene(seconds, seed=seed)
    tune = jingle(jingle_seconds)
    for place in places:
        start = int(place * SPEECH_RATE)
        scene[start : start + tune.size] = tune[: scene.size - start]
    return scene


# --- transcribe ---


def make_gapped_phrases(
    path: str | Path, phrases: list[str] | tuple[str, ...], gaps: list[float] | tuple[float, ...]
) -> list[tuple[float, float]]:
    """`phrases` spoken by espeak-ng, `gaps[i]` s of pause before phrase i (and the last gap again after
    the last one), over faint room noise, written to `path`; returns where each phrase's voice starts
    and stops."""
    import numpy as np

    samples, spans = [], []
    at = 0
    for phrase, gap in zip(phrases, gaps, strict=True):
        clip = speak(phrase, voice="en-us", speed=150)
        voiced = np.flatnonzero(np.abs(clip) > 0.01)
        clip = clip[voiced[0] : voiced[-1] + 1]
        samples += [np.zeros(round(gap * SPEECH_RATE), np.float32), clip]
        at += round(gap * SPEECH_RATE)
        spans.append((at / SPEECH_RATE, (at + clip.size) / SPEECH_RATE))
        at += clip.size
    samples.append(np.zeros(round(gaps[-1] * SPEECH_RATE), np.float32))
    samples = np.concatenate(samples)
    samples += np.random.default_rng(3).normal(0, 0.003, samples.size).astype(np.float32)
    write_track(path, samples)
    return spans


def make_silent_video(path: str | Path, seconds: float = 6.0) -> Path:
    """A test-pattern video whose sound track is there but digitally silent (a muted camera)."""
    path = Path(path)
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}"),
        *("-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={seconds}"),
        *("-c:v", "libx264", *VIDEO_CODEC_OPTIONS["libx264"], "-c:a", "aac", "-shortest"),
        str(path),
    )
    return path


def make_noise(path: str | Path, seconds: float = 8.0) -> Path:
    """Pink noise and nothing else, like a fan or the hiss of an empty room."""
    path = Path(path)
    source = f"anoisesrc=color=pink:amplitude=0.05:duration={seconds}:sample_rate=48000"
    _ffmpeg("-f", "lavfi", "-i", source, "-c:a", AUDIO_CODECS[path.suffix.lower()], str(path))
    return path


# --- containers ---


def make_subtitled(
    path: str | Path, talk: str | Path, cues: list[tuple[float, float, str]], second_sound: bool = False
) -> Path:
    """`talk` with an SRT subtitle track of `cues` (start s, end s, text) added, picture and sound
    copied; with `second_sound`, its sound again as a second track (a second microphone)."""
    path = Path(path)
    srt = path.with_name(path.stem + "-cues.srt")
    srt.write_text(
        "".join(
            f"{number}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n\n"
            for number, (start, end, text) in enumerate(cues, start=1)
        )
    )
    try:
        sound = ["-map", "0:a:0", "-metadata:s:a:1", "title=Second microphone"] if second_sound else []
        _ffmpeg(
            *("-i", str(talk), "-i", str(srt), "-map", "0:v:0", "-map", "0:a:0", *sound, "-map", "1:s:0"),
            *("-c", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(path)),
        )
    finally:
        srt.unlink()
    return path


def _srt_time(seconds: float) -> str:
    minutes, millis = divmod(round(seconds * 1000), 60_000)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{millis // 1000:02d},{millis % 1000:03d}"


# --- proxy ---
# Recordings browsers cannot play, cut from the real tests/media/example.mp4 (H.264/AAC, 1280×720).
EXAMPLE = Path(__file__).parent / "media" / "example.mp4"


def make_hevc(path: str | Path, seconds: float = 8.0, size: str = "1920x1080") -> Path:
    """The start of example.mp4 as an HEVC MP4 (what phones record), scaled to `size`, sound kept."""
    _ffmpeg(
        *("-t", str(seconds), "-i", str(EXAMPLE), "-vf", f"scale={size}", "-c:v", "libx265"),
        *VIDEO_CODEC_OPTIONS["libx265"],
        *("-tag:v", "hvc1", "-x265-params", "log-level=error", "-c:a", "copy", str(path)),
    )
    return Path(path)


def make_alac(path: str | Path, seconds: float = 8.0) -> Path:
    """The sound of the start of example.mp4 as an Apple Lossless M4A."""
    _ffmpeg("-t", str(seconds), "-i", str(EXAMPLE), "-vn", "-c:a", "alac", str(path))
    return Path(path)


# --- export ---


def make_export_source(
    path: str | Path,
    rate: str | None,
    seconds: float = 4.0,
    timecode: str | None = None,
    channels: int = 1,
    sound_tracks: int = 1,
) -> Path:
    """A test-pattern video at `rate` ("30000/1001", "25", …; None for sound only) with a tone, a
    keyframe every half second as cameras make, optionally a start timecode tag and a second sound
    track (as `sync --keep-camera-audio` writes). Every testsrc2 frame differs from its neighbours."""
    path = Path(path)
    args = []
    if rate:
        args += ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={rate}:duration={seconds}"]
    args += ["-f", "lavfi", "-i", _tone(seconds, 48000)]
    sound = 1 if rate else 0  # the tone's input number
    maps = (["-map", "0:v"] if rate else []) + ["-map", f"{sound}:a"] * sound_tracks
    args += [*maps, "-ac", str(channels), "-c:a", AUDIO_CODECS.get(path.suffix.lower(), "aac")]
    if rate:
        gop = str(max(1, round(float(Fraction(rate)) / 2)))
        args += ["-c:v", "libx264", *VIDEO_CODEC_OPTIONS["libx264"], "-bf", "2", "-g", gop]
    if timecode:
        args += ["-timecode", timecode]
    _ffmpeg(*args, str(path))
    return path


def make_variable_rate(path: str | Path) -> Path:
    """Two seconds at 25 fps then two at 30, timestamps kept as they are: a variable frame rate."""
    path = Path(path)
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2"),
        *("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=2"),
        *("-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0", "-fps_mode", "vfr"),
        *("-c:v", "libx264", *VIDEO_CODEC_OPTIONS["libx264"], str(path)),
    )
    return path


# --- suggest ---
# Speech with fillers and retakes at known times, for the editor's suggestions. A sentence is
# written with its disfluencies marked: "[um]" a filler, "{the harbour project is}" a first take
# abandoned and said again after it.
DISFLUENCY = re.compile(r"\[([^\]]+)\]|\{([^}]+)\}")
HESITATION_PACE = 0.6


def disfluent(sentences, *, voice: str = "en-us", speed: int = 165, seed: int = 1):
    """`sentences` spoken by espeak-ng piece by piece (text, fillers, first takes), each piece's
    voice trimmed, with short random pauses around fillers and after first takes and longer ones
    between sentences, over faint room noise.

    Returns the samples at SPEECH_RATE and what was planted: {"kind": "filler"|"retake", "text",
    "start", "end"}, a filler from its voice's start to its end, a retake from the first take's
    start to where the take said again starts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts, planted, at = [], [], 0

    def add(samples) -> tuple[float, float]:
        nonlocal at
        parts.append(samples)
        at += samples.size
        return (at - samples.size) / SPEECH_RATE, at / SPEECH_RATE

    def pause(low: float, high: float) -> None:
        add(np.zeros(round(rng.uniform(low, high) * SPEECH_RATE), np.float32))

    pending = None  # a first take, waiting for the start of its second
    for sentence in sentences:
        pause(0.35, 0.9)
        cursor = 0
        for match in [*DISFLUENCY.finditer(sentence), None]:
            text = sentence[cursor : match.start() if match else len(sentence)].strip(" ,")
            if text:
                start, _ = add(_voice(text, voice, speed))
                if pending:
                    planted.append({**pending, "end": start})
                    pending = None
            if match is None:
                break
            cursor = match.end()
            filler, take = match.groups()
            if filler:
                pause(0.05, 0.3)
                # Hesitations are drawn out; a phrase such as "you know" is said at the usual pace.
                slow = speed if " " in filler else round(speed * HESITATION_PACE)
                start, end = add(_voice(filler, voice, slow))
                planted.append({"kind": "filler", "text": filler, "start": start, "end": end})
                pause(0.05, 0.3)
            else:
                start, _ = add(_voice(take, voice, speed))
                pending = {"kind": "retake", "text": take, "start": start}
                pause(0.25, 0.6)
    pause(0.35, 0.9)
    samples = np.concatenate(parts)
    samples += rng.normal(0, 0.002, samples.size).astype(np.float32)
    return samples, [{**p, "start": round(p["start"], 3), "end": round(p["end"], 3)} for p in planted]


def make_disfluent(path: str | Path, sentences, **voice) -> list[dict]:
    """`disfluent(sentences, **voice)` written to `path`; returns what was planted."""
    samples, planted = disfluent(sentences, **voice)
    write_track(path, samples)
    return planted


def _voice(text: str, voice: str, speed: int):
    """`text` spoken, without espeak's silence before and after the voice."""
    import numpy as np

    clip = speak(text, voice=voice, speed=speed)
    voiced = np.flatnonzero(np.abs(clip) > 0.01)
    return clip[voiced[0] : voiced[-1] + 1]
