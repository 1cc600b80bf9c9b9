"""Apache Beam wiring, one module per LLaMA source. Text logic lives in `corpus/`."""
