"""Workarounds for moto, loaded into ``chalice deploy`` by the deploy rehearsal.

The rehearsal (``tests/infra/test_deploy_rehearsal.py``) puts this folder on
``PYTHONPATH``, so Python imports this module at start-up in ``deploy.py``
and in the ``chalice deploy`` it runs. It changes requests on their way to
moto where moto 5.2.5 departs from AWS, never the project's code:

* S3 ``PutBucketNotificationConfiguration``: Chalice writes the key filter
  rule as ``{"Name": "Suffix"}``; AWS accepts either case, moto asserts the
  name is lower case and answers HTTP 500. The rule names are lower-cased.
* API Gateway ``ImportRestApi`` / ``PutRestApi``: moto reads
  ``info.description`` of the document unconditionally (a KeyError, HTTP
  500, when absent), and refuses any document that is not OpenAPI 3
  ("Only OpenAPI 3.x.x are currently supported"), while AWS imports the
  Swagger 2.0 that Chalice writes. A description is added and the version
  label is changed to ``openapi: 3.0.1``; moto reads only ``paths``, the
  methods, their responses and ``x-amazon-apigateway-integration``, which
  are the same in both versions. moto ignores ``security`` (every method
  has authorization ``NONE`` in moto), so when ``REHEARSAL_CAPTURE_DIR`` is
  set the document as Chalice sent it is saved there for the test to read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

DESCRIPTION = "csv-pipeline (deploy rehearsal against moto)"


def lower_case_filter_rule_names(params: dict[str, Any], **_: Any) -> None:
    config = params.get("NotificationConfiguration") or {}
    for kind in (
        "LambdaFunctionConfigurations",
        "QueueConfigurations",
        "TopicConfigurations",
    ):
        for item in config.get(kind) or []:
            rules = ((item.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
            for rule in rules:
                rule["Name"] = str(rule["Name"]).lower()


def openapi_3_with_a_description(params: dict[str, Any], model: Any, **_: Any) -> None:
    body = params.get("body")
    if body is None:
        return
    capture = os.environ.get("REHEARSAL_CAPTURE_DIR")
    if capture:
        name = f"{time.time_ns()}-{model.name}.json"  # sorts in the order sent
        Path(capture, name).write_bytes(body if isinstance(body, bytes) else body.encode())
    document = json.loads(body)
    if "swagger" in document:
        del document["swagger"]
        document["openapi"] = "3.0.1"
    document.setdefault("info", {}).setdefault("description", DESCRIPTION)
    params["body"] = json.dumps(document, indent=2)


HOOKS = {
    "before-parameter-build.s3.PutBucketNotificationConfiguration": lower_case_filter_rule_names,
    "before-parameter-build.api-gateway.ImportRestApi": openapi_3_with_a_description,
    "before-parameter-build.api-gateway.PutRestApi": openapi_3_with_a_description,
}


def install() -> None:
    """Register the hooks on every botocore session created from now on."""
    try:
        import botocore.session
    except ImportError:  # a Python without botocore (pip's own subprocesses): nothing to fix
        return
    original_init = botocore.session.Session.__init__

    def init_with_hooks(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for event, handler in HOOKS.items():
            self.register(event, handler, unique_id=f"moto-workaround-{event}")

    botocore.session.Session.__init__ = init_with_hooks  # type: ignore[method-assign]


install()
