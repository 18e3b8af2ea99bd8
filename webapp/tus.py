"""Resumable uploads with the tus 1.0 protocol (core, creation, termination, checksum, expiration).

One implementation with two front doors: /api/v1/uploads for personal access tokens, and
/videos/uploads for the upload page (its session cookie, with the CSRF token in the X-CSRFToken
header). Creation (POST) takes the declared length, the file name and the jobs with their settings
in Upload-Metadata, and checks what a plain upload checks: the job choices, the size limit, the
free disk and the quota, whose space is reserved for the whole length at once (webapp/quota.py), so
parallel uploads cannot overrun it. Each PATCH appends its bytes to a partial file in the folder of
the item the upload will become; what arrived before a connection dropped is kept, and HEAD tells
the client where to resume. The PATCH that brings the last byte probes the file and makes the item
(webapp/videos/routes.py add_item, as a plain upload does); a file that is not media is refused
with the page's reason, and nothing of it is kept. An upload not sent to for TUS_EXPIRY_HOURS is
abandoned: the maintenance job removes it (expire_uploads).
"""

import base64
import binascii
import fcntl
import hashlib
import re
import secrets
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import http_date

from webapp import db
from webapp.disk import disk_room
from webapp.helpers import filesize
from webapp.models import Item, Reservation, TusUpload, new_item_id, utcnow
from webapp.quota import UploadSpace
from webapp.storage import user_dir
from webapp.uploads import DISK_CHECK_BYTES, DiskFull, UploadsBusy, over_quota_message

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
PARTIAL = ".tus-upload.part"
CHUNK = 1024 * 1024
CHECKSUM_MISMATCH = 460  # tus's checksum extension: the chunk's bytes are not what was sent

NO_UPLOAD = "There is no such upload: it was finished, cancelled or abandoned, or the link is wrong."
NO_LENGTH = "Send the file's size in bytes in the Upload-Length header."
NO_FILENAME = "Send the file's name as filename in the Upload-Metadata header."
BAD_METADATA = "Upload-Metadata must be comma-separated pairs of a key and its value in base64."
BAD_BATCH = "A batch id is 1 to 32 letters, digits, - or _."
WRONG_TYPE = "Send the bytes of a PATCH as Content-Type: application/offset+octet-stream."
NO_OFFSET = "Send the offset the bytes start at in the Upload-Offset header."
WRONG_OFFSET = "This upload has {offset} bytes; send the bytes from there (Upload-Offset: {offset})."
BUSY = "Another request is sending bytes to this upload right now. Ask where it is (HEAD), then go on."
PAST_END = "These bytes go past the upload's length ({length} bytes)."
NO_CONTENT_LENGTH = "Send the chunk's size in the Content-Length header."
BAD_CHECKSUM = "Upload-Checksum must be an algorithm ({names}) and the chunk's digest in base64."
CHECKSUM_FAILED = "The chunk's checksum does not match its bytes, so they were not kept. Send them again."
INTERRUPTED = "The connection broke off; the bytes that arrived are kept. Ask where it is (HEAD), then go on."
BATCH_ID = r"^[A-Za-z0-9_-]{1,32}$"


def add_routes(bp, prefix: str, guard=lambda view: view) -> None:
    """The tus routes on blueprint `bp`, under `prefix`, each view wrapped in `guard` (the page's
    door wants a login; the API's door checks its token before every view)."""
    bp.add_url_rule(prefix, "tus_options", options, methods=["OPTIONS"], provide_automatic_options=False)
    bp.add_url_rule(prefix, "tus_create", guard(create), methods=["POST"])
    for name, view in (("head", head), ("patch", patch), ("delete", delete)):
        bp.add_url_rule(f"{prefix}/<upload_id>", f"tus_{name}", guard(view), methods=[name.upper()])


def _headers(upload: TusUpload | None = None, **more) -> dict:
    headers = {"Tus-Resumable": VERSION, "Cache-Control": "no-store", **more}
    if upload is not None:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return headers


def _problem(status: int, detail: str, **headers):
    from webapp.api.problems import problem  # the API's package imports this module

    return problem(status, detail, headers=_headers(**headers))


def options():
    """What this server does of tus (answered without a login, as the protocol has it)."""
    return (
        "",
        204,
        {
            "Tus-Resumable": VERSION,
            "Tus-Version": VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(current_app.config["MAX_UPLOAD_SIZE"]),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


# --- creation ------------------------------------------------------------------------------------


def create():
    """Start an upload: the checks of a plain upload on its declared length, its space reserved."""
    from webapp.api.problems import form_problem
    from webapp.api.routes import NOT_CONFIRMED, ApiUploadForm
    from webapp.pipeline import require_queue
    from webapp.videos.forms import upload_choices_problem

    if not current_user.confirmed:
        return _problem(403, NOT_CONFIRMED.format(email=current_user.email))
    length = request.headers.get("Upload-Length", "")
    if not (length.isascii() and length.isdigit()):
        return _problem(400, NO_LENGTH)
    length = int(length)
    metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
    if metadata is None:
        return _problem(400, BAD_METADATA)
    filename = metadata.get("filename") or metadata.get("name")
    if not filename:
        return _problem(400, NO_FILENAME)
    batch = metadata.get("batch") or None
    if batch is not None and not re.fullmatch(BATCH_ID, batch):
        return _problem(400, BAD_BATCH)
    # The jobs and their settings: the fields of the plain upload's form, by the same names.
    form = ApiUploadForm(formdata=MultiDict(metadata), meta={"csrf": False})
    del form.file  # the bytes come by PATCH
    if not form.validate():
        return _with_headers(form_problem(400, form))
    if problem_text := upload_choices_problem(metadata, external_chosen=False):
        return _problem(400, problem_text)
    refused = _room_for(length)
    if refused is not None:
        return refused
    require_queue()  # before anything is stored, as a plain upload

    expiry = timedelta(hours=current_app.config["TUS_EXPIRY_HOURS"])
    space = UploadSpace(current_user, ttl=expiry)
    if not space.cover(length):
        space.release()  # so the message counts only what others hold
        return _problem(413, over_quota_message(current_user))
    upload = TusUpload(
        id=secrets.token_hex(16),
        user_id=current_user.id,
        item_id=new_item_id(),
        length=length,
        filename=filename[:255],
        metadata_header=request.headers.get("Upload-Metadata", ""),
        choices=form.choices(),
        batch=batch,
        reservation_id=space.id,
        expires_at=utcnow() + expiry,
    )
    partial = partial_path(upload)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.touch(exist_ok=False)
    db.session.add(upload)
    db.session.commit()
    location = url_for(f"{request.blueprint}.tus_patch", upload_id=upload.id, _external=True)
    return "", 201, _headers(upload, Location=location, **{"Upload-Offset": "0"})


def _room_for(length: int):
    """The refusal of an upload of `length` bytes by the size limit or the free disk, or None."""
    from webapp.videos.routes import EMPTY

    max_size = current_app.config["MAX_UPLOAD_SIZE"]
    if length == 0:
        return _problem(400, EMPTY.format(label="Media file"))
    if length > max_size:
        return _problem(413, f"This file is larger than the {filesize(max_size)} upload limit.")
    if disk_room() < length:
        return _problem(507, DiskFull.description)
    return None


def parse_metadata(header: str) -> dict | None:
    """Upload-Metadata as {key: text}, or None when it is not pairs of a key and base64."""
    pairs = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return pairs


def _with_headers(response):
    response.headers.update(_headers())
    return response


# --- core ----------------------------------------------------------------------------------------


def partial_path(upload: TusUpload) -> Path:
    """Beside the user's files, in the folder of the item it becomes (one volume: a rename at the end)."""
    return user_dir(upload.user_id) / upload.item_id / PARTIAL


def _owned_row(upload_id: str) -> TusUpload | None:
    """The current user's upload, arriving or finished; another user's looks like no upload at all."""
    upload = db.session.get(TusUpload, upload_id)
    if upload is None or upload.user_id != current_user.id or upload.expires_at <= utcnow():
        return None
    return upload


def owned_upload(upload_id: str) -> TusUpload | None:
    """The current user's upload still arriving. One whose last byte is in (its partial file
    renamed, being probed, or its item made) takes no more bytes."""
    upload = _owned_row(upload_id)
    return upload if upload is not None and partial_path(upload).is_file() else None


def head(upload_id):
    """Where the upload is. A finished one says all its bytes are in (and where its item is): a
    client that lost the answer to its last PATCH must not send the file again."""
    upload = _owned_row(upload_id)
    if upload is None:
        return "", 404, _headers()
    headers = {"Upload-Length": str(upload.length), "Upload-Metadata": upload.metadata_header}
    if partial_path(upload).is_file():
        headers["Upload-Offset"] = str(partial_path(upload).stat().st_size)
    elif db.session.get(Item, upload.item_id) is not None:
        headers["Upload-Offset"] = str(upload.length)
        headers["Location"] = _item_url(upload.item_id)
    else:  # refused, or its item deleted since
        return "", 404, _headers()
    return "", 200, _headers(upload, **headers)


def patch(upload_id):
    """Append the body's bytes at Upload-Offset; the last byte makes the item."""
    upload = owned_upload(upload_id)
    if upload is None:
        return _problem(404, NO_UPLOAD)
    if request.mimetype != "application/offset+octet-stream":
        return _problem(415, WRONG_TYPE)
    offset = request.headers.get("Upload-Offset", "")
    if not (offset.isascii() and offset.isdigit()):
        return _problem(400, NO_OFFSET)
    size = request.content_length
    if size is None:
        return _problem(411, NO_CONTENT_LENGTH)
    checksum = _checksum()
    if checksum is False:
        return _problem(400, BAD_CHECKSUM.format(names=", ".join(CHECKSUMS)))
    if int(offset) + size > upload.length:
        return _problem(413, PAST_END.format(length=upload.length))
    slots = current_app.extensions["upload_slots"]
    if not slots.acquire(blocking=False):
        busy = UploadsBusy()
        return _problem(503, busy.description, **{"Retry-After": "30"})
    try:
        with open(partial_path(upload), "r+b") as partial:
            try:  # one writer per upload: a second PATCH meanwhile would interleave its bytes
                fcntl.flock(partial, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _problem(409, BUSY)
            start = partial.seek(0, 2)
            if int(offset) != start:
                return _problem(409, WRONG_OFFSET.format(offset=start), **{"Upload-Offset": str(start)})
            # The body may take hours: no database connection is held meanwhile.
            db.session.commit()
            refused = _append(partial, start, size, checksum)
            end = partial.tell()
    finally:
        slots.release()
    if refused is not None:
        return refused
    upload.expires_at = utcnow() + timedelta(hours=current_app.config["TUS_EXPIRY_HOURS"])
    db.session.execute(
        sa.update(Reservation)
        .where(Reservation.id == upload.reservation_id)
        .values(expires_at=upload.expires_at)
    )
    db.session.commit()
    headers = _headers(upload, **{"Upload-Offset": str(end)})
    if end == upload.length:
        return _complete(upload, headers)
    return "", 204, headers


def _checksum():
    """(hash object, expected digest) from Upload-Checksum; None without one, False when unreadable."""
    header = request.headers.get("Upload-Checksum")
    if header is None:
        return None
    name, _, digest = header.strip().partition(" ")
    if name not in CHECKSUMS:
        return False
    try:
        return CHECKSUMS[name](), base64.b64decode(digest.strip(), validate=True)
    except binascii.Error:
        return False


def _append(partial, start: int, size: int, checksum):
    """Write the body's `size` bytes at the end of `partial`; a refusal, or None once written.

    A body cut short keeps what arrived (the point of tus), unless it had a checksum: a chunk that
    cannot be checked is not kept. A chunk whose checksum fails is not kept either.
    """
    left, unchecked = size, 0
    try:
        while left > 0:
            data = request.stream.read(min(CHUNK, left))
            if not data:
                raise ClientDisconnected()
            partial.write(data)
            if checksum is not None:
                checksum[0].update(data)
            left -= len(data)
            unchecked += len(data)
            if unchecked >= DISK_CHECK_BYTES:  # other uploads and jobs fill the disk too
                unchecked = 0
                if disk_room() < 0:
                    raise DiskFull()
    except ClientDisconnected:
        if checksum is not None:
            partial.truncate(start)
        partial.flush()
        return _problem(400, INTERRUPTED)
    except DiskFull as full:
        partial.flush()
        return _problem(507, full.description)
    if checksum is not None and checksum[0].digest() != checksum[1]:
        partial.truncate(start)
        partial.seek(start)
        return _problem(CHECKSUM_MISMATCH, CHECKSUM_FAILED)
    partial.flush()
    return None


def _complete(upload: TusUpload, headers: dict):
    """The last byte is in: probe it and make the item (as a plain upload), or refuse it and keep nothing."""
    from webapp.videos.routes import Refused, StoredUpload, _extension, add_item

    field = SimpleNamespace(errors=[])  # takes the probe's reason, as a form field does
    path = partial_path(upload)
    path = path.rename(path.with_name("original" + _extension(upload.filename)))
    stored = {"original": StoredUpload(path, _sha256(path), field)}
    try:
        item = add_item(upload.item_id, upload.filename, stored, upload.choices, upload.batch)
    except Refused as refused:
        forget(upload)
        return _problem(refused.status, " ".join(field.errors))
    # The item's files hold the space now. The row stays until it expires, for HEAD to answer.
    db.session.execute(sa.delete(Reservation).where(Reservation.id == upload.reservation_id))
    db.session.commit()
    headers["Location"] = _item_url(item.id)
    return "", 204, headers


def _item_url(item_id: str) -> str:
    """The item, for the client to follow: its JSON at the API's door, its page at the page's."""
    shown = "api.show_item" if request.blueprint == "api" else "videos.show"
    return url_for(shown, item_id=item_id, _external=True)


def _sha256(path: Path) -> str:
    """The file's content key. Read once more at the end: a hash's state cannot wait between requests."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(CHUNK):
            digest.update(data)
    return digest.hexdigest()


# --- termination and expiry ----------------------------------------------------------------------


def delete(upload_id):
    upload = owned_upload(upload_id)
    if upload is None:
        return _problem(404, NO_UPLOAD)
    forget(upload, remove_item_folder=True)
    return "", 204, _headers()


def forget(upload: TusUpload, remove_item_folder: bool = False) -> None:
    """Drop the upload's row and reservation; with `remove_item_folder`, its partial file too
    (and its folder if nothing else is in it). Once its item is made, the item keeps the folder."""
    folder = partial_path(upload).parent
    db.session.execute(sa.delete(Reservation).where(Reservation.id == upload.reservation_id))
    db.session.delete(upload)
    db.session.commit()
    if remove_item_folder:
        partial_path(upload).unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def expire_uploads() -> int:
    """Remove the uploads nobody sent to for TUS_EXPIRY_HOURS, with their bytes and reservations,
    and the rows of those finished as long ago (their items keep their folders). Returns how many
    were abandoned."""
    expired = db.session.scalars(sa.select(TusUpload).where(TusUpload.expires_at <= utcnow())).all()
    abandoned = sum(partial_path(upload).is_file() for upload in expired)
    for upload in expired:
        forget(upload, remove_item_folder=True)
    return abandoned
