"""The kinds of work Cutroom does, one module each: everything the web and the workers know of a kind.

A kind's module in this package defines `KIND = JobKind(...)`: its label, queue and time limit, the
files it reads and writes, what it waits for, how it is chosen on the forms and how its params come
from them, how its figure and result card show, and its runner (the worker side: it calls the
engine in jobs/). The package finds the modules itself, so adding a kind on an existing queue is:
its engine module, its module here, and its card's template if it shows one (README: Layout).

Nothing here imports media code at module level: the web process loads every kind to draw its
forms and pages, and only a worker calls a runner, which imports the engine when it runs.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wtforms import BooleanField

# An input role that stands for what the jobs after sync work on: the synced file when there is
# one, else the original (`source_role`).
SOURCE = "source"

# Roles that arrive with an upload rather than from a job, and how the Downloads table names them.
UPLOAD_LABELS = {"original": "Original", "external": "External audio"}


@dataclass(frozen=True)
class Choice:
    """How a person asks for a kind on the upload and "Run again" forms (or on its card).

    `fields` are its parameters' form fields, by name (their `description` is the hint under
    them); `params(form)` turns a validated form into the task's params, and a stored task's
    params are put back into the fields of the same names ("Run again" shows what ran). A
    `template` draws the fields when the plain list of them is not enough."""

    hint: str
    fields: dict[str, Any] = field(default_factory=dict)
    params: Callable[[Any], dict] = lambda form: {}
    template: str | None = None
    setup: Callable[[Any], None] | None = None  # setup(form): what its fields need from the app (choices)
    on_upload: bool = True  # offered with the upload; else only asked for later, on the item page


@dataclass(frozen=True)
class Player:
    """A player on the item page for a kind's output, with the subtitles that fit it."""

    role: str
    heading: str
    subtitles: str | None = None


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str  # what the interface calls it
    runner: Callable  # runner(task, progress) -> the result dict stored on the task row
    queue: str = "media"
    timeout: int = 3600  # seconds before RQ stops it
    inputs: tuple[str, ...] = ()  # file roles it reads (SOURCE: see source_role); part of its reuse key
    uses: tuple[str, ...] = ()  # file roles it reads when they are there (a transcript); in the key too
    outputs: dict[str, str] = field(default_factory=dict)  # file role -> label in the Downloads table
    # What it writes while it runs, and what of that it keeps, as multiples of the file it works on:
    # checked against the free disk (webapp/disk.py) and the owner's quota (webapp/quota.py).
    writes: float = 0
    keeps: float = 0
    after: tuple[str, ...] = ()  # kinds it waits for when they run too
    # For a kind nobody chooses: it runs when all of these are chosen (e.g. fitting subtitles to a cut).
    needs: tuple[str, ...] = ()
    choice: Choice | None = None  # None: never chosen by a person (preparation, fitting subtitles)
    figure: Callable[[dict], str | None] = lambda result: None  # the figure beside "done"
    card: str | None = None  # template of its result card on the item page; it gets `result`
    card_data: Callable[[Any], Any] | None = None  # card_data(item), when the card needs more than the result
    card_place: int = 0  # its card's place on the item page: the cut first, as the players show it
    player: Player | None = None
    # App settings its results depend on, by their name in its reuse key: {"model": "TRANSCRIBE_MODEL"}.
    config: dict[str, str] = field(default_factory=dict)
    preload: Callable[[Any], None] | None = None  # preload(config): run once by a worker of its queue
    # It works on the item's edit (webapp/edits.py): its params get the edit as it is when submitted.
    edit: bool = False
    order: int = 0  # place on forms and pages: the order the pipeline runs them in


def chosen_on_upload() -> list[JobKind]:
    return [kind for kind in KINDS.values() if kind.choice and kind.choice.on_upload]


def plan(choices: dict[str, dict], prepared: bool = False) -> list[dict]:
    """The task graph for a submission: each chosen kind with its params and the chosen kinds it
    waits for, plus the kinds nobody chooses that the choice calls for (preparation unless the
    file is `prepared` already; fitting subtitles when both a cut and a transcript are made).

    Kinds run beside each other unless one waits for another: transcription does not wait for
    silence removal, and a last small step maps its timings through the cut list once both are done.
    """
    steps = []
    for kind in KINDS.values():
        if kind.choice is not None:
            wanted = kind.name in choices
        else:
            wanted = all(need in choices for need in kind.needs) and not (kind.name == "prepare" and prepared)
        if wanted:
            after = [name for name in kind.after if name in choices or name in kind.needs]
            steps.append({"kind": kind.name, "params": choices.get(kind.name, {}), "after": after})
    return steps


def source_role(item) -> str:
    """What the jobs after sync work on: the synced file when there is one, else the original."""
    return "synced" if item.file("synced") else "original"


def input_roles(kind: JobKind, item) -> list[str]:
    return [source_role(item) if role == SOURCE else role for role in kind.inputs]


def file_label(role: str) -> str:
    """How the Downloads table names a file of `role`."""
    if role in UPLOAD_LABELS:
        return UPLOAD_LABELS[role]
    return next((kind.outputs[role] for kind in KINDS.values() if role in kind.outputs), role)


class Switch(BooleanField):
    """A yes-or-no choice that takes only yes or no. A plain BooleanField takes any text but "false"
    as yes, so a script sending `vad=null` or `transcribe={}` would get what it did not ask for; here
    such a value is refused with the field's name. A ticked box sends "y", an unticked one nothing."""

    YES = ("y", "yes", "true", "on", "1")
    NO = ("", "n", "no", "false", "off", "0")

    def process_formdata(self, valuelist):
        if not valuelist:
            self.data = False
            return
        value = str(valuelist[0]).strip().lower()
        if value not in self.YES + self.NO:
            self.data = False
            raise ValueError(f"Give {self.label.text} as true or false.")
        self.data = value in self.YES


def choice_fields() -> dict[str, Any]:
    """The form fields of every kind offered with an upload: its box, then its parameters."""
    fields = {}
    for kind in chosen_on_upload():
        fields[kind.name] = Switch(kind.label, description=kind.choice.hint)
        fields.update(kind.choice.fields)
    return fields


def _discover() -> dict[str, JobKind]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if kind is not None:
            found.append(kind)
    return {kind.name: kind for kind in sorted(found, key=lambda kind: (kind.order, kind.name))}


# Last: a kind's module may use the helpers above (through webapp.tasks.outputs) as it is loaded.
KINDS: dict[str, JobKind] = _discover()
