"""SQLite under several app processes writing at once, as uWSGI's workers do: WAL lets
readers run beside the writer and busy_timeout queues writers instead of failing them."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from tests.conftest import make_app

pytestmark = pytest.mark.unit

WORKERS, POSTS = 4, 40


def worker(tmp_path, index: int, start, results) -> None:
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    client = app.test_client()
    start.wait()
    statuses = [
        client.post("/", data={"name": f"worker {index} name {n}"}).status_code
        for n in range(POSTS)
    ]
    pages = [client.get("/").status_code for _ in range(5)]
    results.put((index, statuses, pages))


def test_several_processes_write_at_once_and_none_fails(tmp_path):
    make_app(tmp_path)  # creates the schema once
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=worker, args=(tmp_path, i, start, results)) for i in range(WORKERS)
    ]
    for process in processes:
        process.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    for index, statuses, pages in outcomes:
        assert set(statuses) == {303}, f"worker {index}: {statuses}"
        assert set(pages) == {200}
    with sqlite3.connect(tmp_path / "names.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM names").fetchone()[0] == WORKERS * POSTS
