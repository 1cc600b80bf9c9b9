"""Seeded permutations of [0, n) evaluated lazily at any index, in O(1) memory.

`Permutation(n, key)[i]` is the i-th element of a pseudo-random permutation of `range(n)`, for a
numpy array of indices at once. It is a 4-round Feistel network over the smallest even-bit
power-of-two domain >= n, with cycle walking to stay inside [0, n) (Black & Rogaway 2002); the
round function is SplitMix64's finaliser keyed from `numpy.random.SeedSequence(key)`.

Why not `numpy.random.permutation(n)`: the mixture sampler and the trainer need permutations of
up to ~10^9 documents/windows, and every output shard (or batch) must find its own elements
without materialising the whole permutation (8 bytes x n) or depending on earlier shards.

Deterministic across platforms and numpy versions (only integer arithmetic on uint64).
"""
from __future__ import annotations

import zlib
from typing import Iterable, Union

import numpy as np

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def key_of(*parts: Union[int, str]) -> list[int]:
    """A SeedSequence entropy list from ints and strings (strings by CRC-32, stable across runs)."""
    return [p if isinstance(p, int) else zlib.crc32(p.encode("utf-8")) for p in parts]


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)


class Permutation:
    """A bijection of [0, n) chosen by `key` (an int or a list of ints, see `key_of`)."""

    ROUNDS = 4

    def __init__(self, n: int, key: Union[int, Iterable[int]]):
        if n < 0:
            raise ValueError("n must be >= 0")
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        bits += bits % 2
        self._half = np.uint64(bits // 2)
        self._mask = np.uint64((1 << (bits // 2)) - 1)
        entropy = [key] if isinstance(key, int) else list(key)
        self._keys = np.random.SeedSequence(entropy).generate_state(self.ROUNDS, dtype=np.uint64)

    def __len__(self) -> int:
        return self.n

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self._half, x & self._mask
        with np.errstate(over="ignore"):
            for k in self._keys:
                left, right = right, left ^ (_mix(right ^ k) & self._mask)
        return (left << self._half) | right

    def _decrypt(self, y: np.ndarray) -> np.ndarray:
        left, right = y >> self._half, y & self._mask
        with np.errstate(over="ignore"):
            for k in self._keys[::-1]:
                left, right = right ^ (_mix(left ^ k) & self._mask), left
        return (left << self._half) | right

    def _walk(self, values, step, what: str) -> Union[int, np.ndarray]:
        """`step` applied to each value until it lands in [0, n) (cycle walking: the domain is < 4n,
        so this ends fast)."""
        scalar = np.isscalar(values)
        x = np.atleast_1d(np.asarray(values, dtype=np.int64))
        if x.size and (x.min() < 0 or x.max() >= self.n):
            raise IndexError(f"{what} out of range for a permutation of {self.n}")
        if self.n <= 1:
            out = x.copy()
        else:
            y = step(x.astype(np.uint64))
            outside = y >= np.uint64(self.n)
            while outside.any():
                y[outside] = step(y[outside])
                outside = y >= np.uint64(self.n)
            out = y.astype(np.int64)
        return int(out[0]) if scalar else out

    def inverse(self, value: Union[int, np.ndarray]) -> Union[int, np.ndarray]:
        """The index at which `value` appears: `p.inverse(p[i]) == i`."""
        return self._walk(value, self._decrypt, "value")

    def __getitem__(self, index: Union[int, np.ndarray]) -> Union[int, np.ndarray]:
        return self._walk(index, self._encrypt, "index")

    def range(self, start: int, stop: int) -> np.ndarray:
        """Elements `start..stop-1` of the permutation."""
        return self[np.arange(start, stop, dtype=np.int64)]
