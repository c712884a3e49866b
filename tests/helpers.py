"""Helpers shared by the test modules."""

from __future__ import annotations

import re

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# One listed name, as the page renders it (escaped, in its own bidi isolate).
NAME_ITEM = re.compile(r'<bdi class="name">([^<]*)</bdi>')


def csrf_token(html: str) -> str:
    """The CSRF token of the name form on a rendered page."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1)
