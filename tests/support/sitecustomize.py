"""Network guard loaded into test subprocesses via PYTHONPATH: refuses and logs non-loopback connections.

A pipeline run must never touch the network; the integration test asserts the log stays empty.
"""

import ipaddress
import os
import socket
import traceback

_LOG = os.environ.get("NETWORK_GUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
# addresses of a link the test itself made (a veth pair into a network namespace): on this machine, not the network
_ALLOWED = {a for a in os.environ.get("NETWORK_GUARD_ALLOW", "").split(",") if a}


def _is_local(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in _LOCAL_NAMES or host in _ALLOWED:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse(what: str, host) -> None:
    if _LOG:
        stack = "".join(traceback.format_stack(limit=12))
        with open(_LOG, "a") as handle:
            handle.write(f"pid {os.getpid()}: {what} {host!r}\n{stack}\n")
    raise OSError(f"network guard: {what} {host!r} refused (tests run offline)")


if _LOG:
    _getaddrinfo = socket.getaddrinfo
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)

    def _target(address):
        return address[0] if isinstance(address, tuple) else None

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_target(address)):
            _refuse("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_target(address)):
            _refuse("connect", address)
        return _connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
