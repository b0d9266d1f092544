"""ONNX models: an ``onnx.ModelProto``, a path to a ``.onnx`` file, or the file's bytes
(bytes are not detected: pass ``flavor="onnx"``). Saved as ``model.onnx`` after
``onnx.checker`` accepts it (one file: models with external data files are not
supported); loaded into an ``onnxruntime.InferenceSession``.

``predict`` feeds a graph with one input the whole DataFrame (or array) as one tensor,
cast to the input's declared element type; a graph with several inputs gets one input
per DataFrame column of the same name (a column vector when the input is 2-D, as
skl2onnx declares them), or a dict of arrays by input name. A graph with one output
returns it as a numpy array; several outputs come back as one DataFrame, a column per
output (``name_0``, ``name_1``... for the columns of a 2-D output, ``name_KEY`` for a
list of dicts such as a ZipMap of class probabilities).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.registry.flavors._common import from_package, pinned, require, to_frame

MODEL_FILE = "model.onnx"
_DTYPES = {
    "float": "float32",
    "double": "float64",
    "float16": "float16",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "string": "object",
}


class OnnxModel:
    """A loaded ONNX graph (``.session``) with ``predict(model_input)``."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def predict(self, model_input: Any) -> Any:
        outputs = self.session.run(None, self._feed(model_input))
        if len(outputs) == 1:
            return outputs[0]
        return _outputs_frame([o.name for o in self.session.get_outputs()], outputs)

    def _feed(self, model_input: Any) -> dict[str, Any]:
        import numpy as np

        inputs = self.session.get_inputs()
        if len(inputs) == 1 and not isinstance(model_input, dict):
            array = np.asarray(getattr(model_input, "to_numpy", lambda: model_input)())
            return {inputs[0].name: _cast(array, inputs[0])}
        columns = model_input if isinstance(model_input, dict) else to_frame(model_input)
        missing = [i.name for i in inputs if i.name not in columns]
        if missing:
            raise InvalidArgument(
                f"the ONNX graph takes inputs {', '.join(i.name for i in inputs)}; the input "
                f"has no column {', '.join(missing)}"
            )
        return {i.name: _cast(np.asarray(columns[i.name]), i) for i in inputs}


def _cast(array: Any, node: Any) -> Any:
    """``array`` as ``node`` declares it: its element type, and its rank where a column
    vector or a single column is all that differs."""
    element = node.type.removeprefix("tensor(").removesuffix(")")
    if element not in _DTYPES:
        raise InvalidArgument(f"ONNX input {node.name!r} has type {node.type}, not a tensor")
    array = array.astype(_DTYPES[element], copy=False)
    rank = len(node.shape)
    if rank == 2 and array.ndim == 1:
        return array.reshape(-1, 1)
    if rank == 1 and array.ndim == 2 and array.shape[1] == 1:
        return array.reshape(-1)
    return array


def _outputs_frame(names: list[str], outputs: list[Any]) -> Any:
    import numpy as np
    import pandas as pd

    parts = []
    for name, value in zip(names, outputs, strict=True):
        if isinstance(value, list) and value and isinstance(value[0], dict):
            parts.append(pd.DataFrame(value).add_prefix(f"{name}_"))
            continue
        array = np.asarray(value)
        array = array.reshape(len(array), -1) if array.ndim != 1 else array.reshape(-1, 1)
        columns = [name] if array.shape[1] == 1 else [f"{name}_{i}" for i in range(array.shape[1])]
        parts.append(pd.DataFrame(array, columns=columns))
    return pd.concat(parts, axis=1)


class OnnxFlavor:
    name = "onnx"

    def detect(self, model: Any) -> bool:
        if isinstance(model, str | os.PathLike):
            return str(model).lower().endswith(".onnx")
        return from_package(model, "onnx", "ModelProto")

    def save(self, model: Any, folder: str) -> None:
        onnx = require("onnx", "onnx", "onnx")
        if isinstance(model, str | os.PathLike):
            if not Path(model).is_file():
                raise InvalidArgument(f"no ONNX file at {model}")
            data = Path(model).read_bytes()
        elif isinstance(model, bytes | bytearray):
            data = bytes(model)
        elif isinstance(model, onnx.ModelProto):
            data = model.SerializeToString()
        else:
            raise InvalidArgument(
                f"the onnx flavor takes an onnx.ModelProto, a .onnx path or its bytes, not a "
                f"{type(model).__qualname__}"
            )
        try:
            onnx.checker.check_model(onnx.load_model_from_string(data))
        except Exception as exc:  # protobuf decode errors and checker errors alike
            raise InvalidArgument(f"not a valid ONNX model: {exc}") from exc
        Path(folder, MODEL_FILE).write_bytes(data)

    def load(self, folder: str) -> Any:
        ort = require("onnxruntime", "onnx", "onnx")
        session = ort.InferenceSession(
            os.path.join(folder, MODEL_FILE), providers=ort.get_available_providers()
        )
        return OnnxModel(session)

    def requirements(self) -> list[str]:
        require("onnxruntime", "onnx", "onnx")
        return pinned("onnxruntime")


FLAVOR = OnnxFlavor()
