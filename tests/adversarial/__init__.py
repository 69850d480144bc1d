"""Hostile cases: what a reviewer tried in order to lose an upload or get in.

Each test here reproduces an attack or a failure that once worked, through the
real parts (PostgreSQL, moto over HTTP, Chalice's test client) where they are
involved. The next review adds its cases here.
"""
