"""Ports on this machine: one meaning of "free" and "in use" for every devstack server."""

from __future__ import annotations

import errno
import socket

#: Host names that mean "every address"; a client connects to 127.0.0.1 instead.
WILDCARD_HOSTS = frozenset({"*", "0.0.0.0", "::", ""})  # noqa: S104 - names, not binds


def _bind_host(host: str) -> str:
    return "0.0.0.0" if host in WILDCARD_HOSTS else host  # noqa: S104


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (racy by nature, but good enough)."""
    family, _, _, _, address = socket.getaddrinfo(
        _bind_host(host), 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind(address)
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True if a server could not listen on ``host:port`` now.

    Tried with a bind as the servers do it (``SO_REUSEADDR``), so a connection left in
    TIME_WAIT does not count, and a wildcard host is checked on every address.
    """
    try:
        infos = socket.getaddrinfo(
            _bind_host(host), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        return False  # the server will report the bad host itself
    for family, _, _, _, address in infos:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False
