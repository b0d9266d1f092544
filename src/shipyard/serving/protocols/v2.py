"""Open Inference Protocol (KServe v2) request parsing and response building.

Inputs are either one tensor per signature column (shape [n] or [n, 1]) or a single
[n, k] tensor whose k columns are the signature's inputs in order. Outputs are one tensor
named after the signature's output (``prediction``), flattened row-major as v2 requires.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.serving.schema import Columns

DATATYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "U": "BYTES", "O": "BYTES"}
SIGNATURE_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}


def parse(payload: Any, signature_names: list[str]) -> tuple[Columns, int]:
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInput(
            'a v2 infer request needs "inputs": [{"name", "shape", "datatype", "data"}, ...]'
        )
    tensors = payload["inputs"]
    if not tensors:
        raise InvalidInput("a v2 infer request needs at least one input tensor")
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not {"name", "shape", "data"} <= tensor.keys():
            raise InvalidInput(f'input tensor {i} needs "name", "shape" and "data"')
    if len(tensors) == 1 and tensors[0]["name"] not in signature_names:
        return _matrix(tensors[0], signature_names)
    columns: Columns = {}
    rows = set()
    for tensor in tensors:
        name, shape = str(tensor["name"]), _shape(tensor)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(f"input {name!r} must have shape [n] or [n, 1], not {shape}", name)
        columns[name] = _flat(tensor, math.prod(shape))
        rows.add(shape[0])
    if len(rows) != 1:
        raise InvalidInput(f"input tensors must have the same first dimension; got {sorted(rows)}")
    return columns, rows.pop()


def _matrix(tensor: dict[str, Any], names: list[str]) -> tuple[Columns, int]:
    shape = _shape(tensor)
    if len(shape) != 2 or shape[1] != len(names):
        raise InvalidInput(
            f"a single input tensor must have shape [n, {len(names)}] (columns "
            f"{', '.join(names)}), or name each input tensor after a column; got "
            f"{tensor['name']!r} with shape {shape}"
        )
    data = _flat(tensor, shape[0] * shape[1])
    width = shape[1]
    return {name: data[j::width] for j, name in enumerate(names)}, shape[0]


def _shape(tensor: dict[str, Any]) -> list[int]:
    shape = tensor["shape"]
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d > 0 for d in shape):
        raise InvalidInput(f"input {tensor['name']!r} has an invalid shape {shape!r}")
    return shape


def _flat(tensor: dict[str, Any], size: int) -> list[Any]:
    data = tensor["data"]
    if not isinstance(data, list):
        raise InvalidInput(f"input {tensor['name']!r} data must be a list")
    if data and isinstance(data[0], list):  # nested row-major data is allowed too
        data = [v for row in data for v in (row if isinstance(row, list) else [row])]
    if len(data) != size:
        raise InvalidInput(
            f"input {tensor['name']!r} has {len(data)} values; its shape needs {size}",
            str(tensor["name"]),
        )
    return data


def output_tensors(predictions: Any, names: list[str]) -> list[dict[str, Any]]:
    array = np.asarray(predictions)
    datatype = DATATYPES.get(array.dtype.kind, "BYTES")
    name = names[0] if len(names) == 1 else "prediction"
    return [
        {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype,
            "data": array.reshape(-1).tolist(),
        }
    ]


def tensor_metadata(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": c["name"],
            "datatype": SIGNATURE_TYPES.get(str(c.get("type")), "BYTES"),
            "shape": [-1],
        }
        for c in columns
    ]
