"""Outgoing mail: rendered in the web process, sent by a worker on the `mail` queue.

Without MAIL_SERVER, messages are logged and written as .eml files to instance/outbox/,
so a first run works offline and a person can still confirm their address.
"""

import logging
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app, render_template

from webapp.pipeline import enqueue_mail

log = logging.getLogger(__name__)


def send_mail(to: str, subject: str, template: str, **context) -> None:
    """Render templates/mail/<template>.txt and queue it for delivery."""
    body = render_template(f"mail/{template}.txt", **context)
    enqueue_mail({"to": to, "subject": subject, "body": body})


def deliver(message: dict) -> None:
    """RQ job: send one message. Exceptions propagate so RQ retries and records failures."""
    config = current_app.config
    msg = EmailMessage()
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = message["to"]
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
