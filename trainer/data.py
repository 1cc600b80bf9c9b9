"""Fixed-length training windows over the mixture's Megatron shards, in a seeded, resumable order.

The mixture's shards (`manifest.json` + `mixture_NNNNN.bin/.idx`) are memory-mapped and read as
one token stream (documents back to back, as nanoGPT and Megatron's GPT dataset do; document
boundaries are not masked). Window w is tokens [w*T, w*T + T + 1): inputs are its first T tokens,
targets the last T. Windows do not overlap except for that one token.

Order: sample s (counting from 0 over the whole run) is window `perm_e[s mod W]` of epoch
e = s // W, `perm_e` a seeded lazy permutation (`corpus.permute`) of the W windows. The whole data
position is therefore one integer, the next sample index, and a run resumed from it reads exactly
the samples an uninterrupted run would have.

Honest data: the shards are checked against the manifest before training (sha256 of every file,
structure, token ids below the vocabulary; `verify=False` keeps only the structural check), and
every window read is checked against the vocabulary, so a corrupt shard is named instead of
reaching the embedding as a bare IndexError. A remote `--data` (`s3://`, ...) is staged to a
local temporary folder first (every rank stages its own copy; a shared file system avoids that).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from corpus import paths
from corpus import shards as shardlib
from corpus.permute import Permutation, key_of


class TokenStream:
    """Every token of a shard series as one virtual array (memory maps, nothing loaded)."""

    def __init__(self, directory: str | Path, verify: bool = True, stage_dir: Optional[str] = None):
        source = str(directory)
        manifest_path = paths.join(source, shardlib.MANIFEST_NAME)
        if not paths.exists(manifest_path):
            raise FileNotFoundError(f"{manifest_path} not found: run `python -m mixture.sample` first")
        self._staged: Optional[tempfile.TemporaryDirectory] = None
        if paths.is_remote(source):
            self._staged = tempfile.TemporaryDirectory(prefix="trainer-data-", dir=stage_dir)
            self.directory = shardlib.stage_series(source, self._staged.name, check_digests=verify)
        else:
            self.directory = Path(paths.local_path(source))
            shardlib.verify_series(self.directory, check_digests=verify)
        self.manifest = shardlib.read_manifest(self.directory)
        self.manifest_sha256 = shardlib.sha256_file(self.directory / shardlib.MANIFEST_NAME)
        self.arrays, self.names = [], []
        for prefix in self.manifest.prefixes(self.directory):
            ds = shardlib.IndexedDataset(prefix)
            if ds.total_tokens:
                self.arrays.append(ds.tokens)
                self.names.append(prefix + ".bin")
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
            part = out[filled : filled + take]
            part[:] = self.arrays[i][local : local + take]
            bad = np.flatnonzero((part < 0) | (part >= self.vocab_size)) if take else ()
            if len(bad):
                raise shardlib.ShardError(
                    f"{self.names[i]}: token id {int(part[bad[0]])} at token {local + int(bad[0])} is out of "
                    f"the vocabulary (vocab_size {self.vocab_size} in {shardlib.MANIFEST_NAME})")
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
