"""Operator commands: ``python -m ops --help``. Not part of the Lambda package.

Chalice packages ``app.py`` and ``chalicelib/`` only; what an operator runs
from a shell lives here (or, for the local stack, in ``devstack/``).
"""
