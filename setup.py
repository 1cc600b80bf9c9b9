"""Lets Beam's `--setup_file=./setup.py` ship this package to Dataflow/Flink/Spark workers."""
from setuptools import setup

setup()
