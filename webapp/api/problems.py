"""The API's errors as RFC 9457 problem details (application/problem+json), worded as the pages word them."""

import json

from flask import Response, current_app
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_JSON = "application/problem+json"


def _body(status: int, detail: str, extra: dict) -> str:
    # "about:blank": the status code says what kind of problem it is; its title is the status phrase.
    title = HTTP_STATUS_CODES.get(status, "Error")
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra})


def problem(status: int, detail: str, headers: dict | None = None, **extra) -> Response:
    return current_app.response_class(
        _body(status, detail, extra), status=status, mimetype=PROBLEM_JSON, headers=headers
    )


def as_problem(response: Response, detail: str) -> Response:
    """An HTTP error's response (with its own headers: Allow, Retry-After...) with a problem as body."""
    response.set_data(_body(response.status_code, detail, {}))
    response.mimetype = PROBLEM_JSON
    return response


def form_problem(status: int, form) -> Response:
    """A refused form: every reason in `detail`, as the page lists them, and each with its field in
    `errors` (field null: about the request as a whole)."""
    errors = [
        {"field": name, "detail": message} for name, messages in form.errors.items() for message in messages
    ]
    return problem(status, " ".join(error["detail"] for error in errors), errors=errors)
