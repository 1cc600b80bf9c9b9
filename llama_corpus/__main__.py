"""`python -m llama_corpus` is the `llama-corpus` console script."""
from llama_corpus.cli import main

raise SystemExit(main())
