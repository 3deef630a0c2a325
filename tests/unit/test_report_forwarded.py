"""The reports people forward (HTML, Markdown): scorecard, grouped findings with their explanation and the
transcript line that shows them, passed checks, collapsible transcripts, a strict CSP. The browser test
(tests/browser) checks the page as a person sees it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

from samples import MX2_PLACE, hostile_report, sample_report

from mailprobe.checks.defs import lookup
from mailprobe.model import (
    Category,
    CheckResult,
    CheckStatus,
    Direction,
    PortResult,
    PortState,
    Report,
    Service,
    TranscriptEntry,
)
from mailprobe.report import html as html_format
from mailprobe.report import render
from mailprobe.report.html_sections import text
from mailprobe.report.scorecard import OVERALL, Row, cell_text, scorecard
from mailprobe.report.serialize import report_from_jsonable
from mailprobe.report.summary import could_not_probe

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report" / "audit.json"


def golden() -> Report:
    return report_from_jsonable(json.loads(GOLDEN.read_text(encoding="utf-8")))


def rows_by_subject(report: Report) -> dict[str, Row]:
    return {row.subject: row for row in scorecard(report, could_not_probe(report))}


# --- scorecard -------------------------------------------------------------------------------------------------


def test_scorecard_rows_are_the_domain_and_each_host_with_a_verdict_per_category() -> None:
    rows = rows_by_subject(sample_report())
    assert list(rows) == [OVERALL, "example.com", "mx1.example.com", "mx2.example.com"]
    verdicts = {subject: {c.value: cell.verdict for c, cell in row.cells.items()} for subject, row in rows.items()}
    assert verdicts[OVERALL]["dns"] == "pass"
    assert verdicts[OVERALL]["policy"] == "warn"  # DMARC p=none is low; MTA-STS missing is info only
    assert verdicts[OVERALL]["tls"] == "fail"  # the mismatched certificate is high
    assert verdicts[OVERALL]["smtp"] == "warn"  # AUTH before TLS is medium
    assert verdicts["mx1.example.com"]["tls"] == "pass" and verdicts["mx2.example.com"]["tls"] == "fail"
    assert verdicts["example.com"]["tls"] == "none"
    assert cell_text(rows["mx2.example.com"].cells[Category.TLS]) == "fail 1/2"
    assert cell_text(rows[OVERALL].cells[Category.SMTP]) == "warn 5/6"


def test_what_could_not_be_probed_makes_its_cell_an_error_never_a_pass() -> None:
    refused = PortResult(
        "mx3.example.com",
        "203.0.113.9",
        25,
        PortState.ERROR,
        "refused by safety guard: 203.0.113.9 is outside MAILPROBE_ALLOW_ONLY",
        0.0,
        Service.SMTP,
    )
    crashed = CheckResult("dmarc", Category.POLICY, "example.com", CheckStatus.ERROR, detail="KeyError('p')")
    report = replace(
        sample_report(), ports=(*sample_report().ports, refused), checks=(*sample_report().checks, crashed)
    )
    rows = rows_by_subject(report)
    assert rows["mx3.example.com"].cells[Category.REACH].verdict == "error"
    assert cell_text(rows["mx3.example.com"].cells[Category.REACH]) == "error 1 not probed"
    assert rows["example.com"].cells[Category.POLICY].verdict == "warn"  # a finding outweighs the crash
    assert rows["example.com"].cells[Category.POLICY].errors == 1


def test_record_names_and_places_go_under_their_domain_and_host() -> None:
    report = replace(
        sample_report(),
        checks=(
            CheckResult("dkim", Category.POLICY, "sel._domainkey.example.com", CheckStatus.PASSED),
            CheckResult("tlsa-records", Category.POLICY, "_25._tcp.mx1.example.com", CheckStatus.PASSED),
            CheckResult("starttls", Category.SMTP, "198.51.100.10:25/smtp", CheckStatus.PASSED),
        ),
    )
    rows = rows_by_subject(report)
    assert rows["example.com"].cells[Category.POLICY].passed == 1
    assert rows["mx1.example.com"].cells[Category.POLICY].passed == 1
    assert rows["mx1.example.com"].cells[Category.SMTP].passed == 1


# --- HTML ------------------------------------------------------------------------------------------------------


def test_the_csp_allows_only_our_own_style_by_its_hash() -> None:
    page = render(sample_report(), "html")
    digest = base64.b64encode(hashlib.sha256(html_format.CSS.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and f"style-src 'sha256-{digest}'" in csp.group(1)
    assert "unsafe-inline" not in page and "default-src 'none'" in csp.group(1)
    assert page.count("<style>") == 1 and f"<style>{html_format.CSS}</style>" in page


def test_html_opens_with_a_table_of_contents_and_the_scorecard() -> None:
    page = render(sample_report(), "html")
    assert page.index("<nav") < page.index('id="scorecard"') < page.index('id="findings"') < page.index('id="passed"')
    assert '<td class="v-fail">fail 1/2</td>' in page and '<a href="#scorecard">Scorecard</a>' in page


def test_one_card_per_problem_with_every_place_and_its_explanation_embedded() -> None:
    report = sample_report()
    page = render(report, "html")
    assert page.count('<article class="finding') == len(report.findings)
    kind = lookup("TLS-HOSTNAME-MISMATCH")
    assert kind is not None
    card = page[page.index('id="finding-tls-hostname-mismatch"') :]
    card = card[: card.index("</article>")]
    assert '<a href="#why-tls-hostname-mismatch"><code>TLS-HOSTNAME-MISMATCH</code></a>' in card
    assert f'<li><a href="#hs-mx2-example-com-25">{MX2_PLACE}</a></li>' in card  # the place links to its handshake
    assert 'id="why-tls-hostname-mismatch"' in page and text(kind.why) in page
    assert "Passed checks (14)" in page


def test_the_transcript_line_a_finding_quotes_is_highlighted_and_linked() -> None:
    page = render(golden(), "html", transcript=True)
    line = re.search(r'<span class="line s offending" id="([^"]+)">.*?</span></span>', page)
    assert line is not None and "250 2.1.5 OK" in line.group(0)
    assert f'<a href="#{line.group(1)}">the transcript of' in page
    assert '<a class="flag" href="#finding-smtp-open-relay">&larr; SMTP-OPEN-RELAY</a>' in line.group(0)
    assert 'class="line c"' in page and 'class="line tls"' in page  # coloured by direction
    assert "transcript:" not in render(golden(), "html")  # only when asked


def test_hyphenated_words_are_kept_whole_but_long_tokens_may_break() -> None:
    report = replace(sample_report(), findings=(replace(sample_report().findings[2], evidence="x-" + "y" * 60),))
    page = render(report, "html")
    assert '<span class="nw">mx2.example.com:25</span>' not in page  # no hyphen: nothing to keep
    assert "<code>TLS-HOSTNAME-MISMATCH</code>" in page
    assert '<span class="nw">non-public</span>' in render(golden(), "html")
    assert f"<dd>x-{'y' * 60}</dd>" in page  # too long to keep on one line of a phone


# --- Markdown --------------------------------------------------------------------------------------------------


def test_markdown_has_the_scorecard_grouped_findings_and_collapsed_passes() -> None:
    report = sample_report()
    text = render(report, "markdown")
    assert "### Scorecard" in text and "| **overall** | pass 3/3 | warn 1/3 | pass 2/2 | fail 3/4 | warn 5/6 |" in text
    assert len(re.findall(r"^#### (\*\*)?(INFO|LOW|MEDIUM|HIGH|CRITICAL)", text, re.M)) == len(report.findings)
    assert f"- **Seen at (1):** {MX2_PLACE.replace('[', chr(92) + '[').replace(']', chr(92) + ']')}" in text
    assert "<details><summary>What TLS-HOSTNAME-MISMATCH means</summary>" in text
    assert "<details><summary>14 checks found nothing wrong</summary>" in text


def test_markdown_carries_transcripts_only_when_asked_in_details_blocks() -> None:
    assert "transcript:" not in render(golden(), "markdown")
    text = render(golden(), "markdown", transcript=True)
    assert text.count("<details><summary>transcript: ") == len(golden().handshakes)
    assert "C: RCPT TO:&lt;" not in text and "C: RCPT TO:<mailprobe-relay-test@" in text  # verbatim in the fence


def test_a_server_cannot_close_the_transcript_fence_or_the_details_block() -> None:
    h = hostile_report().handshakes[0]
    nasty = TranscriptEntry(Direction.SERVER, b"250 ```` </details> <script>x</script>\r\n", 9.0)
    report = replace(hostile_report(), handshakes=(replace(h, transcript=(*h.transcript, nasty)),))
    text = render(report, "markdown", transcript=True)
    block = text[text.index("<details><summary>transcript: ") :]
    fence = re.search(r"^(`{3,})text$", block, re.M)
    assert fence is not None and len(fence.group(1)) == 5  # longer than the server's four backticks
    inside = block[fence.end() : block.index("\n" + fence.group(1) + "\n")]
    assert "</details> <script>x</script>" in inside  # shown as text inside the fence, inert
