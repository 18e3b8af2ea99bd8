"""Request bodies under gunicorn: a body that stalls ends its request; one left unread closes its connection.

gunicorn hands the app a blocking socket with no timeout, so a client that stops sending halfway
through a body would hold a thread for as long as it keeps the connection open. And when the app
answers without reading the whole body (a refused upload), the rest of it is still on the
connection: gunicorn drains a little, then closes, after announcing `Connection: keep-alive`, so
the client's next request on that connection fails. WSGI gives an app no way to close the
connection (gunicorn drops a `Connection` header an app sets); gunicorn.conf.py's pre_request hook
hands over gunicorn's own switch as `close_connection` on the body it passes as `wsgi.input`.
"""

import contextlib
import socket
import time

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import ClosingIterator

# After a response that closes its connection: how long, and how much, to read what the client is
# still sending, so that closing does not reset the connection before it has read the response;
# and how long a silence ends that early (a stalled client costs its thread no more than this).
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
LINGER_IDLE = 0.25


class BodyStalled(ClientDisconnected):
    description = "The request body stopped arriving, so the request was dropped."


class TimedBody:
    """`wsgi.input` that raises BodyStalled on a read timeout and knows whether it was read to the end."""

    def __init__(self, stream, length: int | None):
        self.stream, self.length, self.count, self.ended = stream, length, 0, False

    def read(self, size=-1) -> bytes:
        return self._counted(self._call(self.stream.read, size), size)

    def readline(self, size=-1) -> bytes:
        return self._counted(self._call(self.stream.readline, size), size)

    def _call(self, read, size) -> bytes:
        try:
            return read(size)
        except TimeoutError as error:
            raise BodyStalled() from error

    def _counted(self, data: bytes, size) -> bytes:
        self.count += len(data)
        if not data and size != 0:
            self.ended = True
        return data

    @property
    def complete(self) -> bool:
        return self.ended or (self.length is not None and self.count >= self.length)


def bound_request_bodies(wsgi_app, timeout: float):
    """Wrap a WSGI app: under gunicorn, body reads time out after `timeout` s and unread bodies close."""

    def app(environ, start_response):
        sock = environ.get("gunicorn.socket")
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is None or not (chunked or (length and length != "0")):
            return wsgi_app(environ, start_response)
        raw = environ["wsgi.input"]
        body = environ["wsgi.input"] = TimedBody(raw, None if chunked else int(length))
        sock.settimeout(timeout)

        closes = []

        def start(status, headers, exc_info=None):
            close = getattr(raw, "close_connection", None)
            if not body.complete and close is not None:
                close()
                closes.append(True)
            return start_response(status, headers, exc_info)

        response = wsgi_app(environ, start)
        return ClosingIterator(response, [lambda: linger(sock)]) if closes else response

    return app


def linger(sock: socket.socket) -> None:
    """Half-close, read what the client still sends for a moment, then stop reading.

    gunicorn does the same when it closes, but on its main loop and for up to 2 s: a client that
    neither sends nor closes would stall every other connection of the process. Done here, in the
    request's thread and ended by a short silence, gunicorn's close then finds the reading side shut
    and returns at once.
    """
    with contextlib.suppress(OSError):
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER_SECONDS, 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                sock.settimeout(min(left, LINGER_IDLE))
                if not (data := sock.recv(65536)):
                    break
                drained += len(data)
        finally:
            sock.shutdown(socket.SHUT_RD)
