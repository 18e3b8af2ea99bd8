"""Streaming uploads: each file part is written straight into the item's folder while it arrives.

A global CSRFProtect reads `request.form` before any view runs, which makes werkzeug parse the
whole multipart body. With its default stream factory that spools every file to a temp file
first (a second full copy, and no quota check until the end). Here the factory hands werkzeug
a sink in the final folder that reserves bytes in the user's space (webapp/quota.py) before
writing them, so a too-large upload stops at the byte that crosses the limit, however many run at
once, and the partial file is removed. The reservation is given back when the request ends. The
same goes for the disk: an upload that would leave the media volume with less than MIN_FREE_DISK
free is refused before it starts (by its declared length) or stopped while it streams in.
Anything a request wrote that its view did not keep is deleted when the request ends.
The job fields come before the file inputs in the forms, so a choice that cannot work (Sync without
an External audio) is refused as soon as the first file part starts, before its bytes are read.
"""

import functools
import hashlib
import os
from pathlib import Path

from flask import Request, abort, current_app
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import (
    BadRequest,
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from webapp import db
from webapp.disk import disk_room
from webapp.models import Item, new_item_id
from webapp.quota import UploadSpace, space_left
from webapp.storage import user_dir

# The views that take uploads: the upload page and the API's, and "Run again" (which adds to an item).
ADDING_ENDPOINTS = {"videos.again", "api.run_again"}
UPLOAD_ENDPOINTS = {"videos.new", "api.create_item", *ADDING_ENDPOINTS}
# The views that take a resumable upload's bytes (webapp/tus.py), a chunk at most the upload limit.
RESUMABLE_ENDPOINTS = {"api.tus_patch", "videos.tus_patch"}
FORM_OVERHEAD = 1024 * 1024  # room for the multipart framing and the small form fields
# What of a declared length is surely not stored (the framing and form fields of one or two files).
FORM_FRAMING = 64 * 1024
# Free space is checked again after every this many bytes: other uploads and jobs fill it too.
DISK_CHECK_BYTES = 1024 * 1024


def over_quota_message(user) -> str:
    from webapp.helpers import filesize

    return (
        f"This upload does not fit in your space: you have {filesize(space_left(user))} left of "
        f"{filesize(user.quota)}. Delete items you no longer need, then try again."
    )


class UploadTooLarge(RequestEntityTooLarge):
    human = True


class DiskFull(HTTPException):
    code = 507
    human = True
    description = (
        "The server's disk is nearly full, so this upload cannot be stored right now and nothing "
        "of it was kept. Try again later, or tell the operator."
    )


class UploadInterrupted(BadRequest):
    human = True
    description = "The upload was interrupted before it finished, so nothing was stored. Try again."


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class NotAForm(UnsupportedMediaType):
    human = True
    description = (
        "Send the upload as multipart/form-data: the recording as a file field, the jobs and their "
        "settings as fields beside it (Run again also takes application/x-www-form-urlencoded)."
    )


class UploadsBusy(ServiceUnavailable):
    human = True
    description = (
        "The server is taking in as many uploads as it can right now, so nothing of this one was "
        "stored. Try again in a minute."
    )


class ChoicesRefused(BadRequest):
    """The job choices cannot work with the files sent; said before the files' bytes are read."""

    human = True


class BodyWatch:
    """The request body as the form parser reads it, watched until the first file part starts.

    A second multipart decoder reads the same bytes, collecting the form fields sent so far; at the
    first file part it calls `at_first_file(fields, name, filename)`, which may refuse the upload,
    and stops watching (the rest is file bytes; parsing them twice would cost for nothing).
    """

    def __init__(self, stream, boundary: bytes, at_first_file, max_field_size: int | None):
        self.stream, self.at_first_file = stream, at_first_file
        self.decoder = MultipartDecoder(boundary, max_form_memory_size=max_field_size)
        self.fields, self.field, self.value = MultiDict(), None, []

    def read(self, size=-1) -> bytes:
        data = self.stream.read(size)
        if self.decoder is not None:
            self._watch(data)
        return data

    def _watch(self, data: bytes) -> None:
        self.decoder.receive_data(data or None)
        while not isinstance(event := self.decoder.next_event(), (NeedData, Epilogue)):
            if isinstance(event, File):
                self.decoder = None
                self.at_first_file(self.fields, event.name, event.filename)
                return
            if isinstance(event, Field):
                self.field, self.value = event.name, []
            elif isinstance(event, Data):
                self.value.append(event.data)
                if not event.more_data:
                    self.fields.add(self.field, b"".join(self.value).decode("utf-8", "replace"))
        if isinstance(event, Epilogue):
            self.decoder = None


class Budget:
    """How many bytes this request may still store, and what to say when it runs out.

    With a `space` (an upload that is stored) every byte is reserved in the user's space before
    it is written, and the upload stops once the media volume is down to MIN_FREE_DISK.
    """

    def __init__(self, limit: int, message: str, space: UploadSpace | None = None):
        self.left, self.message, self.space = limit, message, space
        self.spent = self.unchecked = 0

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UploadTooLarge(self.message)
        if self.space is None:
            return
        self.spent += n
        self.cover(self.spent)
        self.unchecked += n
        if self.unchecked >= DISK_CHECK_BYTES:
            self.unchecked = 0
            if disk_room() < 0:
                raise DiskFull()

    def cover(self, total: int) -> None:
        if not self.space.cover(total):
            self.space.release()  # so the message counts only what others hold
            raise UploadTooLarge(over_quota_message(current_user))


class UploadSink:
    """A file in the item's folder that werkzeug writes one upload part into."""

    def __init__(self, path: Path, budget: Budget):
        self.path, self.budget, self.size = path, budget, 0
        self.kept = False
        self.file = open(path, "x+b")  # noqa: SIM115 - lives as long as the request's FileStorage
        # Hashed as it arrives, so finding an earlier identical upload costs no second read.
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.budget.spend(len(data))
        self.size += len(data)
        self.hash.update(data)
        return self.file.write(data)

    @property
    def content_key(self) -> str:
        return self.hash.hexdigest()

    def seek(self, *args):
        return self.file.seek(*args)

    def read(self, *args):
        return self.file.read(*args)

    def tell(self):
        return self.file.tell()

    def close(self):
        self.file.close()

    def keep(self, name: str) -> Path:
        """Close the part and give it its final name in the same folder (a rename, not a copy)."""
        self.file.close()
        final = self.path.with_name(name)
        os.replace(self.path, final)
        self.path, self.kept = final, True
        return final

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class DiscardSink(UploadSink):
    """Counts and drops the bytes of an upload nobody may store (an unconfirmed user's)."""

    def __init__(self, budget: Budget):
        self.budget, self.size, self.kept, self.path = budget, 0, False, None

    def write(self, data: bytes) -> int:
        self.budget.spend(len(data))
        self.size += len(data)
        return len(data)

    def seek(self, *args):
        return 0

    def read(self, *args):
        return b""

    def tell(self):
        return self.size

    def close(self):
        pass

    def discard(self):
        pass


class CountingStream:
    """Wraps the request body to count what actually arrived.

    Under gunicorn a body that ends early (client gone) reads as a short stream, not an error.
    """

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.count += len(data)
        return data


class UploadRequest(Request):
    """Flask's request, with file parts of upload forms streamed into place as they arrive."""

    upload_item_id: str | None = None

    @property
    def is_upload(self) -> bool:
        return self.method == "POST" and self.endpoint in UPLOAD_ENDPOINTS

    @property
    def max_content_length(self) -> int | None:
        if self.is_upload or self.endpoint in RESUMABLE_ENDPOINTS:
            return current_app.config["MAX_UPLOAD_SIZE"] + FORM_OVERHEAD
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value):
        Request.max_content_length.fset(self, value)

    @property
    def sinks(self) -> list[UploadSink]:
        return self.__dict__.setdefault("_upload_sinks", [])

    def _load_form_data(self) -> None:
        if not self.is_upload or "form" in self.__dict__:
            return super()._load_form_data()
        # Refused before reading a byte (and the connection closed, see requestbody.py): a logged-out
        # client may store nothing, and one thread per upload beyond the slots would starve pages.
        if not current_user.is_authenticated:
            abort(current_app.login_manager.unauthorized())
        if not current_app.extensions["upload_slots"].acquire(blocking=False):
            raise UploadsBusy(retry_after=30)
        self.__dict__["_upload_slot"] = True
        # Whatever happens below, the form counts as parsed: nobody may re-read a half-read body.
        self.__dict__["form"] = self.parameter_storage_class()
        self.__dict__["files"] = self.parameter_storage_class()
        has_external = self._find_upload_item()
        # The size limits are ours to check (with a reason), so take the body without werkzeug's.
        body = CountingStream(get_input_stream(self.environ, max_content_length=None))
        self.__dict__["stream"] = body
        # Checked before reading: a declared length that cannot fit is refused with its reason.
        self.__dict__["_upload_budget"] = self._make_budget(self.content_length)
        stream = body
        if self.mimetype == "multipart/form-data" and self.mimetype_params.get("boundary"):
            check = functools.partial(_check_choices, has_external=has_external)
            boundary = self.mimetype_params["boundary"].encode()
            stream = BodyWatch(body, boundary, check, self.max_form_memory_size)
        # The database is done with until the body is in: it may take hours to arrive, and a
        # connection held meanwhile (a process has a pool of 15) would leave other requests waiting.
        db.session.commit()  # ends the transaction: the connection goes back to the pool
        if self.mimetype and self.mimetype not in FORM_TYPES:
            raise NotAForm()  # else werkzeug reads no form from it, and it looks cut short
        parser = self.make_form_data_parser()
        parser.silent = False
        try:
            _, form, files = parser.parse(stream, self.mimetype, self.content_length, self.mimetype_params)
        except (ValueError, ClientDisconnected) as error:  # a broken body, or one that stalled
            raise UploadInterrupted() from error
        if self.content_length is not None and body.count < self.content_length:
            raise UploadInterrupted()
        self.__dict__["form"], self.__dict__["files"] = form, files

    def _find_upload_item(self) -> bool:
        """For "Run again", which adds to an item: whether it has its External audio already.

        The item must be the user's (404 before a byte is read); its folder takes the new file.
        """
        if self.endpoint not in ADDING_ENDPOINTS:
            return False
        item = db.session.get(Item, self.view_args["item_id"])
        if item is None or item.user_id != current_user.id:
            abort(404)
        self.upload_item_id = item.id
        return item.file("external") is not None

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        if not self.is_upload:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        budget = self.__dict__["_upload_budget"]
        # Decided by the budget, not by reading the user again: that read would hold a database
        # transaction open for as long as the upload streams in.
        if budget.space is None:
            sink = DiscardSink(budget)
        else:
            if self.upload_item_id is None:
                self.upload_item_id = new_item_id()
            folder = user_dir(budget.space.user_id) / self.upload_item_id
            folder.mkdir(parents=True, exist_ok=True)
            sink = UploadSink(folder / f".upload-{len(self.sinks)}.part", budget)
        self.sinks.append(sink)
        return sink

    def _make_budget(self, total_content_length: int | None) -> Budget:
        from webapp.helpers import filesize

        max_size = current_app.config["MAX_UPLOAD_SIZE"]
        if not current_user.is_authenticated:
            return Budget(max_size, f"Uploads are limited to {filesize(max_size)}.")
        message = f"This file is larger than the {filesize(max_size)} upload limit."
        # The declared length already tells us when it cannot fit; refuse before storing a byte.
        if total_content_length and total_content_length > max_size + FORM_OVERHEAD:
            raise UploadTooLarge(message)
        # Only a confirmed user's upload is stored; the others are counted and dropped.
        if not current_user.confirmed:
            return Budget(max_size, message)
        if disk_room() < (total_content_length or 0):
            raise DiskFull()
        budget = Budget(max_size, message, UploadSpace(current_user))
        # Reserved at once, so of uploads that start together the first ones are sure to fit.
        budget.cover((total_content_length or 0) - FORM_FRAMING)
        return budget

    def discard_unkept_uploads(self) -> None:
        if self.__dict__.pop("_upload_slot", False):
            current_app.extensions["upload_slots"].release()
        for sink in self.sinks:
            if not sink.kept:
                sink.discard()
        budget = self.__dict__.get("_upload_budget")
        if budget is not None and budget.space is not None:
            budget.space.release()  # after the view committed the rows of what it kept
        if self.upload_item_id and current_user.is_authenticated:
            folder = user_dir(current_user.id) / self.upload_item_id
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def drain(self) -> None:
        """Read and drop the rest of an upload we refused, so a browser sees our page, not a reset.

        At most the upload limit is drained; past that a reset costs the client less than reading.
        """
        body = self.__dict__.get("stream")
        if not isinstance(body, CountingStream) or self.content_length is None:
            return
        remaining = min(self.content_length - body.count, self.max_content_length)
        try:
            while remaining > 0 and (chunk := body.read(min(remaining, 1024 * 1024))):
                remaining -= len(chunk)
        except ClientDisconnected:
            pass


def _check_choices(fields: MultiDict, name: str, filename: str | None, has_external: bool) -> None:
    """At the first file part of an upload: refuse choices that cannot work with the files sent.

    Only an External audio part tells: after a Media file part, the External audio may still come.
    """
    from webapp.videos.forms import upload_choices_problem

    if name == "external" and (problem := upload_choices_problem(fields, bool(filename), has_external)):
        raise ChoicesRefused(problem)
