"""Filters of the postgresql role."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def hba_network(address: str) -> str:
    """An address or network as pg_hba.conf takes it: one host becomes a /32 or /128."""
    try:
        return str(ipaddress.ip_network(str(address).strip(), strict=True))
    except ValueError as exc:
        raise AnsibleFilterError(
            f"postgresql_hba_entries: {address!r} is not an IP address or network ({exc})"
        ) from exc


class FilterModule:
    def filters(self):
        return {"hba_network": hba_network}
