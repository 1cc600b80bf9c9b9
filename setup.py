"""Lets Beam's `--setup_file=./setup.py` ship this package to Dataflow/Flink/Spark workers.

Metadata is in setup.cfg. Two files the installed package needs live outside its directories in
the repo; the build copies them into `corpus/data/` so an installed package finds them too:
the samples manifest (`corpus.samples`) and the KenLM build script (`llama-corpus build-kenlm`).
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

BESIDE = {
    os.path.join("samples", "manifest.json"): os.path.join("corpus", "data", "samples_manifest.json"),
    os.path.join("scripts", "build_kenlm.sh"): os.path.join("corpus", "data", "build_kenlm.sh"),
}


class BuildPy(build_py):
    """build_py plus the files of BESIDE, copied into the built package."""

    def run(self) -> None:
        super().run()
        for source, target in BESIDE.items():
            if not os.path.isfile(source):
                raise FileNotFoundError(f"{source} is missing from the source tree")
            built = os.path.join(self.build_lib, target)
            self.mkpath(os.path.dirname(built))
            self.copy_file(source, built)


setup(cmdclass={"build_py": BuildPy})
