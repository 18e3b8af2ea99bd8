"""The OpenAPI 3.1 description of the API, served at /api/v1/openapi.json. The job settings are read
from the forms the pages use (webapp/kinds/), so a new kind or setting shows here by itself;
tests/test_api.py runs schemathesis against the live app to keep the whole document true."""

from flask import url_for
from wtforms import BooleanField, DecimalField, FileField, FloatField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Regexp

from webapp.kinds import KINDS
from webapp.kinds.export import EDITORS, FILES

ITEM_STATUSES = ("active", "failed", "done")
TASK_STATUSES = ("queued", "starting", "running", "done", "failed", "cancelled")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*codes: int) -> dict:
    return {str(code): {"$ref": f"#/components/responses/{code}"} for code in codes}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _field_schema(field) -> dict:
    """A form field's value as JSON Schema: its type, and the bounds and choices it accepts."""
    schema = {"description": " ".join(filter(None, [field.label.text, field.description]))}
    if isinstance(field, FileField):
        return {**schema, "type": "string", "format": "binary"}
    if isinstance(field, BooleanField):
        return {**schema, "type": "boolean"}
    if isinstance(field, DecimalField | FloatField | IntegerField):
        schema["type"] = "integer" if isinstance(field, IntegerField) else "number"
        for check in field.validators:
            if isinstance(check, NumberRange):
                schema.update({"minimum": check.min, "maximum": check.max})
        return schema
    if isinstance(field, SelectField):
        values = [c.value if isinstance(c, SelectChoice) else c[0] for c in field.choices]
        return {**schema, "type": "string", "enum": values}
    for check in field.validators:
        if isinstance(check, Regexp):
            schema["pattern"] = check.regex.pattern
    return {**schema, "type": "string"}


def _form_schema(form, required=()) -> dict:
    fields = {field.name: _field_schema(field) for field in form if field.name != "csrf_token"}
    return {"type": "object", "properties": fields, "required": list(required)}


def _path(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


IF_MATCH = r'^(W/)?"?[0-9]{1,9}"?$'  # what webapp.editor.routes.if_match_version reads
BINARY = {"type": "string", "format": "binary"}
ITEM_ID = _path("item_id", "The item's id.")
# Every operation refuses query parameters it does not take (400).
HEADER = {"schema": {"type": "string"}}
FILE_HEADERS = {name: HEADER for name in ("ETag", "Last-Modified", "Accept-Ranges", "Content-Disposition")}
DOWNLOAD_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    for name, description in (
        ("Range", "A part of the file: bytes=START-END, bytes=START- or bytes=-LAST."),
        ("If-Range", "The ETag you had: the range if the file is the same, else the whole file."),
        ("If-None-Match", "The ETag you had: 304 if the file is the same."),
    )
]
READ = _problems(400, 401, 404, 429)
WRITE = _problems(400, 401, 403, 404, 429)


def query_parameters() -> dict[str, list[dict]]:
    """The query parameters each operation takes, by endpoint; the API refuses any other (auth.py)."""
    from webapp.api.routes import LAST, MAX_PER_PAGE
    from webapp.editor.forms import PauseForm

    return {
        "api.list_items": [
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": LAST}},
            {
                "name": "per_page",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            },
            {
                "name": "status",
                "in": "query",
                "description": "active: a job is queued or running; failed: the latest run of a job failed "
                "or was cancelled; done: neither.",
                "schema": {"type": "string", "enum": list(ITEM_STATUSES)},
            },
        ],
        "api.item_file": [
            {
                "name": "download",
                "in": "query",
                "description": "Present: sent as an attachment, to save rather than play.",
                "schema": {"type": "string"},
                "allowEmptyValue": True,
            }
        ],
        "api.get_edit": [
            {
                "name": "pause_length",
                "in": "query",
                "description": "What the pause suggestions shorten pauses to, in seconds (default 0.3).",
                "schema": _field_schema(PauseForm(formdata=None, meta={"csrf": False}).pause_length),
            }
        ],
    }


def document() -> dict:
    from webapp.api import hooks
    from webapp.api.routes import ApiUploadForm
    from webapp.videos.forms import JobsForm

    query = query_parameters()

    upload = _form_schema(ApiUploadForm(formdata=None), required=["file"])
    again = _form_schema(JobsForm(formdata=None, meta={"csrf": False}))
    again_plain = {**again, "properties": {k: v for k, v in again["properties"].items() if k != "external"}}
    item_response = _json(_ref("Item"), "The item, with its jobs as they are now.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cutroom API",
            "version": "1",
            "description": "Upload recordings, run jobs on them, follow their progress and download the "
            "results. Authenticate with a personal access token made on the account page: "
            "`Authorization: Bearer crt_...`. Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": url_for("api.openapi", _external=True).removesuffix("/openapi.json")}],
        "security": [{"bearer": []}],
        "paths": {
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
                }
            },
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "summary": "The library's items, newest first",
                    "parameters": query["api.list_items"],
                    "responses": {
                        "200": _json(_ref("ItemPage"), "One page of items."),
                        **_problems(400, 401, 429),
                    },
                },
                "post": {
                    "operationId": "createItem",
                    "summary": "Upload a recording with the jobs to run on it",
                    "description": "The upload page's form: the recording as `file`, an optional "
                    "`external` audio (for sync), and a box per job with its settings. The quota, the "
                    "upload size limit and the free disk are checked as the file arrives.",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": upload}}},
                    "responses": {
                        "201": {**item_response, "headers": {"Location": {"schema": {"type": "string"}}}},
                        **_problems(400, 401, 403, 413, 415, 429, 503, 507),
                    },
                },
            },
            "/items/{item_id}": {
                "parameters": [ITEM_ID],
                "get": {
                    "operationId": "getItem",
                    "summary": "One item",
                    "responses": {"200": item_response, **READ},
                },
                "delete": {
                    "operationId": "deleteItem",
                    "summary": "Delete an item: its jobs stop and its files are removed",
                    "responses": {"204": {"description": "Deleted."}, **WRITE},
                },
            },
            "/items/{item_id}/again": {
                "parameters": [ITEM_ID],
                "post": {
                    "operationId": "runAgain",
                    "summary": "Run jobs again with other settings",
                    "description": "The item page's Run again form; an `external` audio replaces the old.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": again},
                            "application/x-www-form-urlencoded": {"schema": again_plain},
                        },
                    },
                    "responses": {"202": item_response, **WRITE, **_problems(400, 409, 413, 415, 503, 507)},
                },
            },
            "/items/{item_id}/files/{name}": {
                "parameters": [ITEM_ID, _path("name", "The file's name, as the item lists it.")],
                "get": {
                    "operationId": "getFile",
                    "parameters": query["api.item_file"] + DOWNLOAD_HEADERS,
                    "summary": "Download an original or a result (HTTP Range requests work)",
                    "description": "Resume a download with Range (and If-Range with the ETag you had); "
                    "fetch again only if changed with If-None-Match.",
                    "responses": {
                        "200": {
                            "description": "The file.",
                            "headers": FILE_HEADERS,
                            "content": {"*/*": {"schema": BINARY}},
                        },
                        "206": {
                            "description": "The range of the file that Range asked for.",
                            "headers": {**FILE_HEADERS, "Content-Range": HEADER},
                            "content": {"*/*": {"schema": BINARY}},
                        },
                        "304": {
                            "description": "Not changed since the ETag in If-None-Match.",
                            "headers": {"ETag": HEADER},
                        },
                        "416": {
                            "description": "Range starts past the end of the file; Content-Range gives its "
                            "length.",
                            "headers": {"Content-Range": HEADER},
                            "content": {"application/problem+json": {"schema": _ref("Problem")}},
                        },
                        **READ,
                    },
                },
            },
            "/items/{item_id}/edit": {
                "parameters": [ITEM_ID],
                "get": {
                    "operationId": "getEdit",
                    "parameters": query["api.get_edit"],
                    "summary": "The item's edit: kept ranges, words and suggestions",
                    "responses": {
                        "200": _json(_ref("Edit"), "The edit.", {"ETag": {"schema": {"type": "string"}}}),
                        **READ,
                        **_problems(409),
                    },
                },
                "put": {
                    "operationId": "putEdit",
                    "summary": "Replace the kept ranges",
                    "description": "Send the version you changed in If-Match (its ETag). A newer version "
                    "answers 412; no If-Match answers 428.",
                    "parameters": [
                        {
                            "name": "If-Match",
                            "in": "header",
                            "required": True,
                            "description": 'The version you read, as its ETag gave it: "3".',
                            "schema": {"type": "string", "pattern": IF_MATCH},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("EditChange")}},
                    },
                    "responses": {
                        "200": _json(_ref("EditSaved"), "Saved.", {"ETag": {"schema": {"type": "string"}}}),
                        **WRITE,
                        **_problems(400, 409, 412, 428),
                    },
                },
            },
            "/items/{item_id}/render": {
                "parameters": [ITEM_ID],
                "post": {
                    "operationId": "renderEdit",
                    "summary": "Render the current edit",
                    "responses": {"202": item_response, **WRITE, **_problems(409, 503)},
                },
            },
            "/items/{item_id}/exports": {
                "parameters": [ITEM_ID],
                "get": {
                    "operationId": "listExports",
                    "summary": "The timelines made for editing programs",
                    "responses": {"200": _json(_ref("Exports"), "The timelines."), **READ},
                },
                "post": {
                    "operationId": "export",
                    "summary": "Make a timeline of the edit for an editing program",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("ExportRequest")}},
                    },
                    "responses": {"202": item_response, **WRITE, **_problems(400, 409, 503)},
                },
            },
            "/items/{item_id}/exports/{format}": {
                "parameters": [ITEM_ID, _path("format", "The timeline's format, as the exports list it.")],
                "get": {
                    "operationId": "getExport",
                    "summary": "A timeline with the recording it names, as a zip",
                    "responses": {
                        "200": {
                            "description": "The zip.",
                            "content": {
                                "application/zip": {"schema": {"type": "string", "format": "binary"}}
                            },
                        },
                        **READ,
                        **_problems(409),
                    },
                },
            },
            **hooks.paths(),
            **_tus_paths(),
            "/account": {
                "get": {
                    "operationId": "getAccount",
                    "summary": "Space used against the quota",
                    "responses": {
                        "200": _json(_ref("Account"), "The account's usage."),
                        **_problems(400, 401, 429),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal access token (crt_...) made on the account page or with "
                    "`flask tokens create`. Scope read: GET only; write: everything.",
                }
            },
            "responses": _problem_responses(),
            "schemas": _schemas() | hooks.schemas(),
        },
    }


def _header(name: str, description: str, required: bool = True, pattern: str | None = None) -> dict:
    schema = {"type": "string"} if pattern is None else {"type": "string", "pattern": pattern}
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _headers(*names: str) -> dict:
    return {name: {"schema": {"type": "string"}} for name in names}


def _tus_paths() -> dict:
    """The tus 1.0 resumable uploads (webapp/tus.py): creation, core, termination, checksum."""
    from webapp.tus import CHECKSUMS

    resumable = _header("Tus-Resumable", "The tus version: 1.0.0.", required=False)
    upload_id = _path("upload_id", "The upload's id, the last part of its Location.")
    return {
        "/uploads": {
            "options": {
                "operationId": "tusOptions",
                "summary": "What this server does of tus",
                "security": [],
                "responses": {
                    "204": {
                        "description": "Tus-Version, Tus-Extension, Tus-Max-Size and Tus-Checksum-Algorithm.",
                        "headers": _headers(
                            "Tus-Resumable",
                            "Tus-Version",
                            "Tus-Extension",
                            "Tus-Max-Size",
                            "Tus-Checksum-Algorithm",
                        ),
                    }
                },
            },
            "post": {
                "operationId": "createUpload",
                "summary": "Start a resumable upload (tus creation)",
                "description": "The file's size in Upload-Length; in Upload-Metadata (key, space, value in "
                "base64, pairs separated by commas) its `filename`, an optional `batch`, and the jobs with "
                "their settings under the names `POST /items` takes (`silence` `true`, `margin` `0.2`...). "
                "The quota, the size limit and the free disk are checked now, and the space is held for "
                "the whole length. Then PATCH the bytes to the Location.",
                "parameters": [
                    resumable,
                    _header("Upload-Length", "The file's size in bytes.", pattern="^[0-9]{1,18}$"),
                    _header("Upload-Metadata", "filename (required), batch, and the jobs.", required=False),
                ],
                "responses": {
                    "201": {
                        "description": "Started; send the bytes to Location.",
                        "headers": _headers("Location", "Upload-Offset", "Upload-Expires", "Tus-Resumable"),
                    },
                    **WRITE,
                    **_problems(413, 503, 507),
                },
            },
        },
        "/uploads/{upload_id}": {
            "parameters": [upload_id],
            "head": {
                "operationId": "uploadOffset",
                "summary": "How many bytes the server has (where to resume)",
                "parameters": [resumable],
                "responses": {
                    "200": {
                        "description": "Upload-Offset: the bytes kept so far, of Upload-Length.",
                        "headers": _headers(
                            "Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata"
                        ),
                    },
                    "404": {"description": "No such upload: finished, cancelled, abandoned, or another's."},
                    **_problems(400, 401, 429),
                },
            },
            "patch": {
                "operationId": "sendUploadBytes",
                "summary": "Send bytes from Upload-Offset (tus core, checksum)",
                "description": "A body cut short keeps the bytes that arrived (unless it had an "
                "Upload-Checksum); ask HEAD where to go on. The request that brings the last byte makes "
                "the item: 204 with its URL in Location, or the plain upload's refusal (415 for a file "
                "that is no recording), and then nothing of it is kept.",
                "parameters": [
                    resumable,
                    _header(
                        "Upload-Offset", "Where these bytes start: the server's offset.", pattern="^[0-9]+$"
                    ),
                    _header(
                        "Upload-Checksum",
                        f"The chunk's digest: one of {', '.join(CHECKSUMS)}, a space, the digest in base64.",
                        required=False,
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/offset+octet-stream": {"schema": BINARY}},
                },
                "responses": {
                    "204": {
                        "description": "Kept; Upload-Offset is the new offset. Once complete, Location is "
                        "the item's URL.",
                        "headers": _headers("Upload-Offset", "Upload-Expires", "Location"),
                    },
                    **WRITE,
                    **_problems(409, 411, 413, 415, 460, 503, 507),
                },
            },
            "delete": {
                "operationId": "cancelUpload",
                "summary": "Cancel an upload: its bytes are removed and its space given back",
                "parameters": [resumable],
                "responses": {"204": {"description": "Cancelled."}, **WRITE},
            },
        },
    }


PROBLEM_STATUSES = {
    400: "The request is not what this operation takes; `detail` says what to change.",
    401: "No token, or one that is revoked or expired.",
    403: "The token may only read, or the account may not do this yet.",
    404: "There is no such item, file, upload or webhook (another account's are not found either).",
    409: "The item is not in a state for this: jobs running, not prepared yet, or out of date; or an "
    "upload's bytes do not start at its offset.",
    411: "Content-Length is missing.",
    412: "The edit changed since the version in If-Match; ETag is the current version.",
    413: "The upload is larger than the size limit or the space left.",
    415: "The file is not a recording that can be used.",
    428: "If-Match is missing.",
    460: "The chunk's Upload-Checksum does not match its bytes; they were not kept.",
    429: "Too many requests with this token; wait for Retry-After seconds.",
    503: "The job queue or the uploads are busy or away; try again later.",
    507: "The server's disk is nearly full.",
}


def _problem_responses() -> dict:
    responses = {}
    for code, description in PROBLEM_STATUSES.items():
        response = {
            "description": description,
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        if code == 429:
            response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "string"}}}
        if code == 401:
            response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
        if code == 412:
            response["headers"] = {"ETag": {"required": True, "schema": {"type": "string"}}}
        responses[str(code)] = response
    return responses


def _schemas() -> dict:
    number_or_null = {"type": ["number", "null"]}
    string_or_null = {"type": ["string", "null"]}
    ranges = {
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    }
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string", "description": "What went wrong and what to do, in words."},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": string_or_null, "detail": {"type": "string"}},
                    },
                },
            },
        },
        "Task": {
            "type": "object",
            "required": ["id", "kind", "label", "status"],
            "properties": {
                "id": {"type": "integer"},
                "kind": {"type": "string", "enum": list(KINDS)},
                "label": {"type": "string"},
                "status": {"type": "string", "enum": list(TASK_STATUSES)},
                "percent": number_or_null,
                "stage": string_or_null,
                "queue_position": {"type": ["integer", "null"], "description": "Its place in its queue."},
                "waiting_for": {"type": ["string", "null"], "description": "The jobs it waits for."},
                "seconds_left": number_or_null,
                "error": {"type": ["string", "null"], "description": "Why it failed, in words."},
                "figure": {"type": ["string", "null"], "description": "Its result in a few words."},
                "result": {"type": ["object", "null"], "description": "Its figures, once done."},
            },
        },
        "File": {
            "type": "object",
            "required": ["role", "label", "name", "size", "url"],
            "properties": {
                "role": {"type": "string"},
                "label": {"type": "string"},
                "name": {"type": "string"},
                "size": {"type": "integer"},
                "url": {"type": "string", "description": "Where to download it (with the token)."},
            },
        },
        "Item": {
            "type": "object",
            "required": ["id", "title", "status", "tasks", "files", "created_at", "url"],
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "kind": {"type": ["string", "null"], "enum": ["video", "audio", None]},
                "duration": number_or_null,
                "size": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "status": {"type": "string", "enum": list(ITEM_STATUSES)},
                "batch": {
                    "type": ["string", "null"],
                    "description": "The batch it was uploaded with: the `batch` sent with its upload.",
                },
                "url": {"type": "string"},
                "page_url": {"type": "string"},
                "tasks": {"type": "array", "items": _ref("Task")},
                "files": {"type": "array", "items": _ref("File")},
            },
        },
        "ItemPage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total"],
            "properties": {
                "items": {"type": "array", "items": _ref("Item")},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "next": string_or_null,
                "previous": string_or_null,
            },
        },
        "Edit": {
            "type": "object",
            "required": ["version", "duration", "keep"],
            "properties": {
                "version": {"type": "integer"},
                "duration": {"type": "number"},
                "frame": {"type": "number"},
                "fade": {"type": "number"},
                "keep": ranges,
                "kept_duration": {"type": "number"},
                "automatic": ranges,
                "words": {"type": "array"},
                "suggestions": {"type": "array"},
                "pause_length": {"type": "number"},
                "render": {"type": ["object", "null"]},
            },
        },
        "EditChange": {
            "type": "object",
            "required": ["keep"],
            "properties": {
                "keep": {**ranges, "description": "The ranges to keep, [start, end] in seconds."},
                "fade": {"type": "number", "description": "Seconds of audio fade at each join."},
            },
        },
        "EditSaved": {
            "type": "object",
            "required": ["version", "keep", "kept_duration"],
            "properties": {
                "version": {"type": "integer"},
                "keep": ranges,
                "kept_duration": {"type": "number"},
            },
        },
        "ExportRequest": {
            "type": "object",
            "required": ["editor"],
            "properties": {"editor": {"type": "string", "enum": list(EDITORS)}},
        },
        "Exports": {
            "type": "object",
            "required": ["exports"],
            "properties": {
                "exports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "format": {"type": "string", "enum": list(FILES)},
                            "label": {"type": "string"},
                            "stale": {"type": "boolean"},
                            "size": {"type": "integer"},
                            "url": {"type": "string"},
                        },
                    },
                }
            },
        },
        "Account": {
            "type": "object",
            "required": ["email", "used_bytes", "quota_bytes", "space_left_bytes"],
            "properties": {
                "email": {"type": "string"},
                "confirmed": {"type": "boolean"},
                "used_bytes": {"type": "integer"},
                "quota_bytes": {"type": "integer"},
                "space_left_bytes": {"type": "integer"},
                "split": {"type": "object", "additionalProperties": {"type": "integer"}},
                "biggest": {"type": "array", "items": {"type": "object"}},
            },
        },
    }
