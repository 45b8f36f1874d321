"""The dashboard at /admin/ in a real browser: Debian's Chromium, headless, driven by Playwright
(never Playwright's own browser download). Sign in with the admin key, see the overview charts draw the
traffic sent, create a key in the UI and use it with the OpenAI SDK, revoke it and get 401, reload the
config, and no console error, failed request or request to another origin on any page. Screenshots of
each page (laptop and phone width) go to tests/artefacts/; LLM_LINK_SCREENSHOT_DOCS=1 also refreshes the
README's docs/dashboard-overview.png."""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.store import open_store
from tests.harness import Gateway

ADMIN = "admin-key-dashboard-0123456789"
ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "tests" / "artefacts"
CHROMIUM = os.environ.get("LLM_LINK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def _need_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium at {CHROMIUM} (.ci/setup.d/50-dashboard.sh installs Debian's package)")
        pytest.skip("no system Chromium")
    return sync_playwright


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    db = tempfile.mkdtemp(prefix="llm-link-dash-")
    config = {
        "providers": {
            "mock": {"type": "mock"},
            "far": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-upstream-secret"},
        },
        "models": {
            "gpt-demo": {"provider": "mock", "model": "demo", "price": {"input": 3.0, "output": 15.0}},
            "claude-demo": {"provider": "mock", "model": "demo-2", "price": {"input": 1.0, "output": 5.0}},
            "broken": "far/nothing",
        },
        "auth": {"keys": [{"name": "yaml-team", "key": "sk-yaml-team-0123", "budget": {"usd": 2.5, "period": "day"}}]},
        "state": {"database_url": f"sqlite:///{db}/llm-link.db"},
        "admin": {"key": ADMIN},
    }
    with Gateway(config) as g:
        # on its own thread: Playwright's sync API may already run an event loop on this one
        with ThreadPoolExecutor(1) as pool:
            g.seeded = pool.submit(asyncio.run, seed(config["state"]["database_url"])).result()  # type: ignore[attr-defined]
        yield g


async def seed(url: str) -> int:
    """History in the usage table, as earlier traffic would have left it: a day of rows, busier in the last
    hour, so the charts have a shape (the requests the tests send land in the current minute). Returns how
    many rows fall in the overview's window (the last 50 minutes: slack for a slow run)."""
    rng = random.Random(20)
    now = time.time()
    rows: list[Any] = []
    in_window = 0
    models = [
        ("gpt-demo", "mock", 3.0, 15.0, 0.55),
        ("claude-demo", "mock", 1.0, 5.0, 0.35),
        ("broken", "far", 0, 0, 0.1),
    ]
    keys = ["web-app", "web-app", "batch-jobs", "yaml-team"]
    for minute in range(24 * 60, 2, -1):
        recent = minute <= 50
        # a smooth daily-ish wave with some noise, a busy spell 20-35 minutes ago
        wave = 18 + 8 * math.sin(minute / 9) + (10 if 20 < minute < 35 else 0)
        n = (
            int(wave * rng.uniform(0.85, 1.15))
            if recent
            else int(minute > 70 and rng.random() < 0.35 + 0.3 * math.sin(minute / 200))
        )
        for _ in range(n):
            model, provider, pin, pout, _w = rng.choices(models, weights=[m[4] for m in models])[0]
            failed = (provider == "far" and rng.random() < 0.7) or rng.random() < 0.01
            tin, tout = rng.randint(200, 3000), rng.randint(40, 400)
            ttft = rng.lognormvariate(5.6 if model == "gpt-demo" else 5.1, 0.35)
            duration = ttft + tout * rng.uniform(9, 12) if not failed else rng.uniform(30, 200)
            stream = rng.random() < 0.6 and not failed
            cost = (tin * pin + tout * pout) / 1e6 if not failed else None
            rows.append(
                (
                    now - minute * 60 + rng.uniform(0, 59),
                    f"req_seed{len(rows)}",
                    rng.choice(keys),
                    model,
                    provider,
                    "openai",
                    502 if failed else 200,
                    tin,
                    0 if failed else tout,
                    0,
                    cost,
                    round(duration, 3),
                    round(ttft, 3) if stream else None,
                )
            )
            in_window += recent
    store = open_store(url)
    await store.open()
    try:
        await store.write_usage(rows)
    finally:
        await store.close()
    return in_window


@pytest.fixture(scope="module")
def traffic(gw: Gateway) -> int:
    """Some requests of each kind: plain and streamed on two models, a few upstream failures."""
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-yaml-team-0123", max_retries=0)
    sent = 0
    for i in range(12):
        model = "gpt-demo" if i % 3 else "claude-demo"
        msgs: Any = [{"role": "user", "content": f"hello number {i}"}]
        if i % 2:
            for _ in client.chat.completions.create(model=model, messages=msgs, stream=True):
                pass
        else:
            client.chat.completions.create(model=model, messages=msgs)
        sent += 1
    for _ in range(3):
        with pytest.raises(openai.APIError):
            client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
        sent += 1
    return sent


class Page:
    """A browser page that records console errors, page errors, failed requests and any request that
    leaves the gateway's origin."""

    def __init__(self, browser: Any, gw: Gateway, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.origin = gw.url
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on(
            "request",
            lambda r: not r.url.startswith(self.origin) and self.problems.append(f"other origin: {r.url}"),
        )
        self.page.on("dialog", lambda d: d.accept())  # the confirm() before rotate and revoke

    def sign_in(self, key: str = ADMIN) -> None:
        self.page.goto(self.origin + "/admin/")
        self.page.fill("#admin-key", key)
        self.page.click("#login-form button[type=submit]")

    def shot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def laptop(browser: Any, gw: Gateway) -> Iterator[Page]:
    page = Page(browser, gw, LAPTOP)
    yield page
    page.close()


def test_page_is_served_with_a_strict_csp_and_off_without_admin_key(gw: Gateway) -> None:
    r = httpx.get(gw.url + "/admin/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline for the CSP to allow
    assert httpx.get(gw.url + "/admin/static/uPlot.iife.min.js").status_code == 200
    assert httpx.get(gw.url + "/admin/static/..%2Fapi.py").status_code == 404
    with Gateway({"providers": {"mock": {"type": "mock"}}, "models": {"m": "mock/m"}}) as plain:
        assert httpx.get(plain.url + "/admin/").status_code == 404


def test_wrong_key_is_refused_and_the_key_never_reaches_a_url(laptop: Page) -> None:
    laptop.sign_in("not-the-admin-key")
    laptop.page.wait_for_selector("#login-error:has-text('not the admin key')")
    assert laptop.page.is_hidden("#shell")
    # the 403 from the API is logged by Chromium as a failed resource load; that one is expected
    laptop.problems = [p for p in laptop.problems if "403" not in p]
    laptop.sign_in()
    laptop.page.wait_for_selector("#shell:not([hidden])")
    assert ADMIN not in laptop.page.url
    assert laptop.page.evaluate("sessionStorage.getItem('llm-link-admin-key')") == ADMIN
    assert laptop.page.evaluate("localStorage.length") == 0 and laptop.page.evaluate("document.cookie") == ""
    assert laptop.problems == []


def test_series_api_counts_every_request(gw: Gateway, traffic: int) -> None:
    r = httpx.get(gw.url + "/admin/api/series?by=provider", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200
    body = r.json()
    assert len(body["buckets"]) == 60 and body["step"] == 60 and not body["sampled"]
    assert body["total"]["summary"]["requests"] == gw.seeded + traffic  # type: ignore[attr-defined]
    assert sum(body["total"]["requests"][-2:]) >= traffic  # the test's own, in the last minute or two
    far = next(s for s in body["series"] if s["name"] == "far")
    assert far["summary"]["errors"] >= 3 and far["summary"]["error_rate"] > 0.5
    mock = next(s for s in body["series"] if s["name"] == "mock")
    assert 0 < mock["summary"]["ttft_p50_ms"] <= mock["summary"]["ttft_p95_ms"]
    bad = httpx.get(gw.url + "/admin/api/series?minutes=0", headers={"Authorization": f"Bearer {ADMIN}"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "minutes"
    assert httpx.get(gw.url + "/admin/api/series").status_code == 401


def test_overview_charts_draw_the_traffic(laptop: Page, traffic: int, gw: Gateway) -> None:
    laptop.sign_in()
    page = laptop.page
    page.wait_for_selector("#chart-rps canvas")
    for chart in ("rps", "errors", "latency", "ttft"):
        page.wait_for_selector(f"#chart-{chart} canvas")
        assert int(page.get_attribute(f"#chart-{chart}", "data-points") or 0) > 0, chart
    tiles = page.inner_text("#tiles")
    assert f"{gw.seeded + traffic:,}" in tiles  # type: ignore[attr-defined]  # every request, the test's too
    table = page.inner_text("#overview-table")
    assert "gpt-demo" in table and "claude-demo" in table and "broken" in table
    page.click("[data-by=provider]")
    page.wait_for_selector("#overview-table >> text=mock")
    page.click("[data-by=model]")
    page.wait_for_selector("#overview-table >> text=gpt-demo")
    # live: more traffic shows up without a reload (the page polls every 5 s)
    before = page.inner_text("#tiles")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-yaml-team-0123", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="gpt-demo", messages=[{"role": "user", "content": "more"}])
    expected = f"{gw.seeded + traffic + 3:,}"  # type: ignore[attr-defined]
    page.wait_for_selector(f"#tiles .value:text-is('{expected}')", timeout=20000)
    assert page.inner_text("#tiles") != before
    path = laptop.shot("dashboard-overview")
    if os.environ.get("LLM_LINK_SCREENSHOT_DOCS") == "1":
        shutil.copy(path, ROOT / "docs" / "dashboard-overview.png")
    assert laptop.problems == []


def test_spend_providers_and_config_pages(laptop: Page, traffic: int, gw: Gateway) -> None:
    laptop.sign_in()
    page = laptop.page
    page.wait_for_selector("#shell:not([hidden])")
    page.click("nav >> text=Spend")
    page.wait_for_selector("#chart-spend canvas")
    assert "gpt-demo" in page.inner_text("#spend-table") and "$" in page.inner_text("#spend-tiles")
    assert "this day" in page.inner_text("#budgets")  # yaml-team's budget, with what it used today
    assert int(page.get_attribute("#budgets [role=progressbar]", "aria-valuenow") or -1) >= 0
    laptop.shot("dashboard-spend")
    page.click("[data-split=model]")
    page.wait_for_selector("#spend-caption:text-is('Cost per model (USD)')")
    page.wait_for_selector("#chart-spend .u-legend >> text=gpt-demo")

    page.click("nav >> text=Providers")
    page.wait_for_selector("article[aria-label='provider far'] .errors li")
    far = page.inner_text("article[aria-label='provider far']")
    assert "far/nothing" in far and "502" in far
    laptop.shot("dashboard-providers")

    page.click("nav >> text=Config")
    page.wait_for_selector("#config-json:has-text('providers')")
    config = page.inner_text("#config-json")
    assert "sk-upstream-secret" not in config and ADMIN not in config
    page.click("#reload")
    page.wait_for_selector("#reload-result .result.ok")
    good = gw.config_path.read_text()
    try:  # a broken file is refused, with its problems and their paths on the page
        gw.config_path.write_text(good.replace("provider: mock", "provider: nowhere", 1))
        page.click("#reload")
        page.wait_for_selector("#reload-result .result.bad li")
        assert "nowhere" in page.inner_text("#reload-result")
        laptop.shot("dashboard-config-refused")
        # Chromium logs the expected 422 as a failed resource load; only that one is allowed
        laptop.problems = [p for p in laptop.problems if "status of 422" not in p]
    finally:
        gw.config_path.write_text(good)
    page.click("#reload")
    page.wait_for_selector("#reload-result .result.ok")
    laptop.shot("dashboard-config")
    assert laptop.problems == []


def test_key_made_in_the_ui_works_until_revoked_there(laptop: Page, gw: Gateway) -> None:
    laptop.sign_in()
    page = laptop.page
    page.wait_for_selector("#shell:not([hidden])")
    page.click("nav >> text=Keys")
    page.wait_for_selector("#keys-table >> text=yaml-team")
    page.fill("#key-form [name=name]", "ui-team")
    page.fill("#key-form [name=models]", "gpt-*")
    page.fill("#key-form [name=rpm]", "100")
    page.fill("#key-form [name=budget_usd]", "5")
    page.click("#key-submit")
    page.wait_for_selector("[data-testid=secret]:not(:empty)")
    secret = page.inner_text("[data-testid=secret]").strip()
    assert secret.startswith("llk_")
    page.wait_for_selector("#keys-table >> text=ui-team")
    assert "100 rpm" in page.inner_text("#keys-table")
    laptop.shot("dashboard-keys")

    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0)
    reply = client.chat.completions.create(model="gpt-demo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content

    page.click("#secret-hide")
    row = page.locator("#keys-table tr", has_text="ui-team")
    row.locator("button", has_text="Edit").click()
    page.fill("#key-form [name=rpm]", "7")
    page.click("#key-submit")
    page.wait_for_selector("#keys-table >> text=7 rpm")

    row.locator("button", has_text="Rotate").click()  # confirm() accepted by the page fixture
    page.wait_for_selector(f"[data-testid=secret]:not(:text-is('{secret}')):not(:empty)")
    rotated = page.inner_text("[data-testid=secret]").strip()
    assert rotated.startswith("llk_") and rotated != secret
    with pytest.raises(openai.AuthenticationError):  # the old secret stopped at once (one worker)
        client.chat.completions.create(model="gpt-demo", messages=[{"role": "user", "content": "hi"}])
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=rotated, max_retries=0)
    assert client.chat.completions.create(model="gpt-demo", messages=[{"role": "user", "content": "hi"}]).choices

    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector("#keys-table tr:has-text('ui-team') >> text=revoked")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.chat.completions.create(model="gpt-demo", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as err:
            assert err.status_code == 401
            break
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.2)
    assert laptop.problems == []


def test_without_a_database_the_overview_says_why_and_keys_are_read_only(browser: Any) -> None:
    config = {
        "providers": {"mock": {"type": "mock"}},
        "models": {"m": "mock/m"},
        "auth": {"keys": [{"name": "only-yaml", "key": "sk-only-yaml-0123"}]},
        "admin": {"key": ADMIN},
    }
    with Gateway(config) as plain:
        page = Page(browser, plain, LAPTOP)
        try:
            page.sign_in()
            page.page.wait_for_selector("#overview-note:not([hidden]):has-text('state.database_url')")
            page.page.click("nav >> text=Keys")
            page.page.wait_for_selector("#keys-table >> text=only-yaml")
            assert "read-only" in page.page.inner_text("#keys-table")
            assert page.problems == []
        finally:
            page.close()


def test_phone_width_fits_without_sideways_scrolling(browser: Any, gw: Gateway, traffic: int) -> None:
    phone = Page(browser, gw, PHONE)
    try:
        phone.sign_in()
        page = phone.page
        page.wait_for_selector("#chart-rps canvas")
        loaded = {"overview": "#chart-rps canvas", "keys": "#keys-table tbody tr", "providers": "#providers article"}
        for name, ready in loaded.items():
            page.goto(f"{gw.url}/admin/#{name}")
            page.wait_for_selector(f"#page-{name}:not([hidden]) {ready}")  # drawn with its data
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
            phone.shot(f"dashboard-{name}-phone")
        assert phone.problems == []
    finally:
        phone.close()
