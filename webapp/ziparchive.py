"""A zip archive written while it is sent: stored files are read in blocks and passed on, so a
recording of any size goes out without being held in memory or copied on the disk."""

import io
import os
import time
import zipfile
from collections.abc import Iterator
from typing import BinaryIO
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


def streamed_zip(folder: str, entries: list[tuple[str, BinaryIO]]) -> Iterator[bytes]:
    """The bytes of a zip holding each (name, open file) of `entries` in `folder`, closing the files
    as it goes. Entries are stored, not compressed: recordings are compressed already, and a
    timeline is small."""
    outbox = _Outbox()
    try:
        with zipfile.ZipFile(outbox, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, source in entries:
                info = _entry(f"{folder}/{name}", source)
                with source, archive.open(info, "w", force_zip64=True) as target:
                    while block := source.read(BLOCK):
                        target.write(block)
                        yield outbox.take()
                yield outbox.take()
        yield outbox.take()  # the central directory, written as the archive closes
    finally:
        for _, source in entries:  # a download stopped half way
            source.close()


def _entry(name: str, source: BinaryIO) -> zipfile.ZipInfo:
    """The entry of an open file, from the file itself (its name may be gone by now)."""
    stat = os.fstat(source.fileno())
    info = zipfile.ZipInfo(name, date_time=time.localtime(stat.st_mtime)[:6])
    info.file_size, info.external_attr = stat.st_size, (stat.st_mode & 0xFFFF) << 16
    return info


def content_disposition(filename: str) -> str:
    """An attachment header for any file name: an ASCII fallback and the name itself (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
