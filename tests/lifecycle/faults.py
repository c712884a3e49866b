"""Faults injected under load, and what the load saw of each: failed requests, how long
the site took to recover, and POSTs lost (a name that got its 303 but is not listed).

A fault is injected with the load running, held for a while when it has an end (the
database stopped, a read-only or full disk) and healed; the load goes on until the site
has served RECOVERED_AFTER seconds with no failure, or RECOVERY_BOUND seconds have
passed. Figures go to build/faults-report.json, the table to build/faults-report.md."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tests.helpers import ROOT, csrf_token
from tests.lifecycle.loadgen import Load, Session, Target, listed_names

# The bounds the faults are tested against: the site serves again within
# RECOVERY_BOUND seconds of a fault's end, and answers every request meanwhile within
# ANSWER_BOUND seconds (the load gives up at its timeout, 10 s: a hang is a failure).
RECOVERY_BOUND = 30.0
ANSWER_BOUND = 10.0
# A site that has served this long with no failure has recovered.
RECOVERED_AFTER = 3.0
REPORT = ROOT / "build" / "faults-report.json"
TABLE = ROOT / "build" / "faults-report.md"
FAULTS: dict = {}


@dataclass
class FaultRun:
    """What the load saw of one fault."""

    fault: str
    topology: str
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    recovery_seconds: float = 0.0
    held_seconds: float = 0.0
    lost_posts: int = 0
    slowest_answer_ms: float = 0.0
    probe: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        """What a failed assertion shows: the answers first, the probe without its page
        (a CI log keeps the end of a long message)."""
        probe = {key: value for key, value in self.probe.items() if key != "page"}
        return (
            f"FaultRun({self.topology}: {self.fault}: failures={self.failures} of "
            f"{self.requests} requests, recovery_seconds={self.recovery_seconds}, "
            f"slowest_answer_ms={self.slowest_answer_ms}, lost_posts={self.lost_posts}, "
            f"held_seconds={self.held_seconds}, probe={probe})"
        )


# Answers the site's own pages give: nginx's 502 (the app away), the app's 503.
SITE_ANSWERS = {"GET 502", "POST 502", "GET 503", "POST 503"}
# With nginx down nothing answers: a connection refused, or (through Docker's port
# proxy) accepted and closed at once. Never a timeout.
CONNECTION_LOST = ("Refused", "Reset", "EOF occurred")


def answered_by_the_site(run: FaultRun, refused_allowed: bool = False) -> None:
    """The load's failures were the site's pages (or, with nginx down, refused
    connections), none a timeout, none slower than the bound; the site recovered in
    time, and lost no stored name."""
    unexpected = {
        kind: count
        for kind, count in run.failures.items()
        if kind not in SITE_ANSWERS
        and not (refused_allowed and any(lost in kind for lost in CONNECTION_LOST))
    }
    assert unexpected == {}, f"answers not the site's own: {unexpected}; {run!r}"
    assert run.slowest_answer_ms <= ANSWER_BOUND * 1000, f"an answer too slow; {run!r}"
    assert run.recovery_seconds <= RECOVERY_BOUND, f"recovered too late; {run!r}"
    assert run.lost_posts == 0, f"stored names lost; {run!r}"


def post_probe(url: str, cafile: str) -> dict:
    """The page and a form post during the fault: the last answer's status, what the
    page says, its headers."""
    session = Session(Target.parse(url, cafile), timeout=ANSWER_BOUND)
    started = time.monotonic()
    status, page = session.request("GET", "/")
    name = f"Probe {uuid.uuid4().hex[:6]}"
    if status == 200:
        body = urllib.parse.urlencode({"csrf_token": csrf_token(page), "name": name})
        status, page = session.request("POST", "/", body)
    headers = session.headers
    session.close()
    return {
        "status": status,
        "seconds": round(time.monotonic() - started, 2),
        "stylesheet": 'rel="stylesheet"' in page,
        "says": page.split('role="alert">', 1)[-1].split("<", 1)[0] if "alert" in page else "",
        "title": page.split("<h1>", 1)[-1].split("</h1>", 1)[0] if "<h1>" in page else "",
        "frame_options": headers.get("X-Frame-Options"),
        "retry_after": headers.get("Retry-After"),
        "name": name,
        "page": page,
    }


def recovery(timeline: list[tuple[float, str | None]], healed: float) -> float:
    """Seconds from the fault (its end when it was held) to the last failure after it: how
    long the site took to serve again (0 when nothing failed after)."""
    failed_after = [moment for moment, failure in timeline if failure and moment >= healed]
    return round(max(failed_after) - healed, 2) if failed_after else 0.0


def recovered(timeline: list[tuple[float, str | None]], since: float, now: float) -> bool:
    """Whether everything answered in the last RECOVERED_AFTER seconds succeeded, and
    something was answered then."""
    start = max(since, now - RECOVERED_AFTER)
    recent = [failure for moment, failure in timeline if moment >= start]
    return bool(recent) and not any(recent) and now - since >= RECOVERED_AFTER


def under_load(
    fault: str,
    topology: str,
    url: str,
    cafile: str,
    inject: Callable[[], None],
    heal: Callable[[], None] | None = None,
    hold: float = 0.0,
    probe: Callable[[], dict] | None = None,
    rate: float = 60.0,
) -> FaultRun:
    """Inject FAULT with the load running (then ``probe`` the site, hold it HOLD seconds
    and ``heal`` it), wait for the site to recover, and check every stored name is listed."""
    run = FaultRun(fault, topology)
    tag = "fault-" + re.sub(r"[^a-z0-9]+", "-", fault.lower()).strip("-")
    with Load(url, cafile=cafile, tag=tag, rate=rate, min_requests=0,
              max_seconds=HOLD_LIMIT + hold) as load:  # fmt: skip
        load.wait_for(120)
        injected = time.time()
        inject()
        if probe:
            # Once the fault has taken hold.
            time.sleep(1)
            run.probe = probe()
        # A kill or a restart is over when it is made; a held fault when it is healed.
        healed = injected
        if heal:
            time.sleep(max(0.0, hold - (time.time() - injected)))
            heal()
            healed = time.time()
        while time.time() - healed < RECOVERY_BOUND + RECOVERED_AFTER:
            if recovered(load.report.timeline, healed, time.time()):
                break
            time.sleep(0.2)
    report = load.report
    run.held_seconds = round(healed - injected, 2)
    run.requests = report.requests
    run.failed = len(report.failures)
    run.failures = dict(Counter(report.failures))
    run.recovery_seconds = recovery(report.timeline, healed)
    run.slowest_answer_ms = round(max(report.latencies, default=0.0) * 1000, 1)
    stored = set(report.stored_names)
    run.lost_posts = len(stored - listed_names(url, cafile, until=stored)) if stored else 0
    record(run)
    return run


# Longest a load runs, beyond its fault's hold: warm-up, recovery and its margin.
HOLD_LIMIT = 120.0


def record(run: FaultRun) -> None:
    """Keep the run's figures in build/faults-report.json and the table beside it."""
    FAULTS[f"{run.topology}: {run.fault}"] = asdict(run)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    merged = {**previous, **FAULTS}
    REPORT.write_text(json.dumps(merged, indent=2) + "\n")
    rows = [
        "| topology | fault | requests | failed (by answer) "
        "| last failure after the fault (its end if held) | lost POSTs |",
        "|---|---|---|---|---|---|",
    ]
    for figures in merged.values():
        # "GET 502", "POST ConnectionResetError" (the exception's message left out)
        short = Counter()
        for kind, count in figures["failures"].items():
            short[kind.split(":", 1)[0]] += count
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(short.items()))
        rows.append(
            f"| {figures['topology']} | {figures['fault']} | {figures['requests']} | "
            f"{figures['failed']}{f' ({kinds})' if kinds else ''} | "
            f"{figures['recovery_seconds']} s | {figures['lost_posts']} |"
        )
    TABLE.write_text("\n".join(rows) + "\n")
