"""The nginx site's client key for the form-post rate limit: an IPv4 address, or the
/64 of an IPv6 address, whichever way nginx writes that address."""

from __future__ import annotations

import ipaddress
import random
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SITE = (
    Path(__file__).resolve().parents[2]
    / "roles/nginx/templates/etc/nginx/sites-available/names.conf.j2"
)
MAP_BLOCK = re.compile(r"map \$remote_addr \$names_client_network \{\n(.*?)\n\}", re.DOTALL)
MAP_ENTRY = re.compile(r'^\s*"~(?P<regex>[^"]+)"\s+"(?P<value>[^"]+)";$')


def site_map() -> list[tuple[re.Pattern, str]]:
    """The regex entries of the site's map, in order (nginx tries them in order)."""
    block = MAP_BLOCK.search(SITE.read_text()).group(1)
    entries = [MAP_ENTRY.match(line) for line in block.splitlines()]
    return [(re.compile(m["regex"]), m["value"]) for m in entries if m]


def client_key(address: str) -> str | None:
    """The value nginx's map gives $names_client_network for ``address`` (None: default)."""
    for regex, value in site_map():
        match = regex.search(address)
        if match:
            return match.expand(re.sub(r"\$(\d)", r"\\\1", value))
    return None


def nginx_inet6_ntop(packed: bytes) -> str:
    """How nginx writes an IPv6 address (ngx_inet6_ntop, src/core/ngx_inet.c): the first
    longest run of two or more zero groups as "::", IPv4-mapped and -compatible
    addresses with a dotted tail, groups in lowercase hex without leading zeros."""
    groups = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    zero, best, run, start = -1, 1, 0, -1
    for index, group in enumerate(groups):
        if group:
            if best < run:
                zero, best = start, run
            run = 0
            continue
        if run == 0:
            start = index
        run += 1
    if best < run:
        zero, best = start, run
    count, text = 8, ""
    if zero == 0:
        if (best == 5 and groups[5] == 0xFFFF) or best == 6 or (best == 7 and groups[7] != 1):
            count = 6
        text = ":"
    index = 0
    while index < count:
        if index == zero:
            text += ":"
            index += best
            continue
        text += f"{groups[index]:x}" + (":" if index < 7 else "")
        index += 1
    if count == 6:
        text += ".".join(str(b) for b in packed[12:])
    return text


def network_64(packed: bytes) -> str:
    first = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 8, 2)]
    return ":".join(f"{group:x}" for group in first)


def sample_addresses() -> list[bytes]:
    """Every placement of zero runs in the groups, plus random addresses."""
    rng = random.Random(64)  # noqa: S311 - a fixed sample of addresses, not a secret
    addresses = []
    for pattern in range(256):  # each group zero or not
        groups = [0 if pattern >> i & 1 else rng.randrange(1, 0x10000) for i in range(8)]
        addresses.append(b"".join(g.to_bytes(2, "big") for g in groups))
    addresses += [rng.randbytes(16) for _ in range(500)]
    addresses += [
        ipaddress.IPv6Address(text).packed
        for text in ("::", "::1", "::ffff:192.0.2.1", "::192.0.2.1", "2001:db8::", "fe80::1")
    ]
    return addresses


def test_the_port_writes_addresses_as_documented_by_nginx():
    assert nginx_inet6_ntop(ipaddress.IPv6Address("2001:db8:0:0:1:0:0:1").packed) == (
        "2001:db8::1:0:0:1"
    )
    assert nginx_inet6_ntop(ipaddress.IPv6Address("2001:db8:0:1:2:3:4:5").packed) == (
        "2001:db8:0:1:2:3:4:5"
    )
    assert nginx_inet6_ntop(ipaddress.IPv6Address("::ffff:192.0.2.1").packed) == (
        "::ffff:192.0.2.1"
    )


def test_every_ipv6_address_is_keyed_by_its_64():
    wrong = {}
    for packed in sample_addresses():
        text = nginx_inet6_ntop(packed)
        if client_key(text) != network_64(packed):
            wrong[text] = (client_key(text), network_64(packed))
    assert wrong == {}


def test_addresses_of_one_64_share_a_key_and_other_64s_do_not():
    same = ["2001:db8:1:2::a", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:3::"]
    assert {client_key(a) for a in same} == {"2001:db8:1:2"}
    assert client_key("2001:db8:1:3::a") == "2001:db8:1:3"
    assert client_key("2001:db8::1") == client_key("2001:db8:0:0:1:2:3:4") == "2001:db8:0:0"


@pytest.mark.parametrize("address", ["192.0.2.1", "127.0.0.1", "10.11.12.13"])
def test_ipv4_addresses_keep_their_own_key(address):
    assert client_key(address) is None  # the map's default: $binary_remote_addr
