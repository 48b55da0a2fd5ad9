"""A real browser over WebSocket: headless Chromium runs rsocket-js 0.0.27 against our server.

The page (tests/interop/browser/page.js, bundled for the browser by esbuild with the ``buffer``
package providing Node's Buffer) connects to our conformance server on ``ws://127.0.0.1:P/rsocket``,
runs request/response, a 1,000-item request/stream pulled in request-n batches of 10 and a
50-payload channel, and writes its results into the page, which this test reads through selenium
and chromedriver. Debian's ``chromium`` and ``chromium-driver`` are used as installed (no browser
or driver downloads). Anything missing fails the test, never skips it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from interop.harness import PeerUnavailableError
from interop.transport_harness import WS_PATH, start_conformance_server

pytestmark = pytest.mark.interop

BROWSER_DIR: Final = Path(__file__).resolve().parent / "browser"
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
PACKAGES: Final = {
    "rsocket-core": "0.0.27",
    "rsocket-flowable": "0.0.27",
    "rsocket-websocket-client": "0.0.27",
    "buffer": "6.0.3",
}
INSTALL_HINT: Final = (
    "run `bash scripts/install --peers` (apt-get chromium chromium-driver, npm ci in tests/interop/browser)"
)


def _require_browser() -> None:
    problems = [f"{path} is missing" for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    for package, version in PACKAGES.items():
        manifest = BROWSER_DIR / "node_modules" / package / "package.json"
        found = json.loads(manifest.read_text(encoding="utf-8"))["version"] if manifest.exists() else None
        if found != version:
            problems.append(f"npm package {package} is {found}, need {version}")
    if not (BROWSER_DIR / "node_modules" / ".bin" / "esbuild").exists():
        problems.append("esbuild is missing")
    if shutil.which("node") is None:
        problems.append("node is not on PATH")
    if importlib.util.find_spec("selenium") is None:
        problems.append("selenium is not installed (it is in the [test] extra)")
    if problems:
        raise PeerUnavailableError(f"browser test: {'; '.join(problems)}; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_browser()
    out = tmp_path_factory.mktemp("browser")
    subprocess.run(
        [
            str(BROWSER_DIR / "node_modules" / ".bin" / "esbuild"),
            str(BROWSER_DIR / "page.js"),
            "--bundle",
            "--format=iife",
            "--platform=browser",
            f"--outfile={out / 'bundle.js'}",
            "--log-level=warning",
        ],
        check=True,
        timeout=60,
    )
    shutil.copy(BROWSER_DIR / "page.html", out / "page.html")
    return out / "page.html"


@pytest.fixture(scope="module")
def our_ws_port() -> Iterator[int]:
    with start_conformance_server([f"ws://127.0.0.1:0{WS_PATH}"]) as ports:
        yield ports[0]


def run_page(page: Path, port: int) -> dict[str, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # Root in CI needs --no-sandbox; /dev/shm is small in containers.
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.get(f"{page.as_uri()}?port={port}")
        WebDriverWait(driver, 60).until(lambda d: d.title in ("done", "failed"))
        result: dict[str, Any] = json.loads(driver.find_element(By.ID, "result").text)
        return result
    finally:
        driver.quit()


def test_chromium_runs_rr_stream_and_channel_against_our_websocket_server(
    page: Path, our_ws_port: int
) -> None:
    result = run_page(page, our_ws_port)
    assert result["ok"], result
    assert "HeadlessChrome" in result["user_agent"]
    assert result["rr"] == "echo:hello"
    assert result["stream"] == {
        "count": 1000,
        "in_order": True,
        "request_n_frames": 100,  # 1,000 items in batches of 10: request-n honoured end to end
        "credit_violations": 0,
    }
    assert result["channel"]["echoes"] == [f"c{i}" for i in range(50)]
