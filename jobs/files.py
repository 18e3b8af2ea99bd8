"""Writing files so that nobody sees half of one: write beside the final name, then rename."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_beside(final: Path) -> Path:
    """A hidden name in `final`'s folder with `final`'s extension (so ffmpeg picks the same format),
    on the same filesystem, so moving it into place is a rename."""
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.part{final.suffix}")


@contextmanager
def written_atomically(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; move it into place only if the block succeeds.

    A reader never sees a half-written file, and a failure (or a cancel) leaves nothing behind.
    """
    final = Path(final)
    temporary = temp_beside(final)
    try:
        yield temporary
        temporary.replace(final)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(final: str | Path, text: str) -> None:
    with written_atomically(final) as temporary:
        temporary.write_text(text, encoding="utf-8")
