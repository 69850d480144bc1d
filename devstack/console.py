"""What ``make local`` prints: the banner, a line per upload, and the emails.

Each email (a message from the inbox queue subscribed to the topic) is printed and
also kept, one JSON object a line, in ``.local/mail.jsonl``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from devstack.services import Services


class Console:
    def __init__(self, out: TextIO, mailbox: Path) -> None:
        self.out = out
        self.mailbox = mailbox
        self._lock = threading.Lock()

    def say(self, text: str = "") -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def banner(
        self, ready: float, earlier: int | None, services: Services, interactive: bool
    ) -> None:
        """What runs where; ``earlier``: uploads recorded by earlier runs (None: new database)."""
        if earlier is None:
            data = "a new database"
        else:
            data = (
                f"the database kept from earlier runs ({earlier} uploads recorded; "
                "add ARGS=--reset to start empty)"
            )
        self.say(f"csv-pipeline local stack ready in {ready:.1f} s")
        self.say(f"  PostgreSQL   127.0.0.1:{services.pg_port}  {data}")
        self.say(
            f"  AWS (moto)   {services.aws_url}  buckets, topic, queues and secret (in memory: "
            "objects from earlier runs are gone)"
        )
        if services.api is not None:
            self.say(f"  status       {services.env['STATUS_URL']}  (chalice local)")
        self.say(f"  settings     {services.state_dir / 'env'}  (source it in another terminal)")
        self.say(
            f"  logs         {services.state_dir / 'lambda.log'}  (the handlers' JSON logs "
            "and EMF metrics)"
        )
        self.say("")
        if interactive:
            self.say("Upload a CSV from another terminal:")
            self.say("  source .local/env")
            bucket = services.names.input_bucket
            self.say(f"  aws s3 cp my.csv s3://{bucket}/      # with the AWS CLI, or")
            self.say("  .venv/bin/python -m devstack.upload my.csv")
            self.say("Stop with Ctrl-C.")
            self.say("")

    def uploads(self, payload: Any, elapsed: float) -> None:
        """A line per upload that ``process_upload`` handled."""
        if isinstance(payload, dict) and payload.get("ignored"):
            self.say(f"  ignored    {payload['ignored']} (acknowledged)")
            return
        for item in (payload or {}).get("uploads", []):
            status = item["status"]
            if status == "succeeded":
                detail = f"{item['row_count']:,} rows"
            elif status == "duplicate":
                detail = "already handled: no second effect"
            else:
                detail = item.get("error_code") or ""
            self.say(f"  {status:<10} {item['key']}  {detail}  {elapsed:.2f} s")

    def retrying(
        self, label: str, error: dict[str, Any], attempt: int, attempts: int, delay: float
    ) -> None:
        self.say(
            f"  retrying   {label}  {error['code']}: {error['errorMessage']} "
            f"(attempt {attempt} of {attempts}, next in {delay:g} s)"
        )

    def exhausted(self, label: str, error: dict[str, Any]) -> None:
        self.say(
            f"  error      {label}  {error['code']}: {error['errorMessage']} "
            "(retries exhausted: sent to the failure destination)"
        )

    def failed(self, function: str, error: dict[str, Any]) -> None:
        self.say(f"  ! {function} failed: {error['errorType']}: {error['errorMessage']}")

    def email(self, message: dict[str, Any]) -> None:
        """Keep and print an email: an SNS envelope from the inbox queue."""
        envelope = json.loads(message["Body"])
        attributes = {
            k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()
        }
        mail = {
            "subject": envelope.get("Subject"),
            "body": envelope.get("Message"),
            "attributes": attributes,
            "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with self.mailbox.open("a") as box:
            box.write(json.dumps(mail, ensure_ascii=False) + "\n")
        body = "\n".join("  | " + line for line in (mail["body"] or "").rstrip().splitlines())
        self.say(f"  ✉ email    Subject: {mail['subject']}\n{body}")
