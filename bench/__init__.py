"""Benchmarks of the streaming CSV profiler against the csv module.

``python -m bench`` (or ``make bench``) builds the corpora under ``.bench/`` if
they are missing, runs every tool on every corpus as its own process, prints
one table of throughput and peak memory, and saves the figures to
``.bench/results.json``; ``python -m bench plot`` draws them into ``docs/``.
``BENCH_MB`` scales the corpora down for a quick run (default 256).
"""
