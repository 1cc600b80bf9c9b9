"""The `llama-corpus` console script: one command in front of every entry point (see `cli`)."""
