"""Fixed-length training windows over the mixture's Megatron shards, in a seeded, resumable order.

The mixture's shards (`manifest.json` + `mixture_NNNNN.bin/.idx`) are memory-mapped and read as
one token stream (documents back to back, as nanoGPT and Megatron's GPT dataset do; document
boundaries are not masked). Window w is tokens [w*T, w*T + T + 1): inputs are its first T tokens,
targets the last T. Windows do not overlap except for that one token.

Order: sample s (counting from 0 over the whole run) is window `perm_e[s mod W]` of epoch
e = s // W, `perm_e` a seeded lazy permutation (`corpus.permute`) of the W windows. The whole data
position is therefore one integer, the next sample index, and a run resumed from it reads exactly
the samples an uninterrupted run would have.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from corpus import paths
from corpus import shards as shardlib
from corpus.permute import Permutation, key_of


class TokenStream:
    """Every token of a shard series as one virtual array (memory maps, nothing loaded)."""

    def __init__(self, directory: str | Path):
        if paths.is_remote(str(directory)):
            raise ValueError(f"{directory}: token shards are memory-mapped; copy them to a local or shared "
                             f"file system every rank can read")
        self.directory = Path(paths.local_path(str(directory)))
        manifest_path = self.directory / shardlib.MANIFEST_NAME
        if not manifest_path.exists():
            raise FileNotFoundError(f"{manifest_path} not found: run `python -m mixture.sample` first")
        self.manifest = shardlib.read_manifest(self.directory)
        self.manifest_sha256 = shardlib.sha256_file(manifest_path)
        self.arrays = []
        for prefix in self.manifest.prefixes(self.directory):
            ds = shardlib.IndexedDataset(prefix)
            if ds.total_tokens:
                self.arrays.append(ds.tokens)
        self.offsets = np.cumsum([0] + [a.size for a in self.arrays])
        self.total_tokens = int(self.offsets[-1])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest.vocab_size)

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) as int64, across shard boundaries."""
        out = np.empty(length, dtype=np.int64)
        filled = 0
        i = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while filled < length:
            local = start + filled - int(self.offsets[i])
            take = min(length - filled, self.arrays[i].size - local)
            out[filled : filled + take] = self.arrays[i][local : local + take]
            filled += take
            i += 1
        return out


class Windows:
    """Seeded order of fixed-length windows; `batch(first_sample, n)` -> (inputs, targets) arrays."""

    def __init__(self, stream: TokenStream, seq_len: int, seed: int):
        self.stream, self.seq_len, self.seed = stream, seq_len, seed
        self.count = (stream.total_tokens - 1) // seq_len
        if self.count < 1:
            raise ValueError(
                f"{stream.directory}: {stream.total_tokens} tokens, fewer than one window of {seq_len + 1}"
            )
        self._perm_epoch, self._perm = -1, None

    def window_of(self, sample: int) -> int:
        epoch, offset = divmod(sample, self.count)
        if epoch != self._perm_epoch:
            self._perm_epoch, self._perm = epoch, Permutation(self.count, key_of(self.seed, "windows", epoch))
        return self._perm[offset]

    def batch(self, first_sample: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.stack([self.stream.read(self.window_of(s) * self.seq_len, self.seq_len + 1)
                         for s in range(first_sample, first_sample + size)])
        return rows[:, :-1], rows[:, 1:]
