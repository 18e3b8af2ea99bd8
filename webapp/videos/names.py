"""The names a person sees on what they upload and download: an item's title from the uploaded
file's name, and the names of downloaded files and of the folder an export's zip unpacks into."""

import re
from pathlib import PurePath

from webapp.models import Item, MediaFile
from webapp.videos.forms import TITLE_MAX, printable


def display_name(filename: str | None) -> str:
    """An item's title from the uploaded file's name: the name alone, printable, not too long."""
    name = printable((filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    return name[:TITLE_MAX] or "Untitled"


def title_stem(title: str) -> str:
    """The title without its file extension, if it ends with one ("Talk.mp4", not "Talk v2.5")."""
    # A title stored before names were cleaned may hold control characters; a header may not.
    title = printable(title)
    stem, dot, extension = title.rpartition(".")
    is_extension = dot and re.fullmatch(r"[A-Za-z0-9]{1,5}", extension) and not extension.isdigit()
    return (stem if is_extension else title) or "Untitled"


# Names Windows will not create a file or folder by, whatever follows a dot.
WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{n}" for n in range(1, 10)),
    *(f"LPT{n}" for n in range(1, 10)),
}
FOLDER_MAX = 100  # characters: well inside every system's limit on a name, in UTF-8 bytes too


def folder_name(title: str) -> str:
    """A folder named after the title that unpacks on any system: nothing that would climb out of
    it, no character Windows refuses, not too long."""
    name = re.sub(r'[\\/<>:"|?*]', "-", title_stem(title))[:FOLDER_MAX].strip(". ")
    if name.split(".")[0].upper() in WINDOWS_RESERVED:
        name = f"{name}_"
    return name or "Untitled"


def download_name(item: Item, stored: MediaFile) -> str:
    """An original: the title with the stored extension; an output: the title's stem and its name."""
    stem = title_stem(item.title)
    if stored.role == "original":
        return stem + PurePath(stored.name).suffix
    return f"{stem} - {stored.name}"
