"""Outgoing mail: rendered in the web process, sent by a worker on the `mail` queue.

Without MAIL_SERVER, messages are logged and written as .eml files to instance/outbox/,
so a first run works offline and a person can still confirm their address.
"""

import logging
import smtplib
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from email_validator import validate_email
from flask import current_app, render_template

from webapp.pipeline import enqueue_mail

log = logging.getLogger(__name__)


NO_EXTERNAL_URL = (
    "EXTERNAL_URL is not set (or is not an http:// or https:// URL). Set it to the address people use "
    "to reach Cutroom, e.g. EXTERNAL_URL=https://cutroom.example.org: links in mails are built from it."
)


def mail_link(endpoint: str, **values) -> str:
    """The full URL of `endpoint` for a mail, built on EXTERNAL_URL.

    Never on the request's Host header: whoever sends the request chooses it, and would get
    someone else's reset link mailed pointing at their own site.
    """
    base = urlsplit(current_app.config["EXTERNAL_URL"])
    if base.scheme not in ("http", "https") or not base.netloc:
        raise RuntimeError(NO_EXTERNAL_URL)
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def envelope_address(address: str) -> str:
    """`address` as mail servers take it: the domain in IDNA (punycode); the local part stays
    Unicode if it is, which needs a server that speaks SMTPUTF8."""
    result = validate_email(address, check_deliverability=False)
    return f"{result.local_part}@{result.ascii_domain}"


def send_mail(to: str, subject: str, template: str, **context) -> None:
    """Render templates/mail/<template>.txt and queue it for delivery."""
    body = render_template(f"mail/{template}.txt", **context)
    enqueue_mail({"to": to, "subject": subject, "body": body})


def deliver(message: dict) -> None:
    """RQ job: send one message. Exceptions propagate so RQ retries and records failures."""
    config = current_app.config
    to = envelope_address(message["to"])
    # A non-ASCII local part cannot be encoded in a header (RFC 2047 covers only words of text),
    # so such a message is written in UTF-8 and smtplib sends it with SMTPUTF8.
    msg = EmailMessage(policy=policy.default if to.isascii() else policy.SMTPUTF8)
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = to
    msg["Subject"] = message["subject"]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="cutroom")
    # No quoted-printable: its soft line breaks cut the links in two for anyone reading the .eml.
    msg.set_content(message["body"], cte="7bit" if message["body"].isascii() else "8bit")

    if not config["MAIL_SERVER"]:
        outbox = Path(config["MAIL_OUTBOX"])
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{msg['Message-ID'].strip('<>')}.eml"
        path.write_bytes(msg.as_bytes())
        log.info("MAIL_SERVER is not set; mail to %s written to %s\n%s", msg["To"], path, message["body"])
        return

    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(msg)
