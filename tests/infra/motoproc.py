"""moto's server in a process of its own, for the tests that change its global state.

moto keeps its settings (``INITIAL_NO_AUTH_ACTION_COUNT``, the switch of IAM
enforcement) and every backend in module globals, so two
``devstack.aws.MotoServer`` threads in one process share them: turning
enforcement on for one would turn it on for the session's server too. A child
process running ``devstack.aws.MotoServer`` on a free port keeps the least
privilege test and the deploy rehearsal apart from every other test.

    python -m tests.infra.motoproc --port 5000 [--iam-resources]

``--iam-resources`` teaches moto the resource of two actions it otherwise
authorises against ``"*"`` (see :func:`teach_iam_resources`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def teach_iam_resources() -> None:
    """Give moto's SNS and Secrets Manager the resource AWS authorises a call on.

    moto 5.2.5 knows the resource of a request only for S3 (bucket/key), SQS
    (the queue's ARN), IAM roles and STS; every other service is authorised
    against ``Resource: "*"``, which no resource-scoped statement matches: a
    policy granting ``sns:Publish`` on the topic's ARN is refused by moto and
    allowed by AWS. Here ``sns:*`` calls are checked against their
    ``TopicArn``/``TargetArn`` and ``secretsmanager:*`` calls against the ARN
    of their ``SecretId``, as AWS does. This makes moto stricter, never
    looser: an action with no known resource is still checked against "*".
    """
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sns.responses import SNSResponse

    def sns_resource(self: Any) -> str:
        return str(self._get_param("TopicArn") or self._get_param("TargetArn") or "*")

    def secret_resource(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        secret = self.backend.secrets.get(secret_id) if secret_id else None
        return str(secret.arn) if secret is not None else "*"

    SNSResponse._determine_resource = sns_resource  # type: ignore[attr-defined]
    SecretsManagerResponse._determine_resource = secret_resource  # type: ignore[attr-defined]


class MotoProcess:
    """A child process serving moto on ``127.0.0.1:<free port>``."""

    def __init__(self, *, iam_resources: bool = False) -> None:
        from devstack.aws import free_port

        self.port = free_port()
        self.iam_resources = iam_resources
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        from devstack.aws import port_in_use

        cmd = [sys.executable, "-m", "tests.infra.motoproc", "--port", str(self.port)]
        if self.iam_resources:
            cmd.append("--iam-resources")
        self._process = subprocess.Popen(cmd, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while not port_in_use("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"moto exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def reset_auth(self, count: float) -> float:
        """``POST /moto-api/reset-auth``: enforce IAM after ``count`` more requests.

        ``0`` enforces from the next request on; ``inf`` (moto's default)
        never. Returns the previous setting. The body is read as raw data, so
        it must not be sent as a form (urllib's default content type).
        """
        import json

        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=str(count).encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        return float(answer["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])

    def client(self, service: str, key: str = "testing", secret: str = "testing") -> Any:
        """A boto3 client of this server with the given credentials."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def __enter__(self) -> MotoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--iam-resources", action="store_true")
    args = parser.parse_args(argv)
    if args.iam_resources:
        teach_iam_resources()
    from devstack.aws import MotoServer

    server = MotoServer(port=args.port)
    server.start()
    threading.Event().wait()  # until the parent terminates this process
    return 0


if __name__ == "__main__":
    sys.exit(main())
