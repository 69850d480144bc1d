"""Hostile cases: what an uploader, a caller or a broken dependency does on purpose or by
accident to make the system lie, leak, hang or let someone in.

One test per attack or failure, named for what must not happen, each proven to fail on the
code before its fix. Add the next review's cases here: forged lines in emails, oversized
numbers, waits that outlast the function, internals in messages, missing hardening of the
responses and the template.
"""
