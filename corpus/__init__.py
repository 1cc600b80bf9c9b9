"""Pure-Python ground floor of llama-corpus: documents, readers, text rules, models, shards.

Nothing in this package imports Apache Beam, so every rule can be unit-tested and reused
outside a pipeline.
"""
