"""Where moto departs from AWS on hostile input, brought back in line (tests only).

S3 keys may hold a line feed; moto's server routes object requests with URL
patterns whose ``.`` stops at one, and answers 404 for such a key. The pattern
is made to match line feeds too (``(?s:...)``), before moto builds its routes
(at collection, before any test runs). Nothing of the project's code changes.
"""

from __future__ import annotations

from typing import Any

from moto.moto_server import utilities

_original_init = utilities.RegexConverter.__init__


def _dotall_init(self: Any, url_map: Any, *items: Any) -> None:
    _original_init(self, url_map, *items)
    self.regex = f"(?s:{self.regex})"


utilities.RegexConverter.__init__ = _dotall_init  # type: ignore[method-assign]
