"""A zip archive written while it is sent: stored files are read in blocks and passed on, so a
recording of any size goes out without being held in memory or copied on the disk."""

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

BLOCK = 1024 * 1024


class _Outbox(io.RawIOBase):
    """Where the archive writes: its bytes wait here until the response takes them. It cannot seek,
    so zipfile writes each entry's sizes after its data (a data descriptor), as a stream must."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def streamed_zip(folder: str, entries: list[tuple[str, Path]]) -> Iterator[bytes]:
    """The bytes of a zip holding each (name, stored file) of `entries` in `folder`. Entries are
    stored, not compressed: recordings are compressed already, and a timeline is small."""
    outbox = _Outbox()
    with zipfile.ZipFile(outbox, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, stored in entries:
            info = zipfile.ZipInfo.from_file(stored, f"{folder}/{name}")
            with stored.open("rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while block := source.read(BLOCK):
                    target.write(block)
                    yield outbox.take()
            yield outbox.take()
    yield outbox.take()  # the central directory, written as the archive closes


def content_disposition(filename: str) -> str:
    """An attachment header for any file name: an ASCII fallback and the name itself (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
