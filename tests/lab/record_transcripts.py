"""Record the lab servers' dialogues into tests/transcripts/, which tests/unit/test_transcript_replay.py replays.

    .venv/bin/python tests/lab/record_transcripts.py [--force] [NAME ...]      (as root)

Each file is one HandshakeResult as `mailprobe handshake HOST:PORT -4 --json --transcript` reports it, run in the
lab's client namespace against the server by its lab name. Without names it records every entry of
RECORDINGS that has no file yet; --force overwrites. Only a handshake that succeeded is written (the replay
test expects success).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labnet import REPO, Lab

TRANSCRIPTS = REPO / "tests" / "transcripts"
RECORDINGS = {
    "postfix-smtp-25": "mx1.lab.test:25",
    "postfix-submission-587": "mx1.lab.test:587",
    "postfix-submissions-465": "mx1.lab.test:465",
    "dovecot-imap-143": "mx1.lab.test:143",
    "dovecot-imaps-993": "mx1.lab.test:993",
    "dovecot-pop3-110": "mx1.lab.test:110",
    "exim-smtp-25": "exim.lab.test:25",
    "exim-submission-587": "exim.lab.test:587",
    "exim-submissions-465": "exim.lab.test:465",
    "courier-imap-143": "courier.lab.test:143",
    "courier-imaps-993": "courier.lab.test:993",
    "courier-pop3-110": "courier.lab.test:110",
    "courier-pop3s-995": "courier.lab.test:995",
}


def record(lab: Lab, target: str) -> dict[str, object]:
    done = lab.mailprobe("handshake", target, "-4", "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--json",
                         "--transcript")
    if not done.stdout:
        raise SystemExit(f"{target}: mailprobe printed nothing: {done.stderr[-2000:]}")
    (handshake,) = json.loads(done.stdout)["handshakes"]
    if handshake["status"] != "success":
        raise SystemExit(f"{target}: {handshake['status']}: {handshake['reason']}")
    result: dict[str, object] = handshake
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite recordings that exist")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"from: {', '.join(RECORDINGS)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in RECORDINGS]
    if unknown:
        parser.error(f"unknown recording {', '.join(unknown)}; known: {', '.join(RECORDINGS)}")
    names = args.names or [name for name in RECORDINGS if args.force or not (TRANSCRIPTS / f"{name}.json").exists()]
    if not names:
        print("every recording exists (--force to redo them)")
        return 0
    with Lab.up(rtt_ms=0) as lab:
        for name in names:
            path = TRANSCRIPTS / f"{name}.json"
            if path.exists() and not args.force:
                print(f"{path.name} exists, skipped (--force to redo it)")
                continue
            path.write_text(json.dumps(record(lab, RECORDINGS[name]), indent=1) + "\n")
            print(f"recorded {path.relative_to(REPO)} from {RECORDINGS[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
