"""SentencePiece's ModelProto as protobuf messages in this venv, and the model without run paths.

`from sentencepiece import sentencepiece_model_pb2` fails here: the sentencepiece 0.2.3 wheel's
module is protobuf 7 gencode, and Apache Beam pins the runtime below 7 (`VersionError: gencode
7.36.1 runtime 6.33.6`). The schema itself is version-free: the generated module carries it as a
serialised `FileDescriptorProto`. `model_proto_class()` reads that literal from the installed
module's source (without importing it), adds it to a private descriptor pool and builds the message
classes with the runtime's own `message_factory`: the same `ModelProto` on any protobuf runtime,
no protoc and no copy of the schema in this repository.

`parse_model(bytes)` -> a ModelProto (pieces, `trainer_spec`, `normalizer_spec`, ...), editable;
`model.SerializeToString()` gives the bytes SentencePiece loads. `canonical_model` removes the
training run's file paths (TrainerSpec `input`, `model_prefix`) so two identical trainings from
different temporary files give byte-identical models.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
from typing import Any

SCHEMA_MODULE = "sentencepiece.sentencepiece_model_pb2"
MESSAGE = "sentencepiece.ModelProto"


def _serialized_schema() -> bytes:
    """The FileDescriptorProto literal passed to `AddSerializedFile` in sentencepiece's generated module."""
    spec = importlib.util.find_spec(SCHEMA_MODULE)
    if spec is None or not spec.origin:
        raise ImportError(f"{SCHEMA_MODULE} is not installed")
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), spec.origin)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "AddSerializedFile" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, bytes)):
            return node.args[0].value
    raise ImportError(f"{spec.origin}: no serialised schema (AddSerializedFile) found")


@functools.lru_cache(maxsize=1)
def model_proto_class() -> Any:
    """The `sentencepiece.ModelProto` message class for the installed protobuf runtime."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(_serialized_schema()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(MESSAGE))


def parse_model(model: bytes) -> Any:
    """A serialised SentencePiece model as a ModelProto message."""
    proto = model_proto_class()()
    proto.ParseFromString(model)
    return proto


def canonical_model(model: bytes) -> bytes:
    """The model without the run's file paths (TrainerSpec `input` and `model_prefix`).

    Re-serialising writes the fields in number order, as SentencePiece's C++ writer does, so a
    model without paths comes back byte for byte (tested)."""
    proto = parse_model(model)
    proto.trainer_spec.ClearField("input")
    proto.trainer_spec.ClearField("model_prefix")
    return proto.SerializeToString()
