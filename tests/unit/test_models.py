"""The Name model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import db
from app.models import Name

pytestmark = pytest.mark.unit


def test_name_is_stored_with_a_creation_time(app):
    before = datetime.now(UTC)
    with app.app_context():
        entry = Name(name="Mark")
        db.session.add(entry)
        db.session.commit()
        stored = db.session.get(Name, entry.id)
        assert stored.name == "Mark"
        created = stored.created_at.replace(tzinfo=stored.created_at.tzinfo or UTC)
        assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)
        assert repr(stored) == f"<Name {entry.id} 'Mark'>"
