"""Objects to blobs and back: each type picks its format and comes back equal."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.errors import IntegrityError, InvalidArgument
from shipyard.store import serializers
from shipyard.store.blobs import BlobStore
from shipyard.store.objects import store_object

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def shared_blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    """One store for the property tests: content addressing makes sharing harmless."""
    return BlobStore(tmp_path_factory.mktemp("serializer-blobs"))


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def restore_registry() -> Iterator[None]:
    saved = list(serializers._registered)
    yield
    serializers._registered[:] = saved


def round_trip(blobs: BlobStore, obj: Any) -> tuple[str, Any]:
    """Store as log_object does, load as load_artifact does: (serializer name, object)."""
    info, name = store_object(blobs, obj)
    with blobs.open(info.hash) as reader:
        return name, serializers.by_name(name).load(reader)


def no_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- round-trip properties --------------------------------------------------------------

NUMPY_DTYPES = (
    hnp.scalar_dtypes()
    | hnp.integer_dtypes(endianness="?")
    | hnp.floating_dtypes(endianness="?")
    | hnp.byte_string_dtypes()
    | hnp.unicode_string_dtypes()
    # structured records; non-latin-1 field names make numpy warn about .npy format 3.0
    | st.lists(
        st.tuples(st.text("abcxyz_", min_size=1, max_size=4), hnp.scalar_dtypes()),
        min_size=1,
        max_size=3,
        unique_by=lambda field: field[0],
    ).map(np.dtype)
)


@PROPERTY
@given(
    array=hnp.arrays(NUMPY_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0)),
    layout=st.sampled_from(["c", "fortran", "strided"]),
)
def test_numpy_arrays_round_trip_exactly(
    shared_blobs: BlobStore, array: np.ndarray, layout: str
) -> None:
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = array[::2]

    name, loaded = round_trip(shared_blobs, array)

    assert name == "numpy"
    assert type(loaded) is np.ndarray
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    assert loaded.tobytes() == array.tobytes()  # bit for bit: NaN payloads, -0.0, NaT


FRAME_TEXT = st.text(max_size=12).filter(no_surrogates)


@st.composite
def data_frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=8))

    def column(elements: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(elements, min_size=rows, max_size=rows))

    return pd.DataFrame(
        {
            "ints": pd.Series(column(st.integers(-(2**63), 2**63 - 1)), dtype="int64"),
            "floats": pd.Series(column(st.floats(allow_infinity=True)), dtype="float64"),
            "flags": pd.Series(column(st.booleans()), dtype="bool"),
            "text": pd.Series(column(FRAME_TEXT), dtype="str"),
        }
    )


@PROPERTY
@given(frame=data_frames())
def test_data_frames_round_trip_through_parquet(
    shared_blobs: BlobStore, frame: pd.DataFrame
) -> None:
    name, loaded = round_trip(shared_blobs, frame)

    assert name == "pandas"
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)


@PROPERTY
@given(data=st.binary(max_size=2000))
def test_bytes_round_trip(shared_blobs: BlobStore, data: bytes) -> None:
    assert round_trip(shared_blobs, data) == ("bytes", data)
    assert round_trip(shared_blobs, bytearray(data)) == ("bytes", data)


@PROPERTY
@given(text=st.text(max_size=200))
def test_str_round_trips_as_utf8_text_or_pickle_when_it_cannot_be_encoded(
    shared_blobs: BlobStore, text: str
) -> None:
    name, loaded = round_trip(shared_blobs, text)

    assert loaded == text
    assert name == ("text" if no_surrogates(text) else "pickle")


PICKLABLE_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.complex_numbers(allow_nan=False)
    | st.text(max_size=10)
    | st.binary(max_size=10)
)
PICKLABLE = st.recursive(
    PICKLABLE_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=4)
    ),
    max_leaves=20,
)
CONTAINERS = (
    st.lists(PICKLABLE, max_size=4)
    | st.tuples(PICKLABLE, PICKLABLE)
    | st.dictionaries(st.text(max_size=5), PICKLABLE, max_size=4)
)


@PROPERTY
@given(obj=CONTAINERS)
def test_plain_python_objects_round_trip_through_pickle(shared_blobs: BlobStore, obj: Any) -> None:
    name, loaded = round_trip(shared_blobs, obj)

    assert name == "pickle"
    assert loaded == obj
    assert type(loaded) is type(obj)


# -- which serializer each type gets ----------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (np.arange(6, dtype=np.float32).reshape(2, 3), "numpy"),
        (np.array("scalar"), "numpy"),
        (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "pandas"),
        (pa.table({"a": [1, 2], "b": ["x", "y"]}), "arrow"),
        (b"raw", "bytes"),
        (bytearray(b"raw"), "bytes"),
        ("text", "text"),
        ({"a": 1}, "pickle"),
        ([1, 2], "pickle"),
        ((1, "a"), "pickle"),
        (3.5, "pickle"),
        (np.float64(2.5), "pickle"),  # a numpy scalar is not an ndarray
        (pd.Series([1, 2]), "pickle"),
        (np.array([1, "a", None], dtype=object), "pickle"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_each_type_picks_its_serializer(blobs: BlobStore, obj: Any, expected: str) -> None:
    assert serializers.choose(obj).name == expected

    name, loaded = round_trip(blobs, obj)

    assert name == expected
    if isinstance(obj, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, obj)
    elif isinstance(obj, pd.Series):
        pd.testing.assert_series_equal(loaded, obj)
    elif isinstance(obj, pa.Table):
        assert loaded.equals(obj)
    elif isinstance(obj, np.ndarray):
        assert loaded.dtype == obj.dtype
        assert loaded.tolist() == obj.tolist()
    else:
        assert loaded == obj


def test_object_dtype_arrays_fall_back_to_pickle(blobs: BlobStore) -> None:
    array = np.array([{"k": 1}, [1, 2], None, "s"], dtype=object)

    name, loaded = round_trip(blobs, array)

    assert name == "pickle"
    assert loaded.dtype == object
    assert loaded.tolist() == array.tolist()


def test_structured_arrays_with_an_object_field_fall_back_to_pickle(blobs: BlobStore) -> None:
    array = np.array([(1, {"a": 1})], dtype=[("n", "i4"), ("o", "O")])

    name, loaded = round_trip(blobs, array)

    assert name == "pickle"
    assert loaded.tolist() == array.tolist()


def test_array_subclasses_keep_their_type_through_pickle(blobs: BlobStore) -> None:
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])

    name, loaded = round_trip(blobs, masked)

    assert name == "pickle"
    assert isinstance(loaded, np.ma.MaskedArray)
    assert loaded.mask.tolist() == [False, True, False]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"mixed": [1, "one"]}),
        pd.DataFrame({"nested": [{"a": 1}, 3]}),
        pd.DataFrame({"surrogate": pd.Series(["\ud800"], dtype=object)}),
    ],
    ids=["mixed", "nested", "surrogate"],
)
def test_a_frame_arrow_cannot_convert_falls_back_to_pickle(
    blobs: BlobStore, frame: pd.DataFrame
) -> None:
    assert serializers.choose(frame).name == "pandas"

    name, loaded = round_trip(blobs, frame)

    assert name == "pickle"
    pd.testing.assert_frame_equal(loaded, frame)
    assert len(list(blobs.iter_blobs())) == 1  # the failed Parquet attempt left nothing
    assert list(blobs.iter_temp_files()) == []


def test_a_large_pickled_object_round_trips(blobs: BlobStore) -> None:
    obj = {"weights": bytearray(range(256)) * 40_000, "meta": ("v1", 3)}  # ~10 MB

    name, loaded = round_trip(blobs, obj)

    assert name == "pickle"
    assert loaded == obj


# -- objects that cannot be stored -------------------------------------------------------


class _RefusesToPickle:
    def __reduce__(self) -> Any:
        raise RuntimeError("this object guards a live connection")


@pytest.mark.parametrize(
    ("obj", "type_name"),
    [
        ((n for n in range(3)), "generator"),
        (threading.Lock(), "lock"),
        ({"lock": threading.Lock()}, "dict"),
        (pd.DataFrame({"lock": [threading.Lock()]}), "DataFrame"),
        (_RefusesToPickle(), "_RefusesToPickle"),
    ],
    ids=["generator", "lock", "dict-with-lock", "frame-with-lock", "reduce-raises"],
)
def test_an_unpicklable_object_is_invalid_argument_and_stores_nothing(
    blobs: BlobStore, obj: Any, type_name: str
) -> None:
    with pytest.raises(InvalidArgument, match=f"cannot store an object of type .*{type_name}"):
        store_object(blobs, obj)

    assert list(blobs.iter_blobs()) == []
    assert list(blobs.iter_temp_files()) == []


# -- corrupt blobs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [np.arange(1000, dtype=np.int64), {"numbers": list(range(1000))}],
    ids=["numpy", "pickle"],
)
def test_loading_a_corrupt_object_raises_integrity_error(blobs: BlobStore, obj: Any) -> None:
    """numpy and pickle stop reading before EOF; the hash is checked all the same."""
    info, name = store_object(blobs, obj)
    data = bytearray(blobs.get_bytes(info.hash))
    data[len(data) // 2] ^= 0x01  # one bit inside the payload
    blobs.fs.pipe_file(blobs.path(info.hash), bytes(data))

    with pytest.raises(IntegrityError, match=info.hash), blobs.open(info.hash) as reader:
        serializers.by_name(name).load(reader)


# -- registration -----------------------------------------------------------------------


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class PointSerializer:
    name, extension = "point", ".pt"

    def accepts(self, obj: Any) -> bool:
        return isinstance(obj, Point)

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        out.write(f"{obj.x},{obj.y}".encode())

    def load(self, source: IO[bytes]) -> Any:
        x, y = source.read().decode().split(",")
        return Point(int(x), int(y))


class ShoutingText:
    """Claims every str: must win over the built-in text serializer."""

    name, extension = "shouting", ".txt"

    def accepts(self, obj: Any) -> bool:
        return isinstance(obj, str)

    def dump(self, obj: Any, out: IO[bytes]) -> None:
        out.write(obj.upper().encode())

    def load(self, source: IO[bytes]) -> Any:
        return source.read().decode()


def test_a_registered_serializer_is_used_for_its_type(
    blobs: BlobStore, restore_registry: None
) -> None:
    serializers.register_serializer(PointSerializer())

    info, name = store_object(blobs, Point(3, -4))

    assert name == "point"
    assert blobs.get_bytes(info.hash) == b"3,-4"
    assert round_trip(blobs, Point(3, -4)) == ("point", Point(3, -4))
    assert round_trip(blobs, "other types") == ("text", "other types")


def test_a_registered_serializer_wins_over_the_builtins(
    blobs: BlobStore, restore_registry: None
) -> None:
    serializers.register_serializer(ShoutingText())

    assert round_trip(blobs, "quiet") == ("shouting", "QUIET")
    assert serializers.by_name("text").name == "text"  # the built-in is still there by name


def test_later_registrations_are_tried_first_and_a_name_is_replaced(
    blobs: BlobStore, restore_registry: None
) -> None:
    class Whispering(ShoutingText):
        name = "whispering"

        def dump(self, obj: Any, out: IO[bytes]) -> None:
            out.write(obj.lower().encode())

    class ShoutingTwice(ShoutingText):
        def dump(self, obj: Any, out: IO[bytes]) -> None:
            out.write((obj.upper() * 2).encode())

    serializers.register_serializer(ShoutingText())
    serializers.register_serializer(Whispering())
    assert round_trip(blobs, "Hi") == ("whispering", "hi")

    serializers.register_serializer(ShoutingTwice())  # same name as the first: replaces it
    assert round_trip(blobs, "Hi") == ("shouting", "HIHI")
    assert [s.name for s in serializers.serializers()].count("shouting") == 1


def test_an_incomplete_serializer_is_refused(restore_registry: None) -> None:
    class NoLoad:
        name = "broken"

        def accepts(self, obj: Any) -> bool:
            return True

        def dump(self, obj: Any, out: IO[bytes]) -> None:
            pass

    with pytest.raises(InvalidArgument, match="'load'"):
        serializers.register_serializer(NoLoad())  # type: ignore[arg-type]
    assert serializers.choose(object()).name == "pickle"


def test_an_unknown_serializer_name_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="no serializer named 'nope'"):
        serializers.by_name("nope")


def test_dumps_uses_the_chosen_or_given_serializer() -> None:
    assert serializers.dumps("é") == "é".encode()
    assert serializers.dumps(b"\x00\x01") == b"\x00\x01"
    pickled = serializers.dumps("é", serializers.fallback())
    assert serializers.fallback().load(io.BytesIO(pickled)) == "é"


def test_arrays_the_store_already_has_are_not_written_again(tmp_path):
    """Hash first for cheap serializers: storing a known array costs no write."""

    class CountingStore(BlobStore):
        writes = 0

        def write(self, produce):
            self.writes += 1
            return super().write(produce)

    blobs = CountingStore(tmp_path / "counted")
    array = np.arange(100_000, dtype="float64")
    first, name = store_object(blobs, array)
    assert (name, blobs.writes) == ("numpy", 1)
    again, _ = store_object(blobs, array.copy())
    assert again == first and blobs.writes == 1
    store_object(blobs, array + 1)
    assert blobs.writes == 2
    assert [b.hash for b in blobs.iter_blobs()].count(first.hash) == 1
