"""Benchmarks of attnlib against the implementations learners would otherwise copy.

`python -m bench` (or `make bench`) runs them all and writes bench/results.md,
bench/results.json and bench/scaling.png; `--quick` runs tiny sizes in seconds,
`--only NAME` a subset. The baselines live in bench/baselines.py. Nothing in
attnlib imports this package.
"""
