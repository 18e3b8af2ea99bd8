"""Timeline export, proved by consumers someone else wrote: OpenTimelineIO's own adapters read the
EDL, FCP 7 XML, FCPXML and OTIO files back, and melt (MLT) renders the Shotcut and Kdenlive projects,
for sources at 23.976, 25, 29.97 (drop-frame timecode), 30 and 60 fps and a sound-only one."""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from math import ceil
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

import av
import numpy as np
import pytest

from jobs.__main__ import main
from jobs.cutlist import CutList
from jobs.errors import MediaError
from jobs.timeline import export_timeline
from jobs.timeline.timecode import frames_to_timecode, timecode_to_frames
from tests.media import make_export_source, make_variable_rate

otio = pytest.importorskip(
    "opentimelineio", reason="opentimelineio (requirements-dev.txt) reads the files back"
)

SECONDS = 4.0
# Kept ranges that fall between frames at every rate, with pauses of 0.3, 0.7, 0.5 and 0.1 s around them.
KEEP = [(0.3, 1.2), (1.9, 2.8), (3.3, 3.9)]
CUTS = CutList(SECONDS, KEEP)
# Two frames that show the same picture: the rendered frame and the source frame it came from.
SAME_PICTURE_DB = 40.0


@dataclass(frozen=True)
class Source:
    path: Path
    fps: Fraction | None  # None: sound only
    start_frame: int = 0  # the start timecode written into the file, counted by hand
    sound_tracks: int = 1

    @property
    def timeline_fps(self) -> Fraction:
        return self.fps or Fraction(30)  # editors' default rate for a sound-only timeline

    @property
    def start(self) -> float:
        return float(self.start_frame / self.timeline_fps)


# name: (rate, timecode tag, frame count of that timecode, channels, sound tracks)
SOURCES = {
    "23.976": ("24000/1001", None, 0, 1, 1),
    "25": ("25", None, 0, 2, 1),
    # 01:00:00;00 drop-frame is 108000 frames less the 2 labels skipped in 54 of the 60 minutes.
    "29.97": ("30000/1001", "01:00:00;00", 108000 - 2 * 54, 1, 1),
    "30": ("30", None, 0, 2, 2),
    "60": ("60", "10:00:00:00", 10 * 3600 * 60, 1, 1),
    "sound only": (None, None, 0, 1, 1),
}


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Source]:
    folder = tmp_path_factory.mktemp("export-sources")
    made = {}
    for name, (rate, timecode, start, channels, tracks) in SOURCES.items():
        path = folder / (f"source-{name.replace(' ', '-')}" + (".mp4" if rate else ".m4a"))
        make_export_source(path, rate, SECONDS, timecode=timecode, channels=channels, sound_tracks=tracks)
        made[name] = Source(path, Fraction(rate) if rate else None, start, tracks)
    return made


def read_back(path: Path, source: Source):
    """The timeline as OpenTimelineIO's adapter for the file's format reads it."""
    options = {"rate": float(source.timeline_fps)} if path.suffix == ".edl" else {}
    timeline = otio.adapters.read_from_file(str(path), **options)
    if isinstance(timeline, otio.schema.SerializableCollection):  # FCPXML: library > event > project
        (timeline,) = timeline
    return timeline


def main_track_clips(timeline, source: Source) -> list:
    kind = otio.schema.TrackKind.Video if source.fps else otio.schema.TrackKind.Audio
    track = next(track for track in timeline.tracks if track.kind == kind)
    return list(track.find_clips())


# The FCPXML adapter reads times at the integer part of the rate (23 for 23.976), so its own
# reading is off by up to one frame at that rate on top of ours at the 1000/1001 rates.
def tolerance(source: Source, extension: str) -> float:
    fps = source.timeline_fps
    reader_slack = 1 / int(fps) if extension == ".fcpxml" and fps.denominator != 1 else 0
    return float(1 / fps) + reader_slack


@pytest.mark.parametrize("format", ["edl", "xmeml", "fcpxml", "fcpxml-1.9", "otio"])
@pytest.mark.parametrize("name", list(SOURCES))
def test_otio_reads_each_kept_range_as_a_clip(sources, tmp_path, name, format):
    source = sources[name]
    extension = {"xmeml": ".xml", "fcpxml-1.9": ".fcpxml"}.get(format, f".{format}")
    out = tmp_path / "timelines" / f"cut{extension}"
    export_timeline(source.path, CUTS, out, format=format)
    clips = main_track_clips(read_back(out, source), source)
    assert len(clips) == len(KEEP)
    slack = tolerance(source, extension)
    for clip, (start, end) in zip(clips, KEEP, strict=True):
        read = clip.source_range
        assert read.start_time.to_seconds() - source.start == pytest.approx(start, abs=slack)
        assert read.end_time_exclusive().to_seconds() - source.start == pytest.approx(end, abs=slack)


@pytest.mark.parametrize("name", ["29.97", "30", "sound only"])
def test_edl_timecode_and_channels(sources, tmp_path, name):
    source = sources[name]
    export_timeline(source.path, CUTS, tmp_path / "cut.edl")
    text = (tmp_path / "cut.edl").read_text()
    events = re.findall(r"^\d{3}  (\S+)\s+(\S+)\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    drop = name == "29.97"
    assert ("FCM: DROP FRAME" in text) is drop
    assert all((";" in event[2]) is drop for event in events)
    channels = [event[1] for event in events]
    expected = {"29.97": ["B"], "30": ["AA/V", "A3", "A4"], "sound only": ["A"]}[name]
    assert channels == expected * len(KEEP)
    assert re.fullmatch(r"[A-Z0-9_]{1,8}", events[0][0]) and text.count(
        "* FROM CLIP NAME: " + source.path.name
    ) == len(events)
    if drop:  # the record side starts at the source's own timecode
        assert events[0][4] == "01:00:00;00"


@pytest.mark.parametrize(
    ("frames", "rate", "label"),
    [
        (1799, "30000/1001", "00:00:59;29"),
        (1800, "30000/1001", "00:01:00;02"),  # drop-frame skips labels ;00 and ;01 each minute
        (17982, "30000/1001", "00:10:00;00"),  # but not in every tenth minute
        (107892, "30000/1001", "01:00:00;00"),
        (3600, "60000/1001", "00:01:00;04"),  # four labels a minute at 59.94
        (90000, "25", "01:00:00:00"),
    ],
)
def test_timecode_labels(frames, rate, label):
    rate = Fraction(rate)
    drop = ";" in label
    assert frames_to_timecode(frames, rate, drop) == label
    assert timecode_to_frames(label, rate) == (frames, drop)


def test_markers_name_each_removed_pause(sources, tmp_path):
    source = sources["25"]
    out = tmp_path / "cut.xml"
    export_timeline(source.path, CUTS, out)
    markers = read_back(out, source).tracks.markers
    lengths = [float(re.fullmatch(r"Pause (\d+\.\d\d) s removed", marker.name)[1]) for marker in markers]
    assert lengths == pytest.approx([0.3, 0.7, 0.5, 0.1], abs=1 / 25 + 0.005)


def test_media_paths_are_relative_to_the_timeline_unless_absolute(sources, tmp_path):
    source = sources["25"]
    relative, absolute = tmp_path / "deep" / "cut.otio", tmp_path / "abs.otio"
    export_timeline(source.path, CUTS, relative)
    export_timeline(source.path, CUTS, absolute, absolute=True)
    (clip, *_) = main_track_clips(read_back(relative, source), source)
    assert not urlparse(clip.media_reference.target_url).scheme
    assert (relative.parent / unquote(clip.media_reference.target_url)).resolve() == source.path.resolve()
    (clip, *_) = main_track_clips(read_back(absolute, source), source)
    assert Path(unquote(urlparse(clip.media_reference.target_url).path)) == source.path.resolve()


def test_variable_frame_rate_is_refused_with_a_reason(tmp_path):
    vfr = make_variable_rate(tmp_path / "phone.mp4")
    with pytest.raises(MediaError, match="variable frame rate"):
        export_timeline(vfr, CutList(4.0, [(0.5, 3.0)]), tmp_path / "cut.fcpxml")
    assert not (tmp_path / "cut.fcpxml").exists()


def test_command_line_export_and_subtitles_fitted_to_the_cut(sources, tmp_path, capsys):
    source = sources["25"]
    cuts = tmp_path / "cuts.json"
    cuts.write_text(json.dumps({"cutlist": CUTS.to_dict(), "removed_seconds": CUTS.removed_seconds}))
    words = [{"start": 1.95, "end": 2.4, "word": " Hello", "probability": 0.9}]
    segments = [{"start": 1.95, "end": 2.4, "text": " Hello", "words": words}]
    transcript = tmp_path / "transcript.json"
    transcript.write_text(json.dumps({"language": "en", "segments": segments}))
    out = tmp_path / "edit" / "cut.fcpxml"
    assert main(["export", str(source.path), str(cuts), str(out), "--transcript", str(transcript)]) == 0
    assert "fcpxml: 3 clips" in capsys.readouterr().out
    # Hello is said 0.05 s into the second kept range, which starts 0.9 s into the cut.
    assert (out.parent / "cut.srt").read_text().startswith("1\n00:00:00,950 --> ")
    # The FCPXML carries it as a caption on the second clip, and OTIO still reads three clips.
    (caption,) = ElementTree.parse(out).iter("caption")
    assert (
        caption.find("text/text-style").text == "Hello" and caption.get("role") == "iTT?captionFormat=ITT.en"
    )
    assert len(main_track_clips(read_back(out, source), source)) == len(KEEP)
    assert main(["export", str(source.path), str(cuts), str(tmp_path / "cut.mp4")]) == 2


# --- melt renders the Shotcut and Kdenlive projects ---

needs_melt = pytest.mark.skipif(shutil.which("melt") is None, reason="melt (Debian package melt) renders MLT")


def render(project: Path, out: Path, video: bool) -> Path:
    """`project` rendered by melt, uncompressed, run from elsewhere so relative paths must hold."""
    picture = "vcodec=rawvideo" if video else "vn=1"
    command = ["melt", "-quiet", str(project), "-consumer", f"avformat:{out}", picture, "acodec=pcm_s16le"]
    subprocess.run(command, cwd=out.parent.parent, check=True, capture_output=True, timeout=120)
    return out


def luma_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="gray") for frame in container.decode(video=0)]).astype(
            float
        )


def sound_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        return samples / container.streams.audio[0].rate


def shown_source_frame(picture: np.ndarray, source: np.ndarray) -> int:
    """The source frame `picture` shows: the one it is the same picture as (testsrc2's differ)."""
    errors = ((source - picture) ** 2).mean(axis=(1, 2))
    best = int(errors.argmin())
    assert 10 * np.log10(255**2 / max(errors[best], 1e-9)) > SAME_PICTURE_DB
    return best


@needs_melt
@pytest.mark.parametrize("extension", [".mlt", ".kdenlive"])
@pytest.mark.parametrize("name", list(SOURCES))
def test_melt_renders_the_cut(sources, tmp_path, name, extension):
    source = sources[name]
    project = tmp_path / "projects" / f"cut{extension}"
    export_timeline(source.path, CUTS, project)
    video = source.fps is not None
    rendered = render(project, tmp_path / "projects" / ("render.mkv" if video else "render.wav"), video)
    fps = float(source.timeline_fps)
    assert sound_seconds(rendered) == pytest.approx(CUTS.kept_duration, abs=1 / fps)
    if not video:
        return
    frames, original = luma_frames(rendered), luma_frames(source.path)
    assert len(frames) == pytest.approx(CUTS.kept_duration * fps, abs=1)
    joined_at = 0.0
    for number, (start, end) in enumerate(KEEP):
        # Find the join in the render: the first frame near where it belongs that shows this range.
        near = range(max(0, round(joined_at * fps) - 2), round(joined_at * fps) + 3)
        shown = {index: shown_source_frame(frames[index], original) for index in near}
        first = min(index for index, frame in shown.items() if frame >= start * fps - 1.5)
        assert first == pytest.approx(joined_at * fps, abs=1)
        assert shown[first] == pytest.approx(start * fps, abs=1)
        if number:  # and the frame before it is the last of the previous kept range
            assert shown_source_frame(frames[first - 1], original) == pytest.approx(
                KEEP[number - 1][1] * fps - 1, abs=1
            )
        joined_at += end - start


# "Hello", said 0.05 s into the second kept range: its cue is on the cut from 0.95 s, for the 0.8 s
# a cue lasts at least.
HELLO = {"start": 1.95, "end": 2.4, "word": " Hello", "probability": 0.9}
TRANSCRIPT = {"language": "en", "segments": [{"start": 1.95, "end": 2.4, "text": " Hello", "words": [HELLO]}]}
HELLO_ON_CUT = (0.95, 1.75)


def main_filter(project: Path, service: str) -> ElementTree.Element:
    """The filter running `service` on the project's main tractor (the last tractor, which plays)."""
    tractor = ElementTree.parse(project).findall("tractor")[-1]
    (found,) = [f for f in tractor.iter("filter") if f.findtext("property[@name='mlt_service']") == service]
    return found


@needs_melt
def test_shotcut_and_kdenlive_subtitle_tracks_hold_the_srt_beside(sources, tmp_path):
    source = sources["25"]
    folder = tmp_path / "projects"
    shotcut = export_timeline(source.path, CUTS, folder / "cut.mlt", transcript=TRANSCRIPT)
    kdenlive = export_timeline(source.path, CUTS, folder / "cut.kdenlive", transcript=TRANSCRIPT)
    # Shotcut holds the SRT itself; Kdenlive refers to its own subtitle file, named as it names it.
    feed = main_filter(folder / "cut.mlt", "subtitle_feed")
    assert feed.findtext("property[@name='text']") == (folder / shotcut["subtitles"]).read_text()
    assert feed.findtext("property[@name='lang']") == "eng"
    assert "Hello" in feed.findtext("property[@name='text']")
    track = main_filter(folder / "cut.kdenlive", "avfilter.subtitles")
    assert kdenlive["subtitles"] == "cut.kdenlive.srt"
    assert track.findtext("property[@name='av.filename']") == kdenlive["subtitles"]
    assert track.findtext("property[@name='internal_added']") == "237"
    assert (folder / kdenlive["subtitles"]).read_text() == (folder / shotcut["subtitles"]).read_text()
    # melt still renders both to the kept length (this melt predates subtitle_feed and skips it) ...
    for project in ("cut.mlt", "cut.kdenlive"):
        rendered = render(folder / project, folder / f"{project}.mkv", video=True)
        assert sound_seconds(rendered) == pytest.approx(CUTS.kept_duration, abs=1 / 25)
    # ... and burns Kdenlive's subtitles in, low in the picture, on exactly the frames of the cue.
    plain = tmp_path / "plain" / "cut.kdenlive"
    export_timeline(source.path, CUTS, plain)
    changed = luma_frames(folder / "cut.kdenlive.mkv") != luma_frames(
        render(plain, plain.with_suffix(".mkv"), True)
    )
    start, end = (ceil(seconds * 25) for seconds in HELLO_ON_CUT)  # the frames shown in the cue
    assert np.flatnonzero(changed.any(axis=(1, 2))).tolist() == list(range(start, end))
    rows = np.flatnonzero(changed.any(axis=(0, 2)))
    assert rows.min() > changed.shape[1] * 3 / 4
