"""app/web/Caddyfile with Debian's caddy on the host: validates, serves /healthz, proxies /api/* with the
prefix stripped, and holds a request while the API process is replaced (lb_try_duration)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, App, free_port, log_of, require_installed, wait_for

pytestmark = pytest.mark.app
CADDYFILE = REPO / "app" / "web" / "Caddyfile"


@pytest.fixture(autouse=True)
def _caddy_installed() -> None:
    require_installed(shutil.which("caddy") is not None, "caddy", "apt-get install caddy")


def caddy_env(tmp: Path, **env: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_CONFIG_HOME": str(tmp / "config"), **env}


def adapt(tmp: Path, **env: str) -> dict:
    out = subprocess.run(["caddy", "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
                         env=caddy_env(tmp, **env), capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_caddyfile_adapts_from_environment(tmp_path: Path) -> None:
    plain = adapt(tmp_path, ACME_EMAIL="")
    assert plain["admin"]["disabled"] is True
    assert plain["apps"]["http"]["servers"]["srv0"]["listen"] == [":80"]
    text = json.dumps(plain)
    assert '"try_duration": 30000000000' in text and '"try_interval": 250000000' in text
    assert '"dial": "api:8000"' in text and '"strip_path_prefix": "/api"' in text
    prod = json.dumps(adapt(tmp_path, SITE_ADDRESS="example.com", ACME_EMAIL="ops@example.com",
                            API_UPSTREAM="10.1.2.3:9000", LB_TRY_DURATION="5s"))
    assert '"ops@example.com"' in prod and '"example.com"' in prod
    assert '"dial": "10.1.2.3:9000"' in prod and '"try_duration": 5000000000' in prod


def test_caddy_proxies_api_and_holds_requests_while_it_is_replaced(app: App, tmp_path: Path) -> None:
    api_port = free_port()
    api, _ = app.start_api(port=api_port)
    web_port = free_port()
    log = open(tmp_path / "caddy.log", "wb")  # noqa: SIM115
    caddy = subprocess.Popen(
        ["caddy", "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env=caddy_env(tmp_path, SITE_ADDRESS=f"http://127.0.0.1:{web_port}", API_UPSTREAM=f"127.0.0.1:{api_port}",
                      LB_TRY_DURATION="15s", LB_TRY_INTERVAL="100ms"),
        stdout=log, stderr=subprocess.STDOUT,
    )
    web = f"http://127.0.0.1:{web_port}"
    try:
        wait_for(lambda: httpx.get(f"{web}/healthz").status_code == 200, 15, "caddy /healthz")
        assert httpx.get(f"{web}/api/health").json()["status"] == "ok"
        assert httpx.get(f"{web}/api/posts").status_code == 200

        api.send_signal(signal.SIGTERM)
        assert api.wait(15) == 0, log_of(api)

        def replace() -> None:
            time.sleep(1.5)
            app.start_api(port=api_port)

        replacer = threading.Thread(target=replace)
        replacer.start()
        started = time.monotonic()
        resp = httpx.get(f"{web}/api/health", timeout=20)  # the API is down right now
        elapsed = time.monotonic() - started
        replacer.join()
        assert resp.status_code == 200, resp.text
        assert elapsed >= 1.0, "the request should have been held until the new API was up"
    finally:
        caddy.send_signal(signal.SIGTERM)
        caddy.wait(15)
