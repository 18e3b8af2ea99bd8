"""swap_audio: write the synced file, the primary's picture copied as is with the external sound
lined up (jobs.sync.align) and, where it does not cover, the camera's sound (jobs.sync.fill)."""

from pathlib import Path

from jobs.containers import audio_encoder, muxer_flags, output_container
from jobs.errors import MediaError
from jobs.ffmpeg import run_ffmpeg
from jobs.files import written_atomically
from jobs.probe import MediaInfo, probe
from jobs.progress import Progress, ignore, part
from jobs.streams import extra_streams
from jobs.sync.align import OUTPUT_RATE, alignment_filter
from jobs.sync.doubt import NO_OVERLAP
from jobs.sync.fill import FADE_SAMPLES, fill_filter, fill_gain, gaps
from jobs.sync.read import EXTERNAL, probe_audio

# Share of swap_audio's progress spent writing when the levels are measured first.
FILL_WRITE_SHARE = 80.0
WRITING = "Writing synced file"


def swap_audio(
    primary: str | Path,
    external: str | Path,
    dst: str | Path,
    sync: dict,
    *,
    keep_camera_audio: bool = False,
    on_progress: Progress = ignore,
    primary_info: MediaInfo | None = None,
    external_info: MediaInfo | None = None,
    primary_sound: Path | None = None,
) -> dict:
    """Write `dst`: the primary's video copied as is, with the external sound lined up by `sync`.

    The external sound is resampled by sync["rate"] and shifted by sync["offset_seconds"]. Where it
    does not cover the primary (it started late or stopped early), the camera's own sound fills in,
    brought to the external's loudness and joined with FADE_SECONDS crossfades, so no speech is
    lost to silence; without camera sound those parts stay silent. The track is encoded in `dst`'s
    sound codec (see jobs.containers) as the first (default) audio track; with `keep_camera_audio`
    the camera's sound follows as a second track; text subtitles are carried over. An audio-only
    primary gives an audio file. `dst` appears only complete: it is written under a temporary
    name in its folder and renamed at the end. `primary_info` and `external_info` are the files'
    probes when the caller has them (else they are probed here); `primary_sound` is where the
    primary's decoded sound is kept (see jobs.sound), if anywhere.
    Returns {"output_duration", "audio_tracks", "camera_fill": [[start, end] s, ...],
    "camera_fill_gain_db": the gain given to the camera's sound, or None when nothing was filled,
    "dropped": the primary's tracks not carried over}.
    """
    primary, external, dst = Path(primary), Path(external), Path(dst)
    info = primary_info or probe(primary)
    ext_info = probe_audio(external, EXTERNAL, external_info)
    keep_camera_audio = keep_camera_audio and info.audio is not None
    container = output_container(
        dst, info.video and info.video.codec, copies_video=True, sound_tracks=1 + keep_camera_audio
    )
    extras = extra_streams(primary, container, keep_audio=False)
    length = round(info.duration * OUTPUT_RATE)
    # The samples of the output the external recording covers.
    shift = round(sync["offset_seconds"] * OUTPUT_RATE)
    covered = (max(0, shift), min(length, shift + round(ext_info.duration * sync["rate"] * OUTPUT_RATE)))
    if covered[1] - covered[0] < 2 * FADE_SAMPLES:
        raise MediaError(NO_OVERLAP)
    head, tail = gaps(covered, length) if info.audio else (0, 0)
    first, last = (covered[0] if head else 0), (covered[1] if tail else length)
    ext_chain = alignment_filter(ext_info.audio.sample_rate, sync["rate"], shift - first, last - first)
    graph = f"[1:a:0]{ext_chain}[ext]"
    gain = None
    if head or tail:
        levels = part(on_progress, 0.0, 100.0 - FILL_WRITE_SHARE)
        gain = fill_gain(primary, info, external, ext_info, sync, covered, levels, primary_sound)
        graph = f"{graph};{fill_filter(gain, first, last, length, ext_info.audio.channels)}"
    write_share = FILL_WRITE_SHARE if gain is not None else 100.0

    args = ["-i", str(primary), "-i", str(external), "-filter_complex", graph]
    if info.video:
        args += ["-map", "0:v:0", "-c:v", "copy"]
    args += ["-map", "[out]" if gain is not None else "[ext]"]
    if keep_camera_audio:
        args += ["-map", "0:a:0"]
    for number, subtitles in enumerate(extras.subtitles):
        args += ["-map", f"0:{subtitles.index}", f"-c:s:{number}", subtitles.codec]
    args += [*audio_encoder(container), "-ar", str(OUTPUT_RATE)]
    args += ["-disposition:a:0", "default", "-metadata:s:a:0", "title=External audio"]
    if keep_camera_audio:
        args += ["-disposition:a:1", "0", "-metadata:s:a:1", "title=Camera audio"]
    args += muxer_flags(dst)

    dst.parent.mkdir(parents=True, exist_ok=True)
    on_progress(100.0 - write_share, WRITING)
    with written_atomically(dst) as partial:
        run_ffmpeg(
            [*args, "-y", str(partial)],
            duration=info.duration,
            on_progress=part(on_progress, 100.0 - write_share, 100.0),
            stage=WRITING,
        )
        # Read back before it takes dst's name: the probe refuses a file cut short (it reads the
        # last second), and the length written is the one the result reports (the worker draws
        # the synced waveform to it).
        written = probe(partial)
    on_progress(100.0, WRITING)
    fills = [(0, first)] if head else []
    fills += [(last, length)] if tail else []
    return {
        "output_duration": written.duration,
        "audio_tracks": 2 if keep_camera_audio else 1,
        "camera_fill": [[round(a / OUTPUT_RATE, 3), round(b / OUTPUT_RATE, 3)] for a, b in fills],
        "camera_fill_gain_db": None if gain is None else round(gain, 1),
        "dropped": extras.dropped,
    }
