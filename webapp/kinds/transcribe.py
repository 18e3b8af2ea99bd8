"""Transcribe: speech to text with Whisper, as subtitles (SRT, WebVTT), plain text and JSON."""

from flask import current_app
from wtforms import SelectField
from wtforms.validators import ValidationError

from jobs.models import DEFAULT_MODEL_NAME, model_languages
from webapp.helpers import plural
from webapp.kinds import SOURCE, Choice, JobKind, Switch
from webapp.storage import stored_json
from webapp.tasks.outputs import publish, scratch, sound, source


def run(task, progress) -> dict:
    from jobs.transcribe import transcribe

    with scratch(task) as folder:
        result = transcribe(
            source(task.item),
            folder,
            model=current_app.config["TRANSCRIBE_MODEL"] or None,
            language=task.params.get("language"),
            vad=task.params.get("vad", True),
            on_progress=progress,
            sound=sound(task.item),
        )
        publish(task, folder, {f"transcript_{fmt}": name for fmt, name in result["outputs"].items()})
    return result


def paragraphs(item) -> list[dict] | None:
    """The transcript as readable paragraphs, each with its start time on the main player; None
    when there is no transcript (an empty list: one without speech)."""
    transcript = stored_json(item, "cut_json" if item.file("cut_json") else "transcript_json")
    if transcript is None:  # none made, or gone from the disk (see videos.file)
        return None
    segments = transcript.get("segments", [])
    found, current, last_end = [], None, None
    for segment in segments:
        # A new paragraph after a pause or once one grows long.
        if current is None or segment["start"] - last_end > 1.5 or len(current["text"]) > 400:
            current = {"start": segment["start"], "text": ""}
            found.append(current)
        current["text"] = (current["text"] + " " + segment["text"].strip()).strip()
        last_end = segment["end"]
    return found


def preload(config) -> None:
    """Load the model once per worker, before its first job."""
    from jobs.transcribe import load_model

    load_model(config["TRANSCRIBE_MODEL"] or None)


def languages(form) -> None:
    """The language choices are the installed model's languages."""
    form.model_name = current_app.config["TRANSCRIBE_MODEL"] or DEFAULT_MODEL_NAME
    form.languages = model_languages(form.model_name)
    by_name = sorted(form.languages.items(), key=lambda item: item[1])
    if len(form.languages) == 1:  # nothing to detect or choose: shown fixed
        form.language.choices = by_name
        form.language.data = form.language.data or next(iter(form.languages))
    else:
        form.language.choices = [("", "Detect"), *by_name]


def known_language(form, field) -> None:
    if field.data and field.data not in form.languages:
        if len(form.languages) == 1:
            raise ValidationError(
                f"The transcription model {form.model_name} understands only English. "
                "Ask the administrator for a multilingual model to transcribe other languages."
            )
        raise ValidationError("Choose a language from the list, or Detect.")


KIND = JobKind(
    name="transcribe",
    label="Transcribe",
    runner=run,
    queue="transcribe",
    timeout=6 * 3600,
    inputs=(SOURCE,),
    outputs={
        "transcript_srt": "Subtitles",
        "transcript_vtt": "Subtitles",
        "transcript_txt": "Transcript text",
        "transcript_json": "Transcript with word timings",
    },
    after=("sync",),
    choice=Choice(
        hint="Speech to text with Whisper: subtitles (SRT, WebVTT), plain text and JSON.",
        fields={
            # The choices are set per form (see `languages`); the check is known_language.
            "language": SelectField(
                "Language", default="", validate_choice=False, validators=[known_language]
            ),
            "vad": Switch(
                "Skip non-speech (voice activity filter)",
                default=True,
                description="Whisper hears only what sounds like a voice, so pauses, music and noise get "
                "no invented words. Untick it if very quiet speech goes missing.",
            ),
        },
        params=lambda form: {"language": form.language.data or None, "vad": form.vad.data},
        template="kinds/transcribe_fields.html",
        setup=languages,
    ),
    figure=lambda result: plural(result["words"], "word") if "words" in result else None,
    card_place=30,
    card="kinds/transcript_card.html",
    card_data=paragraphs,
    config={"model": "TRANSCRIBE_MODEL"},
    preload=preload,
    order=30,
)
