"""Mixture: plan the LLaMA Table 1 proportions and write mixed token shards; the data card."""
