"""The deployed host serves the names page: behaviour over HTTP first, then state."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.helpers import csrf_token, page_query_plans

pytestmark = pytest.mark.web

SOCKET = "/run/names/uwsgi.sock"
ROOT = "/srv/names"


def test_page_is_served_through_nginx(http):
    response = http.request("/")
    assert response["status"] == 200
    assert response["server"].startswith("nginx")
    assert "<h1>Hello World!</h1>" in response["content"]
    assert "Please enter a name:" in response["content"]


def test_name_posted_with_the_form_token_is_listed(http):
    name = f"Testinfra {uuid.uuid4().hex[:8]}"
    token = csrf_token(http.request("/")["content"])
    posted = http.request("/", method="POST", form={"csrf_token": token, "name": name})
    assert posted["status"] == 303
    assert posted["location"] in ("/", "https://127.0.0.1/")
    assert f'<bdi class="name">{name}</bdi>' in http.request("/")["content"]


def test_post_without_the_form_token_is_refused(http):
    name = f"Forged {uuid.uuid4().hex[:8]}"
    assert http.request("/", method="POST", form={"name": name})["status"] == 400
    assert name not in http.request("/")["content"]


def test_health_reports_the_deployed_version_and_settings(host, http, deployed_version):
    response = http.request("/healthz")
    assert response["status"] == 200
    assert json.loads(response["content"]) == {
        "status": "ok",
        "version": deployed_version,
        "database": "ok",
        "config": host.file("/etc/names/names.toml").sha256sum[:16],
    }


def test_static_files_are_served_by_nginx(http):
    response = http.request("/static/style.css")
    assert response["status"] == 200
    assert response["content_type"].startswith("text/css")
    assert "expires" in response


@pytest.mark.parametrize(
    ("unit", "kind"),
    [("nginx", "service"), ("names-uwsgi", "socket"), ("names-uwsgi", "service")],
)
def test_units_are_running_and_enabled(host, unit, kind):
    service = host.service(f"{unit}.{kind}")
    assert service.is_running
    assert service.is_enabled


def test_nginx_configuration_is_valid(host):
    assert host.run("nginx -t").rc == 0


def test_default_site_is_removed(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert host.file("/etc/nginx/sites-enabled/names.conf").linked_to == (
        "/etc/nginx/sites-available/names.conf"
    )


def test_socket_is_reachable_only_by_the_web_server(host):
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert socket.user == "root"
    assert socket.group == "www-data"
    assert socket.mode == 0o660


def test_app_processes_do_not_run_as_root(host):
    main = host.check_output("systemctl show -p MainPID --value names-uwsgi.service")
    users = host.check_output(f"ps -o user= -p {main} --ppid {main}").split()
    assert len(users) == 1 + 2  # the master and its workers (uwsgi_processes)
    assert set(users) == {"names"}


def test_each_worker_serves_with_two_threads(host):
    """uwsgi_threads: each worker process runs 2 threads, the master one."""
    main = host.check_output("systemctl show -p MainPID --value names-uwsgi.service")
    threads = host.check_output(f"ps -o nlwp= --ppid {main}").split()
    assert threads == ["2", "2"]
    assert host.check_output(f"ps -o nlwp= -p {main}").strip() == "1"


# A form post whose body arrives in three parts, the second after the app server's other
# requests (enough for one to end on the post's worker's other thread), the last after
# more than a second (the master's harakiri check); prints the answer's status line.
SLOW_POST = """
import socket, time
def connect():
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(15)
    client.connect("/run/names-uwsgi/http.sock")
    return client
body = b"name=" + b"x" * 200
post = connect()
post.sendall(b"POST / HTTP/1.1\\r\\nHost: localhost\\r\\n"
             b"Content-Type: application/x-www-form-urlencoded\\r\\n"
             b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body[:50])
time.sleep(0.3)
for _ in range(50):
    other = connect()
    other.sendall(b"GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
    while other.recv(65536):
        pass
    other.close()
post.sendall(body[50:100])
time.sleep(2.5)
try:
    post.sendall(body[100:])
    print(post.recv(65536).split(b"\\r\\n", 1)[0].decode() or "closed without an answer")
except OSError as error:
    print(error)
"""


def test_a_post_still_arriving_survives_a_request_ending_beside_it(host):
    """A form post whose body is still arriving while its worker's other thread ends a
    request gets the app's answer (here 400: it has no form token). With uWSGI's
    post-buffering, the master killed that worker a second later (harakiri at once)."""
    since = host.check_output("date +%s")
    python = "/srv/names/current/venv/bin/python3"
    answer = host.check_output(f"{python} - <<'EOF'\n{SLOW_POST}\nEOF")
    journal = host.check_output(f"journalctl -u names-uwsgi --since @{since} --no-pager")
    assert "HARAKIRI" not in journal, journal
    assert answer == "HTTP/1.1 400 BAD REQUEST"


def test_app_user_cannot_log_in(host):
    user = host.user("names")
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == "names"


def test_current_points_at_the_deployed_release(host, deployed_version):
    current = host.file(f"{ROOT}/current")
    assert current.is_symlink
    assert current.linked_to == f"{ROOT}/releases/{deployed_version}"


def test_release_code_belongs_to_root(host, deployed_version):
    release = host.file(f"{ROOT}/releases/{deployed_version}")
    assert (release.user, release.group, release.mode) == ("root", "root", 0o755)
    app_dir = host.check_output(
        f"find {ROOT}/releases/{deployed_version}/venv -path '*/site-packages/app' -type d"
    )
    assert host.file(app_dir).user == "root"
    assert host.run(f"sudo -u names test -w {app_dir}").rc != 0


def test_database_lives_outside_the_releases(host):
    database = host.file("/var/lib/names/db/names.sqlite3")
    assert database.is_file
    assert database.user == "names"
    assert not host.check_output(f"readlink -f {database.path}").startswith(ROOT)


@pytest.mark.parametrize(
    ("path", "group", "mode"),
    [
        ("/var/lib/names/secret_key", "root", 0o600),
        ("/etc/names/names.toml", "names", 0o640),
        ("/etc/names/staged/names.toml", "names", 0o640),
    ],
)
def test_secret_bearing_files_are_tight(host, path, group, mode):
    secret = host.file(path)
    assert (secret.user, secret.group, secret.mode) == ("root", group, mode)


def test_the_live_files_are_the_staged_ones(host):
    for name in ("names.toml", "uwsgi.ini"):
        assert host.file(f"/etc/names/{name}").sha256sum == (
            host.file(f"/etc/names/staged/{name}").sha256sum
        )


def test_secret_key_is_generated_and_strong(host):
    key = host.file("/var/lib/names/secret_key").content_string.strip()
    assert len(key) == 64
    assert set(key) <= set("0123456789abcdef")


def test_reload_replaces_the_workers_without_a_restart(host, http):
    """`systemctl reload` is a chain reload: same master, no restart, every worker new."""

    def state():
        main = host.check_output("systemctl show -p MainPID --value names-uwsgi.service")
        restarts = host.check_output("systemctl show -p NRestarts --value names-uwsgi.service")
        workers = set(host.check_output(f"ps -o pid= --ppid {main}").split())
        return main, restarts, workers

    main, restarts, workers = state()
    assert len(workers) == 2  # uwsgi_processes
    assert host.run("systemctl reload names-uwsgi.service").rc == 0
    for _ in range(60):  # bounded: a worker takes about a second to load the app
        now = state()
        if not now[2] & workers and len(now[2]) == len(workers):
            break
        host.run("sleep 1")
    assert now[:2] == (main, restarts)
    assert not now[2] & workers, "some workers were not replaced"
    assert len(now[2]) == len(workers)
    assert http.request("/healthz")["status"] == 200


def test_app_server_is_sandboxed(host):
    """systemd-analyze rates the uWSGI unit's exposure at 2.0 or below (lower is safer)."""
    out = host.check_output("systemd-analyze security --no-pager names-uwsgi.service")
    overall = re.search(r"Overall exposure level for names-uwsgi\.service: ([0-9.]+)", out)
    assert overall, out[-500:]
    assert float(overall.group(1)) <= 2.0, out


def test_an_app_that_is_down_gets_the_sites_own_502_page_at_once(host, http):
    host.run_expect([0], "systemctl stop names-uwsgi.socket names-uwsgi.service")
    try:
        response = http.request("/")
    finally:
        host.run_expect([0], "systemctl start names-uwsgi.socket names-uwsgi.service")
    assert response["status"] == 502
    assert "<h1>502 The names page is unavailable</h1>" in response["content"]
    assert '<link rel="stylesheet" href="/static/style.css">' in response["content"]
    assert response["content_type"] == "text/html; charset=utf-8"
    assert response["x_frame_options"] == "DENY"
    assert response["elapsed"] < 5
    assert http.request("/")["status"] == 200


def test_the_error_pages_are_not_reachable_directly(http):
    assert http.request("/_errors/502.html")["status"] == 404


def test_logrotate_rotates_the_names_logs_as_configured(host):
    """The host's own logrotate, on its own configuration pointed at a scratch directory
    (the real logs stay as they are): each log is moved aside and made again, tight."""
    scratch = f"/tmp/names-logrotate-{uuid.uuid4().hex[:6]}"
    host.check_output(
        f"mkdir {scratch} && sed 's#/var/log/names/#{scratch}/#g' /etc/logrotate.d/names "
        f"> {scratch}.conf && echo '{{}}' > {scratch}/deploys.log "
        f"&& echo '{{}}' > {scratch}/backups.log"
    )
    try:
        host.run_expect([0], f"logrotate --force --state {scratch}.state {scratch}.conf")
        for log in ("deploys.log", "backups.log"):
            assert host.file(f"{scratch}/{log}.1").content_string == "{}\n"
            fresh = host.file(f"{scratch}/{log}")
            assert (fresh.user, fresh.group, fresh.mode, fresh.size) == ("root", "adm", 0o640, 0)
    finally:
        host.run(f"rm -rf {scratch} {scratch}.conf {scratch}.state")
    assert host.service("logrotate.timer").is_enabled


def test_the_journal_is_capped(host):
    """The last SystemMaxUse= that journald reads (its file, then the drop-ins in order)."""
    config = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assignments = re.findall(r"^SystemMaxUse=(.*)$", config, re.MULTILINE)
    assert assignments[-1:] == ["200M"], config


def test_the_database_is_backed_up_on_a_schedule(host):
    timer = host.service("names-backup.timer")
    assert timer.is_enabled
    assert timer.is_running
    schedule = host.check_output("systemctl show -p TimersCalendar --value names-backup.timer")
    assert "03:17:00" in schedule


def test_the_backup_service_takes_a_checked_backup_it_logs(host):
    host.run_expect([0], "systemctl start names-backup.service")
    entry = json.loads(host.file("/var/log/names/backups.log").content_string.splitlines()[-1])
    assert entry["result"] == "ok", entry
    assert entry["names"] >= 0
    backup = host.file(entry["backup"])
    assert entry["backup"].startswith("/var/lib/names/backups/routine/names-")
    assert (backup.user, backup.group, backup.mode) == ("names", "names", 0o600)
    # One file: nothing beside it that a copy of it would miss.
    assert not host.file(entry["backup"] + "-wal").exists
    assert host.file("/var/log/names/backups.log").mode == 0o640


def test_the_backup_service_is_sandboxed(host):
    out = host.check_output("systemd-analyze security --no-pager names-backup.service")
    overall = re.search(r"Overall exposure level for names-backup\.service: ([0-9.]+)", out)
    assert overall, out[-500:]
    assert float(overall.group(1)) <= 1.0, out


SECURITY_HEADERS = {
    "content_security_policy": "default-src 'none'",
    "x_content_type_options": "nosniff",
    "x_frame_options": "DENY",
    "referrer_policy": "same-origin",
    "permissions_policy": "camera=()",
    "strict_transport_security": "max-age=63072000",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        pytest.param("GET", "/", None, 200, id="page"),
        pytest.param("GET", "/static/style.css", None, 200, id="static"),
        pytest.param("GET", "/no/such/page", None, 404, id="not-found"),
        pytest.param("DELETE", "/", None, 405, id="wrong-method"),
        pytest.param("POST", "/", "x" * 70_000, 413, id="too-large"),
    ],
)
def test_every_response_carries_the_security_headers(http, method, path, body, status):
    extra = {"body": body, "body_format": "raw"} if body else {}
    response = http.request(path, method=method, **extra)
    assert response["status"] == status
    for header, value in SECURITY_HEADERS.items():
        assert value in response.get(header, ""), f"{header} missing on {method} {path}"
    assert response["server"] == "nginx"  # no version (server_tokens off)


def test_form_posts_beyond_the_rate_limit_get_429(host):
    """A client flooding the form is limited (429) while the page stays readable."""
    (counts,) = post_floods(host, [(None, 60)])
    assert counts.get("429", 0) >= 20, counts
    assert set(counts) <= {"400", "429"}, counts  # 400: no CSRF token, refused by the app
    assert host.run("curl -k -s -o /dev/null -w '%{http_code}' https://127.0.0.1/").stdout == "200"


def test_pages_are_not_compressed_static_files_are(site):
    """The page carries the CSRF token beside text the client chose: gzip would leak the
    token by response size (BREACH). Static files hold no secret and are compressed."""
    page = site.request("GET", "/", headers={"Accept-Encoding": "gzip"})
    assert page.status == 200
    assert page.headers.get("Content-Encoding") is None
    assert b"csrf_token" in page.body
    css = site.request("GET", "/static/style.css", headers={"Accept-Encoding": "gzip"})
    assert css.status == 200
    assert css.headers.get("Content-Encoding") == "gzip"


def test_large_request_headers_that_nginx_accepts_reach_the_app(site):
    """Three 7 kB header lines (each under nginx's 8 kB line limit, 21 kB in all)."""
    padding = {f"X-Padding-{i}": "p" * 7000 for i in range(3)}
    response = site.request("GET", "/healthz", headers=padding)
    assert response.status == 200, response.text[:300]
    assert json.loads(response.body)["status"] == "ok"


def post_floods(host, floods: list[tuple[str | None, int]]) -> list[dict[str, int]]:
    """Status counts of each flood of form posts, ``(client, posts)``: the posts of a flood
    sent at once (ten at a time), the floods one after the other in one command on the
    host. ``client``: the address a load balancer trusted on this host (127.0.0.1,
    molecule.yml) reports in X-Forwarded-For; None: the host's own. At once: a slow or
    busy host sending them one by one, or pausing between floods, would earn the
    allowance back (2 posts/s) meanwhile."""
    commands = []
    for client, posts in floods:
        forwarded = f"-H 'X-Forwarded-For: {client}' " if client else ""
        commands.append(
            f"seq {posts} | xargs -P 10 -I{{}} curl -k -s -o /dev/null -w '%{{http_code}}\\n' "
            f"{forwarded}-X POST https://127.0.0.1/ | sort | uniq -c"
        )
    out = host.check_output("; echo flood; ".join(commands))
    return [
        {code: int(count) for count, code in (line.split() for line in part.strip().splitlines())}
        for part in out.split("flood")
    ]


def test_form_posts_are_limited_per_ipv6_64_not_per_address(host):
    """One subscriber's /64 shares one allowance (a host there can use any address);
    another /64 has its own."""
    first, same_network, other_network = post_floods(
        host, [("2001:db8:1:2::a", 40), ("2001:db8:1:2:0:0:0:b", 10), ("2001:db8:1:3::a", 10)]
    )
    # The burst (20) and a few more earned meanwhile pass; the rest is refused.
    assert first.get("429", 0) >= 10, first
    assert same_network.get("429", 0) >= 6, same_network
    assert other_network.get("429", 0) == 0, other_network


def test_every_page_query_is_a_seek_in_the_sqlite_index(host):
    """SQLite answers each page from the (created_at, id) index: a seek to the position
    (or the index's end) and a limited scan, never a sort of the table."""
    found = page_query_plans(host)
    assert found["dialect"] == "sqlite"
    plans = found["plans"]
    assert plans["first"] == ["SCAN names USING INDEX ix_names_created_at_id"]
    assert plans["older"] == ["SEARCH names USING INDEX ix_names_created_at_id (created_at<?)"]
    assert plans["newer"] == ["SEARCH names USING INDEX ix_names_created_at_id (created_at>?)"]
