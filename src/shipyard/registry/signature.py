"""Input/output signatures inferred from an input example, in MLflow's column types
(boolean, integer, long, float, double, string, binary, datetime), so requests can be
checked before they reach the model."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument

_KINDS = {"b": "boolean", "i": "long", "u": "long", "f": "double", "M": "datetime"}


def example_frame(example: Any) -> Any:
    """The example as a pandas DataFrame (records, columns dict, array or DataFrame)."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame().T
    if isinstance(example, dict):
        columnar = all(isinstance(v, list | tuple | np.ndarray) for v in example.values())
        return pd.DataFrame(example if columnar else [example])
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        return pd.DataFrame(example)
    if isinstance(example, np.ndarray | list):
        array = np.asarray(example)
        return pd.DataFrame(array if array.ndim == 2 else array.reshape(1, -1))
    raise InvalidArgument(
        f"input_example must be a DataFrame, a dict, records or an array, not "
        f"{type(example).__name__}"
    )


def infer_signature(model: Any, example: Any) -> dict[str, Any]:
    """{"inputs": [{"name", "type"}...], "outputs": [...]} from the example and the
    model's prediction on it."""
    frame = example_frame(example)
    try:
        output = model.predict(frame)
    except Exception as exc:
        raise InvalidArgument(
            f"the model failed to predict on its input_example: {type(exc).__name__}: {exc}"
        ) from exc
    return {"inputs": _columns(frame), "outputs": _outputs(output)}


def _columns(frame: Any) -> list[dict[str, Any]]:
    return [{"name": str(name), "type": _type_of(dtype)} for name, dtype in frame.dtypes.items()]


def _outputs(output: Any) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return _columns(output)
    if isinstance(output, pd.Series):
        return [{"name": str(output.name or "prediction"), "type": _type_of(output.dtype)}]
    array = np.asarray(output)
    if array.ndim <= 1:
        return [{"name": "prediction", "type": _type_of(array.dtype)}]
    return [
        {"name": f"prediction_{i}", "type": _type_of(array.dtype)} for i in range(array.shape[1])
    ]


def _type_of(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    if kind in _KINDS:
        return _KINDS[kind]
    if str(dtype) in ("string", "str", "object"):
        return "string"
    if kind == "S":
        return "binary"
    return "string"
