"""SentencePiece's ModelProto, edited at the protobuf wire level: the model without run paths.

SentencePiece records the training run's file paths in the model (TrainerSpec `input` and
`model_prefix`), so two identical trainings from different temporary files would differ.
`canonical_model` removes them. sentencepiece's generated `_pb2` module refuses the protobuf
runtime Apache Beam pins, and these two fields are all that needs to change, so the wire format
is walked directly.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

_TRAINER_SPEC = 2  # ModelProto.trainer_spec
_RUN_PATHS = (1, 2)  # TrainerSpec.input, TrainerSpec.model_prefix


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, whole field bytes, payload of a length-delimited field)."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        wire = key & 7
        payload = b""
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            payload = buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, wire, buf[start:pos], payload


def canonical_model(model: bytes, inputs: Sequence[str] = (), prefix: Optional[str] = None) -> bytes:
    """The model without the run's file paths (TrainerSpec `input`, `model_prefix`).

    Done on the protobuf wire format: sentencepiece's generated `_pb2` module refuses the
    protobuf runtime Apache Beam pins, and these two fields are all that needs to change. When
    the paths are known, their serialised bytes are found directly (TrainerSpec writes them
    first); otherwise every field is walked.
    """
    if inputs and prefix is not None:
        fast = _strip_known_paths(model, inputs, prefix)
        if fast is not None:
            return fast
    out = bytearray()
    for number, wire, raw, payload in _fields(model):
        if number == _TRAINER_SPEC and wire == 2:
            kept = b"".join(r for n, _, r, _ in _fields(payload) if n not in _RUN_PATHS)
            out += _encode_varint((_TRAINER_SPEC << 3) | 2) + _encode_varint(len(kept)) + kept
        else:
            out += raw
    return bytes(out)


def _strip_known_paths(model: bytes, inputs: Sequence[str], prefix: str) -> Optional[bytes]:
    def string_field(number: int, value: str) -> bytes:
        data = value.encode("utf-8")
        return _encode_varint((number << 3) | 2) + _encode_varint(len(data)) + data

    needle = b"".join(string_field(1, i) for i in inputs) + string_field(2, prefix)
    pos = model.find(needle)
    if pos < 0 or model.find(needle, pos + 1) >= 0:
        return None
    for width in range(1, 6):  # the TrainerSpec header (tag 2, varint length) ends at `pos`
        start = pos - width - 1
        if start < 0 or model[start] != (_TRAINER_SPEC << 3) | 2:
            continue
        try:
            length, end = _varint(model, start + 1)
        except IndexError:
            continue
        if end == pos and pos + length <= len(model) and length >= len(needle):
            header = _encode_varint((_TRAINER_SPEC << 3) | 2) + _encode_varint(length - len(needle))
            return model[:start] + header + model[pos + len(needle):]
    return None

