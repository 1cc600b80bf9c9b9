"""Reference LLaMA trainer over the mixture shards (no Beam)."""
