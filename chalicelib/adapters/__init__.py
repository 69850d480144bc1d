"""Adapters: each wraps one outside system and is handed its client.

``aws`` (clients and the one translation of AWS errors), ``storage`` (S3
reads that yield bytes, result writes), ``backup``, ``notify``, ``secrets``
and ``database`` (pg8000, with its SQL in ``sql/``). They import the core,
never the layers above them.
"""
