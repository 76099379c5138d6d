"""Which addresses outside input may make us contact: the SSRF guard of webhooks and fetched URLs."""

import ipaddress
import socket

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def refusal(address: str) -> str | None:
    """Why `address` (an IP address) must not be contacted, or None when it is public unicast.

    Raises `ValueError` when `address` is not an IP address.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address reach that address; judge them by it.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_ADDRESS_SPACE, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((f"{address} is a {reason} address" for refused, reason in checks if refused), None)


def is_local_host(host: str) -> bool:
    """Whether a URL's host names a non-public address, in any spelling a resolver accepts.

    Host names other than localhost are not resolved: callers that only speak https with
    certificate checks leave them to the resolver.
    """
    host = host.rstrip(".").lower().strip("[]")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return refusal(host) is not None
    except ValueError:
        pass
    if not host or any(c not in "0123456789abcdefx." for c in host):
        return False
    try:  # shorthand IPv4: 127.1, 2130706433, 0x7f000001, 0177.0.0.1
        return refusal(socket.inet_ntoa(socket.inet_aton(host))) is not None
    except OSError:
        return False
