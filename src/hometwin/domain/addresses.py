"""What counts as a caregiver's e-mail address: plain `local@domain`, and a sender that may carry a
display name. Pure, so the settings, the alert policy and the mail adapter all check addresses the
same way without the settings importing an adapter."""

from __future__ import annotations

import re
from email.headerregistry import Address

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})*$")
_NAMED = re.compile(r"^\s*(?P<name>[^<>\"\\]*?)\s*<(?P<addr>[^<>\s]+)>\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def check_address(text: str) -> str:
    """A plain `local@domain` address, or ValueError naming it. No display names, no lists."""
    value = text.strip() if isinstance(text, str) else ""
    if not value or len(value) > 254 or not _ADDRESS.match(value):
        raise ValueError(f"not a plain e-mail address (local@domain): {text!r}")
    return value


def parse_sender(text: str) -> Address:
    """`addr@domain` or `Display Name <addr@domain>` for the From header."""
    if _CONTROL.search(text):
        raise ValueError(f"sender contains a control character: {text!r}")
    named = _NAMED.match(text)
    name, addr = (named["name"], named["addr"]) if named else ("", text)
    local, domain = check_address(addr).split("@")
    return Address(display_name=name.strip(), username=local, domain=domain)
