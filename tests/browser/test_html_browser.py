"""The HTML report in a real browser (headless Chromium) at 1280 and 390 px: it fits, asks for nothing,
logs no error, every in-page link resolves, details open on click, no code or word breaks mid-word.

Pages: the golden report (a real pipeline run, tests/golden/report/audit.json) and the hostile sample.
Screenshots go to reports/screenshots/ (or $MAILPROBE_SCREENSHOTS), one per page and width.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mailprobe.report import render
from mailprobe.report.serialize import report_from_jsonable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from samples import hostile_report

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report" / "audit.json"
WIDTHS = (1280, 390)
PAGES = ("audit", "hostile")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("html")
    reports = {
        "audit": report_from_jsonable(json.loads(GOLDEN.read_text(encoding="utf-8"))),
        "hostile": hostile_report(),
    }
    out = {}
    for name, report in reports.items():
        path = directory / f"{name}.html"
        path.write_text(render(report, "html", transcript=True), encoding="utf-8")
        out[name] = path
    return out


def load(browser: Any, path: Path, width: int) -> None:
    browser.set_window_size(width, 900)
    browser.get("about:blank")
    browser.get_log("performance")  # drop what came before this page
    browser.get_log("browser")
    browser.get(path.as_uri())


def requests(browser: Any) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(message["params"].get("request", {}).get("url") or message["params"].get("url", ""))
    return urls


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_fits_requests_nothing_logs_no_error(
    browser: Any, pages: dict[str, Path], screenshots: Path, name: str, width: int
) -> None:
    load(browser, pages[name], width)
    scroll_width, inner_width = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width, f"{name} overflows at {width}px: {scroll_width} > {inner_width}"
    assert requests(browser) == [pages[name].as_uri()]  # the page itself, nothing else
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []  # a CSP violation or a failed load would be here
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 100, 12000))
    shot = screenshots / f"{name}-{width}.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("name", PAGES)
def test_every_in_page_link_resolves(browser: Any, pages: dict[str, Path], name: str) -> None:
    load(browser, pages[name], 1280)
    links, missing = browser.execute_script(
        "const links = [...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href').slice(1));"
        "return [links.length, links.filter(id => !document.getElementById(decodeURIComponent(id)))];"
    )
    assert links > 5 and missing == []
    assert browser.execute_script("return document.querySelectorAll('a:not([href^=\"#\"])').length") == 0


def test_details_open_on_click(browser: Any, pages: dict[str, Path]) -> None:
    load(browser, pages["audit"], 1280)
    closed = browser.find_elements("css selector", "details:not([open])")
    assert len(closed) >= 3  # passed checks, explanations, transcripts that show no finding
    for details in closed[:3]:
        summary = details.find_element("css selector", "summary")
        browser.execute_script("arguments[0].scrollIntoView()", summary)
        summary.click()
        assert details.get_attribute("open") is not None
        assert details.find_elements("css selector", "summary ~ *")[0].is_displayed()


def test_a_finding_links_to_the_transcript_line_that_shows_it(browser: Any, pages: dict[str, Path]) -> None:
    load(browser, pages["audit"], 390)
    relay = browser.find_element("css selector", "article.finding.f-critical")
    assert "SMTP-OPEN-RELAY" in relay.text
    link = relay.find_element("partial link text", "the transcript of")
    target = link.get_attribute("href").split("#", 1)[1]
    browser.execute_script("arguments[0].scrollIntoView()", link)
    link.click()
    line = browser.find_element("id", target)
    assert line.is_displayed() and "offending" in (line.get_attribute("class") or "")
    assert "250 2.1.5 OK" in line.text and browser.execute_script("return location.hash") == f"#{target}"
    explanation = relay.find_element("css selector", "h3 a")
    assert browser.find_element("id", explanation.get_attribute("href").split("#", 1)[1]).tag_name == "details"


@pytest.mark.parametrize("name", PAGES)
def test_codes_and_hyphenated_words_never_break(browser: Any, pages: dict[str, Path], name: str) -> None:
    """At 390 px every finding code and hyphenated word sits on one line (one box): no 'TLS-HOSTNAM|E-...'."""
    load(browser, pages[name], 390)
    broken = browser.execute_script(
        "return [...document.querySelectorAll('code, .nw')]"
        ".filter(e => e.getClientRects().length > 1).map(e => e.textContent);"
    )
    checked = browser.execute_script("return document.querySelectorAll('code, .nw').length")
    assert checked > 20 and broken == []
