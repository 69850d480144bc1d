"""The function's lean botocore data (``chalicelib/clients.py``): in sync, exact, used.

No network: building a client reads files only.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from chalicelib import clients
from chalicelib.config import Settings
from chalicelib.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings("in-bucket", "out-bucket", "backup-bucket", "arn:aws:sns:x:1:t", "secret")


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "botocore_data", ROOT / "scripts" / "botocore_data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["botocore_data"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_the_committed_data_matches_the_installed_botocore(
    generator: ModuleType, tmp_path: Path
) -> None:
    fresh = tmp_path / "botocore_data"
    generator.write(fresh)
    stale = generator.differences(fresh, clients.DATA_DIR)
    assert stale == [], f"run `make botocore-data`: {stale}"


def _describe(shape: Shape | None, seen: set[str]) -> Any:
    """A shape as comparable data: type, serialization, metadata, members (recursively)."""
    if shape is None:
        return None
    if shape.name in seen:
        return shape.name
    seen = seen | {shape.name}
    described: dict[str, Any] = {
        "name": shape.name,
        "type": shape.type_name,
        "serialization": shape.serialization,
        "metadata": {k: v for k, v in shape.metadata.items() if k != "documentation"},
    }
    if shape.type_name == "structure":
        members = shape.members  # type: ignore[attr-defined]
        # A list: member order is the order on the wire (XML bodies).
        described["members"] = [(n, _describe(s, seen)) for n, s in members.items()]
    elif shape.type_name == "list":
        described["member"] = _describe(shape.member, seen)  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        described["key"] = _describe(shape.key, seen)  # type: ignore[attr-defined]
        described["value"] = _describe(shape.value, seen)  # type: ignore[attr-defined]
    return described


def _operation(model: Any) -> Any:
    return {
        "http": model.http,
        "auth": model.auth,
        "checksum": model.http_checksum,
        "context": model.context_parameters and [p.name for p in model.context_parameters],
        "static_context": model.static_context_parameters,
        "input": _describe(model.input_shape, set()),
        "output": _describe(model.output_shape, set()),
        "errors": [_describe(e, set()) for e in model.error_shapes],
        "streaming": (model.has_streaming_input, model.has_streaming_output),
    }


@pytest.mark.parametrize("service", sorted(clients.OPERATIONS))
def test_each_kept_operation_is_botocores_own(service: str) -> None:
    full = botocore.session.Session().get_service_model(service)
    lean = clients.new_session().get_service_model(service)
    assert sorted(lean.operation_names) == sorted(clients.OPERATIONS[service])
    assert lean.metadata == full.metadata
    assert lean.client_context_parameters == full.client_context_parameters
    for name in clients.OPERATIONS[service]:
        assert _operation(lean.operation_model(name)) == _operation(full.operation_model(name))


def test_the_runtime_builds_its_clients_from_the_lean_data() -> None:
    runtime = Runtime(SETTINGS)
    assert runtime.s3.meta.service_model.operation_names == sorted(clients.OPERATIONS["s3"])
    assert runtime.sns.meta.service_model.operation_names == ["Publish"]
    assert runtime.secretsmanager.meta.service_model.operation_names == ["GetSecretValue"]
    assert runtime.s3.meta.region_name == "eu-west-1"
    assert runtime.s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert runtime.s3.meta.config.connect_timeout == clients.CONNECT_TIMEOUT


def test_other_services_still_load_from_botocores_data() -> None:
    """STS, say, for an assumed role: the lean directory is only searched first."""
    session = clients.new_session()
    sts = session.create_client("sts")
    assert "AssumeRole" in sts.meta.service_model.operation_names
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        session.create_client("no-such-service")


def test_the_endpoints_are_botocores_for_these_services(generator: ModuleType) -> None:
    full = generator._read_json(generator.botocore_data() / "endpoints.json")
    lean = json.loads((clients.DATA_DIR / "endpoints.json").read_text())
    for full_partition, lean_partition in zip(full["partitions"], lean["partitions"], strict=True):
        assert set(lean_partition["services"]) <= set(clients.OPERATIONS)
        for service, spec in lean_partition["services"].items():
            assert spec == full_partition["services"][service]
        rest = {k: v for k, v in lean_partition.items() if k != "services"}
        assert rest == {k: v for k, v in full_partition.items() if k != "services"}


class _Captured(Exception):
    """Not an error: the request, stopped before it leaves."""

    def __init__(self, request: Any) -> None:
        super().__init__(request.url)
        self.request = request


#: Headers that differ between any two requests (time, signature, ids).
VOLATILE = {"authorization", "x-amz-date", "user-agent", "amz-sdk-invocation-id", "amz-sdk-request"}


def _sent(client: Any, call: str, **params: Any) -> tuple[Any, ...]:
    """A request as it would leave, stopped before it does: URL, method, body,
    headers (but the volatile ones) and the signature's credential scope."""

    def stop(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register_first("before-send", stop)
    with pytest.raises(_Captured) as captured:
        getattr(client, call)(**params)
    request = captured.value.request
    auth = request.headers["Authorization"].decode()
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/", 2)[2]
    headers = sorted(
        (k.lower(), v) for k, v in request.headers.items() if k.lower() not in VOLATILE
    )
    return request.url, request.method, request.body, headers, scope


CALLS = [
    ("s3", "get_object", {"Bucket": "csv-in", "Key": "a b/ü.csv"}),
    (
        "s3",
        "copy_object",
        {"Bucket": "csv-bk", "Key": "k", "CopySource": {"Bucket": "b", "Key": "k"}},
    ),
    ("sns", "publish", {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:t", "Message": "m"}),
    ("secretsmanager", "get_secret_value", {"SecretId": "s"}),
]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize(("service", "call", "params"), CALLS)
def test_requests_go_where_botocores_full_data_sends_them(
    monkeypatch: pytest.MonkeyPatch, region: str, service: str, call: str, params: Any
) -> None:
    """Real AWS endpoints (no emulator): the lean data resolves them as botocore does."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    full = botocore.session.Session().create_client(service, region_name=region)
    lean = clients.new_session().create_client(service, region_name=region)
    assert _sent(lean, call, **params) == _sent(full, call, **params)
