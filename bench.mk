# Benchmarks (included from the Makefile); see docs/benchmarks.md.
#   make bench              corpora of 256 MB (and 1 GB, and a 300 MB field) under .bench/
#   make bench BENCH_MB=16  a quick run on small corpora
#   make bench-plot         redraw docs/benchmarks-*.png from .bench/results.json
BENCH_MB ?= 256
BENCH_REPEAT ?= 3
BENCH_SAMPLE_REPEAT ?= 21
BENCH_VENV ?= .venv
BENCH_STAMP := $(BENCH_VENV)/.bench-installed
# Small uploads are measured against main before issue 12 (rules 1-15, the column
# sample), interleaved in one run: docs/benchmarks.md, "Small uploads".
LATENCY_REF ?= 8630658

.PHONY: bench bench-plot

$(BENCH_STAMP): requirements.txt requirements-dev.txt requirements-bench.txt
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r requirements-dev.txt -r requirements-bench.txt
	touch $@

## make bench: the profiler against the csv module and wc -l (throughput, peak RSS),
## the CPU the column sample adds (against PROFILE_ROWS=0), the CLI's --jobs 2 against
## --jobs 1 by file size,
## parallel ranged GETs against one GET, contract validation against the csv module
## and a straightforward validator, cold start against import boto3, and
## the end-to-end latency of small uploads on the local stack against LATENCY_REF
bench: $(BENCH_STAMP) native
	BENCH_MB=$(BENCH_MB) BENCH_REPEAT=$(BENCH_REPEAT) $(BENCH_VENV)/bin/python -m bench
	$(BENCH_VENV)/bin/python -m bench.sample --mb $(BENCH_MB) --repeat $(BENCH_SAMPLE_REPEAT)
	$(BENCH_VENV)/bin/python -m bench.parallel --corpus .bench/sparse-quote-$(BENCH_MB)MB.csv --sizes 4,8,16,32,64,$(BENCH_MB) --repeat $(BENCH_REPEAT)
	$(BENCH_VENV)/bin/python -m bench.ranged --mb $(BENCH_MB) --cap 40
	$(BENCH_VENV)/bin/python -m bench.contracts --mb $(BENCH_MB) --repeat $(BENCH_REPEAT) --broken
	$(BENCH_VENV)/bin/python -m bench.coldstart --runs 21 --json .bench/coldstart.json --plot docs/benchmarks-coldstart.png
	$(BENCH_VENV)/bin/python -m bench.latency --uploads 100 --ref $(LATENCY_REF)

## make bench-plot: redraw the plots in docs/ from the last results
bench-plot: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench plot
