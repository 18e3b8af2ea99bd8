"""Calls to webhook receivers, behind the SSRF guard: a URL is resolved once, every address its name
has must be public, and the connection goes to one of those very addresses, with the name sent as
Host (and, over TLS, as SNI and the name the certificate must carry). A second DNS lookup, which
could answer differently, never happens. WEBHOOK_ALLOW_PRIVATE=1 lets non-public addresses through.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flask import current_app

MAX_URL_LENGTH = 2000


class UnsafeURL(ValueError):
    """A URL Cutroom will not call; the message says why, to the person who gave it."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: the addresses checked for the URL's host, and what to send them."""

    https: bool
    host: str  # the name in the URL (IDNA), for Host, SNI and the certificate
    port: int
    path: str  # path and query
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == (443 if self.https else 80) else f"{name}:{self.port}"


def parse(url: str) -> tuple[bool, str, int, str]:
    """(https, host, port, path) of a URL a webhook may have, or UnsafeURL saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeURL("The URL has a space or a control character in it: percent-encode it (%20).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("Leave the user name and password out of the URL: check the signature instead.")
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except (UnicodeError, ValueError):
        raise UnsafeURL("The host name or port in the URL is not valid.") from None
    if not host:
        raise UnsafeURL("The URL has no host name.")
    if port == 0:
        raise UnsafeURL("The port in the URL is not valid.")
    # The request line is ASCII: letters beyond it (/hooks/café) go percent-encoded, as browsers send them.
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe="/?&=%:@!$'()*+,;~[]")
    return parts.scheme == "https", host, port, path


def resolve(url: str) -> Target:
    """The URL parsed and its host resolved, every address checked; UnsafeURL if one is refused."""
    https, host, port, path = parse(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"The host name {host} could not be found.") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in found))  # in the resolver's order, once each
    if not current_app.config["WEBHOOK_ALLOW_PRIVATE"]:
        for address in addresses:
            if kind := non_public(ipaddress.ip_address(address)):
                place = address if address == host else f"{host} ({address})"
                article = "an" if kind[0] in "aeiou" else "a"
                raise UnsafeURL(
                    f"{place} is {article} {kind} address: Cutroom sends webhooks only to public addresses."
                )
    return Target(https, host, port, path, addresses)


def non_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address `ip` is (loopback, private, ...), or None when it is public.

    An IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, 6to4, Teredo) is judged
    by the IPv4 address, which is where a connection to it ends up."""
    if ip.version == 6:
        ip = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else ip)
    for kind, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),  # e.g. the carriers' shared 100.64.0.0/10
    ):
        if test:
            return kind
    return None


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host name for SNI and the certificate check."""

    def __init__(self, address: str, port: int, host: str, timeout: float):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self.server_name = host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def _connect(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the first of the checked addresses that takes one."""
    error = None
    for address in target.addresses:
        if target.https:
            conn = _PinnedHTTPS(address, target.port, target.host, timeout)
        else:
            conn = http.client.HTTPConnection(address, target.port, timeout=timeout)
        try:
            conn.connect()
            return conn
        except OSError as failure:
            conn.close()
            error = failure
    raise error


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body` to the target and return the status code of the answer, which is not followed if
    it redirects. Raises OSError (a timeout too) when no answer comes, or when sending and reading
    the answer's head take more than twice `timeout` in all: a receiver that trickles a byte at a
    time would otherwise beat every per-read timeout."""
    conn = _connect(target, timeout)
    cut = threading.Event()
    watchdog = threading.Timer(2 * timeout, _cut, (conn, cut))
    watchdog.start()
    try:
        conn.request("POST", target.path, body, {**headers, "Host": target.host_header})
        return conn.getresponse().status  # the body is not read: only the status counts
    except (OSError, http.client.HTTPException) as failure:
        if cut.is_set():
            raise TimeoutError(f"no whole answer within {2 * timeout:g} s") from failure
        raise
    finally:
        watchdog.cancel()
        conn.close()


def _cut(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End a connection from another thread: the reading side then fails at once."""
    cut.set()
    if conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
