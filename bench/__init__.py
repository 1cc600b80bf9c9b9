"""Benchmarks behind `make bench`: each `bench/bench_*.py` runs our code and its named baseline
on the same input in the same process and returns numbers; `python -m bench` writes them all to
`bench/results.json`."""
