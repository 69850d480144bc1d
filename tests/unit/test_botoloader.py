"""chalicelib.adapters.botoloader answers as botocore's own loader does, without listing.

No network: building a client reads botocore's data files only.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from chalicelib.adapters import aws, botoloader

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("service-2", "endpoint-rule-set-1")
NOT_SERVICES = ("no-such-service", "", ".", "..", "s3/..", "../botocore", "S3")


@pytest.mark.parametrize("type_name", TYPES)
def test_it_knows_exactly_the_services_botocore_ships(type_name: str) -> None:
    ours, theirs = botoloader.create_loader(), botocore.loaders.Loader()
    shipped = theirs.list_available_services(type_name)
    assert len(shipped) > 300
    assert list(ours.list_available_services(type_name)) == shipped
    known = botoloader.create_loader().list_available_services(type_name)  # not yet listed
    assert [name for name in shipped if name not in known] == []
    assert [name for name in NOT_SERVICES if name in known] == []


def test_an_unknown_service_raises_botocores_own_error() -> None:
    with pytest.raises(UnknownServiceError) as theirs:
        botocore.session.Session().create_client("no-such-service", region_name="us-east-1")
    with pytest.raises(UnknownServiceError) as ours:
        aws.new_session().create_client("no-such-service", region_name="us-east-1")
    assert str(ours.value) == str(theirs.value)
    assert "s3, s3control" in str(ours.value).replace("'", "")  # the full list, as botocore's


def called_names() -> set[str]:
    """Every ``x.name(...)`` call in chalicelib and app.py."""
    names: set[str] = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def test_every_client_and_operation_the_app_uses_loads_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients, theirs = aws.Clients(), botocore.loaders.Loader()
    assert isinstance(clients.session.get_component("data_loader"), botoloader.Loader)
    used: set[str] = set()
    for client in (clients.s3, clients.sns, clients.secretsmanager):
        model = client.meta.service_model
        assert model.service_name in ("s3", "sns", "secretsmanager")
        assert client.meta.service_model.operation_names == sorted(
            theirs.load_service_model(model.service_name, "service-2")["operations"]
        )
        for method in called_names() & set(client.meta.method_to_api_mapping):
            operation = client.meta.method_to_api_mapping[method]
            assert model.operation_model(operation).name == operation
            used.add(method)
    assert {"get_object", "head_object", "copy_object", "put_object"} <= used
    assert {"publish", "get_secret_value"} <= used


def test_aws_data_path_is_searched_as_botocore_searches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "example-service/2020-01-01/service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps({"metadata": {"apiVersion": "2020-01-01"}, "operations": {}}))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    loader = aws.new_session().get_component("data_loader")
    assert isinstance(loader, botoloader.Loader)
    assert "example-service" in loader.list_available_services("service-2")
    assert loader.load_service_model("example-service", "service-2")["operations"] == {}
