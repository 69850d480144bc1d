"""botocore's own data loader, told to look for the service it is asked for, not list them all.

Before it loads a service's model, botocore's ``Loader.load_service_model`` lists
every service it ships (``list_available_services``: a ``listdir`` and a ``stat``
of each of ~445 directories, once for ``service-2`` and once for
``endpoint-rule-set-1``) only to raise ``UnknownServiceError`` for a name that is
not in the list. That is about a tenth of the function's cold start
(``docs/benchmarks.md``, "Cold start"). :class:`Loader` answers "is this
service known?" by looking for that one service (botocore's own
``list_api_versions``, the same test the listing applies to each directory)
and lists them all only when something reads the list (the error message for
an unknown service does).

Everything else is botocore's: its data files (nothing vendored, every service
and operation it ships), its search path (``AWS_DATA_PATH``), its errors. A name
that is not a plain directory name, or any error of the quick check, gets
botocore's own answer. This is a deliberate, documented override of one
botocore method (``docs/benchmarks.md`` says why); ``tests/unit/test_botoloader.py``
holds it to botocore's behaviour.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, TypeGuard

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader as BotocoreLoader


class Loader(BotocoreLoader):
    """botocore's ``Loader``; its list of services checks one name without listing."""

    # A sequence, not the list botocore's stubs name: botocore asks it ``in`` and
    # joins it into an error message; any other reader gets the full listing.
    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return KnownServices(self, type_name)


class KnownServices(Sequence[str]):
    """The services with ``type_name`` data: ``in`` looks for one; reading it lists all."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader, self._type_name = loader, type_name
        self._names: list[str] | None = None

    def __contains__(self, service: object) -> bool:
        if not _plain_name(service):
            return service in self._all()
        try:
            return bool(self._loader.list_api_versions(service, self._type_name))
        except DataNotFoundError:
            return False
        except Exception:  # anything unexpected: botocore's own answer
            return service in self._all()

    def _all(self) -> list[str]:
        if self._names is None:
            self._names = list(
                BotocoreLoader.list_available_services(self._loader, self._type_name)
            )
        return self._names

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())


def _plain_name(service: object) -> TypeGuard[str]:
    """A name the listing could return: one directory name, no path."""
    if not isinstance(service, str) or service in ("", ".", "..") or os.sep in service:
        return False
    return os.altsep is None or os.altsep not in service


def create_loader(search_path_string: str | None = None) -> Loader:
    """botocore's ``create_loader`` (``AWS_DATA_PATH`` read as botocore reads it), this Loader."""
    if search_path_string is None:
        return Loader()
    paths = [
        os.path.expanduser(os.path.expandvars(p)) for p in search_path_string.split(os.pathsep)
    ]
    return Loader(extra_search_paths=paths)
