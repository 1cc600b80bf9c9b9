"""LLaMA's tokenizer (SentencePiece BPE) and the Beam job that turns documents into token shards.

`pipelines` is imported first so its log filter is in place before `tokenizer.encode` imports Beam.
"""
import pipelines  # noqa: F401
