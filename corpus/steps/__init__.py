"""The steps of each source, one module per source: thin `corpus.step.Step`s over the text rules
of `corpus/<source>.py`, each with the params dataclass its flags come from."""
