"""Joining the cut picture with its sound and subtitle tracks, and reading back what was written."""

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av

from jobs.containers import Container, audio_encoder, muxer_flags
from jobs.cutlist import CutList
from jobs.ffmpeg import run_ffmpeg
from jobs.probe import stored_length
from jobs.progress import Progress
from jobs.render.audio import write_cut_audio
from jobs.streams import Extras, SoundTrack, write_cut_subtitles


@dataclass
class Track:
    """A sound or subtitle track being cut into a file of its own, for the join."""

    made: Future  # the file's path, once written
    kind: str  # "a" or "s"
    codec: str  # "copy", or the subtitle format to convert to
    metadata: dict[str, str]


def cut_tracks(
    pool: ThreadPoolExecutor, src: Path, container: Container, extras: Extras, cutlist: CutList, work: Path
) -> list[Track]:
    """Start cutting every sound and subtitle track the result keeps, in `pool`, in order."""
    tracks = []
    encode = audio_encoder(container)
    for sound in extras.sound:
        path = work / f"sound-{sound.number}.mka"  # Matroska holds every sound codec
        channels = max(1, min(sound.channels, 2))
        made = pool.submit(_cut_sound, src, path, cutlist, sound, channels, encode)
        tracks.append(Track(made, "a", "copy", sound.metadata))
    for subtitles in extras.subtitles:
        made = pool.submit(write_cut_subtitles, src, subtitles, cutlist, work)
        tracks.append(Track(made, "s", subtitles.codec, subtitles.metadata))
    return tracks


def _cut_sound(
    src: Path,
    path: Path,
    cutlist: CutList,
    sound: SoundTrack,
    channels: int,
    encode: tuple[str, ...],
) -> Path:
    write_cut_audio(
        src,
        path,
        cutlist.keep,
        sound.sample_rate,
        channels,
        encode,
        stream=f"a:{sound.number}",
        fade_seconds=cutlist.fade,
    )
    return path


def join(picture: Path, tracks: list[Track], temp: Path, report: Progress) -> None:
    """Mux the picture and the finished tracks into `temp`, index first for browsers."""
    paths = [track.made.result() for track in tracks]
    report(90.0, "Joining")
    args = ["-y", "-i", str(picture)]
    for path in paths:
        args += ["-i", str(path)]
    args += ["-map", "0:v:0"]
    for number, track in enumerate(tracks, start=1):
        args += ["-map", f"{number}:{track.kind}:0"]
    args += ["-c", "copy", "-map_metadata", "-1"]
    for kind in ("a", "s"):
        for number, track in enumerate(track for track in tracks if track.kind == kind):
            args += [f"-c:{kind}:{number}", track.codec]
            for key, value in track.metadata.items():
                args += [f"-metadata:s:{kind}:{number}", f"{key}={value}"]
    args += [*muxer_flags(temp), str(temp)]
    run_ffmpeg(args)


def top_level_boxes(path: Path) -> list[str]:
    """The kinds of an MP4 file's top-level boxes, in file order."""
    kinds = []
    with open(path, "rb") as file:
        while len(header := file.read(8)) == 8:
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            kinds.append(kind)
            if size == 0:
                break  # the box runs to the end of the file
            if size == 1:
                size = int.from_bytes(file.read(8), "big") - 8
            file.seek(size - 8, os.SEEK_CUR)
    return kinds


def stream_durations(path: str | Path) -> tuple[float | None, float | None]:
    """How long the first video and the first audio track of `path` last, in seconds, as stored."""
    with av.open(str(path)) as container:
        found = []
        for streams in (container.streams.video, container.streams.audio):
            found.append(stored_length(streams[0]) if streams else None)
    return found[0], found[1]


def sound_frame(path: str | Path) -> float:
    """How long one coded frame of the first sound track of `path` lasts (AAC: 1024 samples), in
    seconds; 0 for sound stored sample by sample (PCM)."""
    with av.open(str(path)) as container:
        context = container.streams.audio[0].codec_context
        return context.frame_size / context.sample_rate if context.frame_size else 0.0


def sound_fits(picture: float, sound: float, frame: float, sound_frame: float) -> bool:
    """Whether a track of sound stored as lasting `sound` seconds plays as long as a picture of
    `picture` seconds, within a `frame`. AAC and MP3 store whole coded frames and the encoder's
    priming, which the player skips: the stored length runs up to two coded frames longer."""
    return -frame <= sound - picture <= frame + 2 * sound_frame
