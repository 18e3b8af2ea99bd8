"""Sync external audio: line a separate recording up with the camera's sound by waveform and swap it in."""

from webapp.kinds import Choice, JobKind, Player, Switch
from webapp.storage import sound_file
from webapp.tasks.outputs import path, publish, scratch, sound, split_progress, with_proxy

SYNCED_WAVEFORM = "synced_waveform.png"
# Share of the sync task's progress taken by the sync itself; drawing its waveform takes the rest.
SYNC_SHARE = 95.0


def run(task, progress) -> dict:
    from jobs.containers import job_extension
    from jobs.mediainfo import MediaInfo
    from jobs.prepare import draw_waveform
    from jobs.progress import part
    from jobs.sync import sync_audio

    item = task.item
    original = path(item, "original")
    video = (item.info or {}).get("video")
    # The picture is copied: the original's container if it carries it, else Matroska.
    name = "synced" + (job_extension(original, video["codec"], copies_video=True) if video else ".m4a")
    work, preview = split_progress(task, progress)
    with scratch(task) as folder:
        result = sync_audio(
            original,
            path(item, "external"),
            folder / name,
            keep_camera_audio=task.params.get("keep_camera_audio", False),
            primary_info=MediaInfo.from_dict(item.info) if item.info else None,  # preparation's probe
            on_progress=part(work, 0.0, SYNC_SHARE),
            primary_sound=sound(item, "original"),
        )
        # Silence removal cuts the synced sound: the item page draws its pauses over this picture,
        # and reads the sound decoded for it.
        synced_sound = folder / f"{name}.sound"
        draw_waveform(
            folder / name,
            folder / SYNCED_WAVEFORM,
            result["output_duration"],
            part(work, SYNC_SHARE, 100.0),
            synced_sound,
        )
        outputs = with_proxy(task, folder, "synced", name, preview)
        publish(task, folder, {**outputs, "synced_waveform": SYNCED_WAVEFORM})
        synced_sound.replace(sound_file(item, name))
    return result


KIND = JobKind(
    name="sync",
    label="Sync external audio",
    runner=run,
    timeout=2 * 3600,
    inputs=("original", "external"),
    outputs={
        "synced": "Synced recording",
        "synced_waveform": "Waveform of the synced sound",
        "synced_proxy": "Browser preview of the synced recording",
    },
    writes=2,  # a new copy of the recording, and pieces of one before they are joined
    keeps=1,
    choice=Choice(
        hint="Lines the External audio up with the camera's sound by waveform and swaps it in.",
        fields={
            "keep_camera_audio": Switch(
                "Keep the camera sound as a second track",
                description="The result then has two sound tracks; the external one plays first.",
            ),
        },
        params=lambda form: {"keep_camera_audio": form.keep_camera_audio.data},
        template="kinds/sync_fields.html",
    ),
    figure=lambda result: (
        f"offset {result['offset_seconds'] * 1000:+.1f} ms" if "offset_seconds" in result else None
    ),
    card_place=20,
    card="kinds/sync_card.html",
    player=Player("synced", "With the external audio", "transcript_vtt"),
    order=10,
)
