"""The straightforward contract validator: one :meth:`FieldSpec.check` per cell.

The reference profiler (:mod:`chalicelib.core.csvreference`) hands it the header
and then every record with the header's field count, with rule 13's ``row`` and
``line``. It is the oracle the fast validator (inside the fast profiler) is held
to, and is itself held to frictionless-py by a differential test.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.contracts import Contract, ContractReport, ContractTally, header_report


def header_verdict(contract: Contract, header: Sequence[str]) -> ContractReport | None:
    """The report of a header that does not match ``contract``, or None when it does."""
    problems = contract.header_problems(header)
    return header_report(contract, problems) if problems else None


class ReferenceValidator:
    """Checks records against a contract whose header matched."""

    def __init__(self, contract: Contract, header: Sequence[str]) -> None:
        self._checks = tuple(zip(contract.positions(header), contract.fields, strict=True))
        self._tally = ContractTally(contract)

    def record(self, row: int, line: int, fields: Sequence[str]) -> None:
        """One record with the header's field count (rule 13's ``row`` and ``line``)."""
        for index, (position, spec) in enumerate(self._checks):
            value = fields[position]
            rule = spec.check(value)
            if rule is not None:
                self._tally.add(row, line, index, rule, value)

    def report(self) -> ContractReport:
        return self._tally.report()
