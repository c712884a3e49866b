"""Fill the deployed database up to N names (make bench NAMES=N), as the app user with
the release's Python, on an app host: python - N < seed.py. Prints what it did, in JSON.

The names added are older than any name stored before (one a second, ending a day
before the oldest), so the page's newest names stay the ones people entered. Works on
SQLite and PostgreSQL: rows go in through the app's own engine, in large batches.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from app import create_app, db
from app.models import Name

BATCH = 20_000

wanted = int(sys.argv[1])
started = time.monotonic()
app = create_app(commands=False)
with app.app_context():
    count, oldest = db.session.execute(select(func.count(), func.min(Name.created_at))).one()
    missing = max(0, wanted - count)
    start = (oldest or datetime.now(UTC)) - timedelta(days=1, seconds=missing)
    for first in range(0, missing, BATCH):
        rows = [
            {"name": f"seed-{i}", "created_at": start + timedelta(seconds=i)}
            for i in range(first, min(missing, first + BATCH))
        ]
        db.session.execute(insert(Name), rows)
        db.session.commit()
print(
    json.dumps(
        {
            "names_before": count,
            "names_added": missing,
            "names": count + missing,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
)
