"""The pure core: CSV rules and profiling, events, keys, results, deadline, errors.

Nothing in this package imports boto3, botocore, pg8000 or an adapter
(``tests/unit/test_architecture.py`` walks the imports and fails otherwise):
it takes bytes, mappings and numbers and returns immutable values (dataclasses,
and NamedTuples for the profile's types, which the CLI imports without dataclasses).
"""
