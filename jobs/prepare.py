"""The preparation every upload gets: probe it, draw a poster frame and a waveform, make a browser preview."""

from pathlib import Path

from jobs.ffmpeg import FFmpegError, run_ffmpeg
from jobs.files import written_atomically
from jobs.mediainfo import MediaInfo
from jobs.probe import probe
from jobs.progress import Progress, ignore, part
from jobs.proxy import MAKING_PROXY, browser_plays, proxy_if_needed
from jobs.sound import DECODE_SHARE, RAW_INPUT, sound_ready

POSTER_NAME = "poster.jpg"
WAVEFORM_NAME = "waveform.png"
POSTER_MAX_WIDTH = 640
NO_POSTER = "Cutroom could not take a picture from this video; its video track may be damaged."
WAVEFORM_SIZE = "1200x200"
# A mid blue that reads on both light and dark pages; the background stays transparent.
WAVEFORM_COLOUR = "0x3F7FD0"
# Share of the overall progress taken by each step; drawing the waveform decodes all the audio.
READ_SHARE = 5.0
POSTER_SHARE = 10.0
PROXY_FROM = 50.0
DRAWING_WAVEFORM = "Drawing waveform"


def prepare(
    src: str | Path,
    out_dir: str | Path,
    on_progress: Progress = ignore,
    *,
    info: MediaInfo | None = None,
    sound: Path | None = None,
) -> dict:
    """Probe `src` (unless `info` already says what it holds) and write poster.jpg (video),
    waveform.png (audio) and, where browsers cannot play `src`, a proxy they can (see jobs.proxy)
    into `out_dir`. With `sound`, the waveform is drawn from that decoded sound (see draw_waveform).

    `on_progress` gets the overall percentage (0..100) and the name of the current step.
    Returns {"info": MediaInfo as a dict, "outputs": {"poster": name or None, "waveform": ...}}, and
    "original_proxy" in the outputs when browsers cannot play `src` (None if it could not be made).
    """
    src, out_dir = Path(src), Path(out_dir)
    on_progress(0.0, "Reading file")
    info = info or probe(src)
    out_dir.mkdir(parents=True, exist_ok=True)
    on_progress(READ_SHARE, "Reading file")

    outputs = {"poster": None, "waveform": None}
    # A proxy decodes (and may encode) the whole file again: it takes the second half.
    proxy_from = 100.0 if browser_plays(info) else PROXY_FROM
    if info.video:
        on_progress(READ_SHARE, "Making poster")
        _make_poster(src, info, out_dir / POSTER_NAME)
        outputs["poster"] = POSTER_NAME
    if info.audio:
        start = READ_SHARE + (POSTER_SHARE if info.video else 0.0)
        on_progress(start, DRAWING_WAVEFORM)
        draw_waveform(
            src, out_dir / WAVEFORM_NAME, info.duration, part(on_progress, start, proxy_from), sound
        )
        outputs["waveform"] = WAVEFORM_NAME
    if proxy_from < 100.0:
        on_progress(proxy_from, MAKING_PROXY)
        outputs["original_proxy"] = proxy_if_needed(src, out_dir, info, part(on_progress, proxy_from, 100.0))
    on_progress(100.0, "Done")
    return {"info": info.to_dict(), "outputs": outputs}


def _poster_time(info: MediaInfo) -> float:
    """A frame from about 10 % in: past a fade-in or a black first frame, at most 5 s in."""
    return min(info.duration * 0.1, 5.0)


def _make_poster(src: Path, info: MediaInfo, dest: Path) -> None:
    with written_atomically(dest) as temporary:
        try:
            _grab_frame(src, _poster_time(info), temporary)
        except FFmpegError:
            # A video track shorter than the sound may have no frame that late: take its first.
            _grab_frame(src, 0.0, temporary)


def _grab_frame(src: Path, seconds: float, dest: Path) -> None:
    # Square pixels first, so anamorphic video keeps its shape; then at most 640 wide,
    # with even sides because many consumers of the picture expect them.
    scale = f"scale=trunc(iw*sar/2)*2:ih,setsar=1,scale='min({POSTER_MAX_WIDTH},iw)':-2"
    run_ffmpeg(
        [
            *("-ss", f"{seconds:.3f}", "-i", str(src)),
            *("-map", "0:V:0", "-frames:v", "1", "-vf", scale),
            *("-q:v", "3", "-update", "1", "-y", str(dest)),
        ]
    )
    # Older ffmpeg releases exit cleanly when there was no frame to write.
    if not dest.exists() or dest.stat().st_size == 0:
        raise FFmpegError(NO_POSTER)


def draw_waveform(
    src: str | Path,
    dest: str | Path,
    duration: float,
    on_progress: Progress = ignore,
    sound: Path | None = None,
) -> None:
    """Draw the first audio track of `src` (`duration` s long) as a WAVEFORM_SIZE PNG at `dest`,
    reporting its percent done as DRAWING_WAVEFORM. With `sound`, it is drawn from that decoded
    sound (decoded into it first unless a job before did, see jobs.sound), which the jobs after
    read too."""
    source = ["-i", str(src)]
    if sound is not None:
        # Decoding is the work; drawing from the decoded sound takes a fraction of it.
        decoding = 100.0 * DECODE_SHARE
        sound_ready(src, sound, duration, lambda fraction: on_progress(decoding * fraction, DRAWING_WAVEFORM))
        source, on_progress = [*RAW_INPUT, "-i", str(sound)], part(on_progress, decoding, 100.0)
    # showwavespic emits its single picture only at the end of the audio, and ffmpeg holds
    # back all progress reports until every output has started. A transparent first frame
    # starts the picture output at once, and a null copy of the audio carries the progress
    # clock; with -update the picture file ends up holding the final waveform.
    graph = (
        "[0:a:0]aformat=channel_layouts=mono,asplit[draw][clock];"
        f"[draw]showwavespic=s={WAVEFORM_SIZE}:colors={WAVEFORM_COLOUR}"
        ":filter=peak:scale=sqrt[wave];"
        f"color=c=black@0:s={WAVEFORM_SIZE}:d=0.04,format=rgba[blank];"
        "[blank][wave]concat=n=2:v=1:a=0[picture]"
    )
    with written_atomically(dest) as temporary:
        run_ffmpeg(
            [
                *source,
                "-filter_complex",
                graph,
                # passthrough: no frame rate is made up for the picture (from an Opus track's, ffmpeg
                # guessed one that wrote about 7,000 frames, 86 s for a 2 s WebM).
                *("-map", "[picture]", "-fps_mode", "passthrough", "-update", "1", "-y", str(temporary)),
                *("-map", "[clock]", "-f", "null", "-"),
            ],
            duration=duration,
            on_progress=on_progress,
            stage=DRAWING_WAVEFORM,
        )
