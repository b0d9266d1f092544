"""Turn Python objects into blobs and back, choosing a format by type.

    numpy.ndarray (non-object dtype)   -> "numpy"    .npy, streamed both ways
    pandas.DataFrame                   -> "pandas"   Parquet (falls back to pickle if Arrow cannot)
    pyarrow.Table                      -> "arrow"    Parquet
    bytes / bytearray                  -> "bytes"    raw
    str                                -> "text"     UTF-8
    anything else                      -> "pickle"   cloudpickle

Extend with ``register_serializer``; the first serializer whose ``accepts`` says yes wins,
and registered ones are tried before the built-ins. Each artifact records the serializer's
name so it loads back with the same one.
"""

from __future__ import annotations

import io
from typing import IO, Any, Protocol

from shipyard.errors import InvalidArgument


class Serializer(Protocol):
    name: str
    extension: str

    def accepts(self, obj: Any) -> bool: ...
    def dump(self, obj: Any, out: IO[bytes]) -> None: ...
    def load(self, source: IO[bytes]) -> Any: ...


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


class NumpySerializer:
    name, extension = "numpy", ".npy"

    def accepts(self, obj: Any) -> bool:
        return (
            _module(obj) == "numpy" and type(obj).__name__ == "ndarray" and not obj.dtype.hasobject
        )

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        import numpy as np

        np.lib.format.write_array(out, np.asanyarray(obj), allow_pickle=False)

    def load(self, source: IO[bytes]) -> Any:
        import numpy as np

        return np.lib.format.read_array(source, allow_pickle=False)


def _read_all(source: IO[bytes]) -> bytes:
    return source.read()


class PandasSerializer:
    name, extension = "pandas", ".parquet"

    def accepts(self, obj: Any) -> bool:
        return _module(obj) == "pandas" and type(obj).__name__ == "DataFrame"

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(obj), out)

    def load(self, source: IO[bytes]) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(_read_all(source))).to_pandas()


class ArrowSerializer:
    name, extension = "arrow", ".parquet"

    def accepts(self, obj: Any) -> bool:
        return _module(obj) == "pyarrow" and type(obj).__name__ == "Table"

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        pq.write_table(obj, out)

    def load(self, source: IO[bytes]) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(_read_all(source)))


class BytesSerializer:
    name, extension = "bytes", ""

    def accepts(self, obj: Any) -> bool:
        return isinstance(obj, bytes | bytearray)

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        out.write(bytes(obj))

    def load(self, source: IO[bytes]) -> Any:
        return _read_all(source)


class TextSerializer:
    name, extension = "text", ".txt"

    def accepts(self, obj: Any) -> bool:
        return isinstance(obj, str)

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        out.write(obj.encode("utf-8"))

    def load(self, source: IO[bytes]) -> Any:
        return _read_all(source).decode("utf-8")


class PickleSerializer:
    name, extension = "pickle", ".pkl"

    def accepts(self, obj: Any) -> bool:
        return True

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        import cloudpickle

        try:
            cloudpickle.dump(obj, out, protocol=5)
        except (TypeError, ValueError, OSError):
            raise
        except Exception as exc:  # PicklingError, or whatever a __reduce__ raises
            raise TypeError(f"cannot pickle {type(obj).__qualname__}: {exc}") from exc

    def load(self, source: IO[bytes]) -> Any:
        import pickle

        return pickle.load(source)


_BUILTINS: list[Serializer] = [
    NumpySerializer(),
    PandasSerializer(),
    ArrowSerializer(),
    BytesSerializer(),
    TextSerializer(),
    PickleSerializer(),
]
_registered: list[Serializer] = []


def register_serializer(serializer: Serializer) -> None:
    """Add a serializer, tried before the built-ins (and before earlier registrations)."""
    for attr in ("name", "accepts", "dump", "load"):
        if not hasattr(serializer, attr):
            raise InvalidArgument(f"a serializer needs a {attr!r} attribute")
    # a new registration under a taken name replaces the old one (e.g. a re-run notebook cell)
    _registered[:] = [serializer, *(r for r in _registered if r.name != serializer.name)]


def serializers() -> list[Serializer]:
    return [*_registered, *_BUILTINS]


def choose(obj: Any) -> Serializer:
    return next(s for s in serializers() if s.accepts(obj))


def by_name(name: str) -> Serializer:
    for serializer in serializers():
        if serializer.name == name:
            return serializer
    raise InvalidArgument(
        f"no serializer named {name!r} is registered in this process; "
        "register_serializer() it before loading this artifact"
    )


def fallback() -> Serializer:
    return _BUILTINS[-1]


def dumps(obj: Any, serializer: Serializer | None = None) -> bytes:
    buffer = io.BytesIO()
    (serializer or choose(obj)).dump(obj, buffer)
    return buffer.getvalue()
