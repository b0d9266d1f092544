"""The framework flavors (xgboost, lightgbm, pytorch, onnx): detection, native files, an
inferred signature, and the same predictions after loading, here and in a fresh
interpreter. A case skips only when its framework is not installed, saying which extra
brings it: torch is in ``heavy-flavors``, not ``dev``, for its size. With
SHIPYARD_TEST_FLAVORS=1 (CI) such a skip fails the run (tests/conftest.py)."""

from __future__ import annotations

import importlib.metadata
import io
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import InvalidArgument, MissingExtra, ShipyardError
from shipyard.registry import ModelRegistry
from shipyard.registry.flavors import load_flavor
from shipyard.tracking import Client

pytestmark = pytest.mark.flavors

COLUMNS = ["f0", "f1", "f2", "f3"]
# the extras that bring a framework into a test environment, when not `dev` alone
TEST_EXTRAS = {"torch": "dev,heavy-flavors"}


def need(module: str) -> Any:
    """The framework's module, or a skip naming the extra to install."""
    __tracebackhide__ = True  # a skip points at the case that needs the module
    extras = TEST_EXTRAS.get(module, "dev")
    reason = f"{module} is not installed: pip install -e '.[{extras}]' to test its flavor"
    return pytest.importorskip(module, reason=reason)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=COLUMNS)
    y = ((X["f0"] + 0.5 * X["f1"] - X["f3"]) > 0).astype(int).to_numpy()
    return X, y


@dataclass
class Case:
    flavor: str
    model: Any
    expected: Callable[[pd.DataFrame], Any]  # what the original model predicts
    files: set[str]  # the flavor's files in the packed blob
    proba: Callable[[pd.DataFrame], Any] | None = None


def xgboost_booster(X: pd.DataFrame, y: np.ndarray) -> Case:
    xgb = need("xgboost")
    params = {"objective": "binary:logistic", "max_depth": 2}
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=5)
    return Case("xgboost", booster, lambda d: booster.predict(xgb.DMatrix(d)), {"model.ubj"})


def xgboost_classifier(X: pd.DataFrame, y: np.ndarray) -> Case:
    xgb = need("xgboost")
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    return Case("xgboost", clf, clf.predict, {"model.ubj", "wrapper.json"}, clf.predict_proba)


def lightgbm_booster(X: pd.DataFrame, y: np.ndarray) -> Case:
    lgb = need("lightgbm")
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=5)
    return Case("lightgbm", booster, booster.predict, {"model.txt"})


def lightgbm_classifier(X: pd.DataFrame, y: np.ndarray) -> Case:
    lgb = need("lightgbm")
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    return Case("lightgbm", clf, clf.predict, {"estimator.pkl"}, clf.predict_proba)


def _torch_expected(torch: Any, module: Any) -> Callable[[pd.DataFrame], Any]:
    def expected(frame: pd.DataFrame) -> Any:
        with torch.no_grad():
            return module(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()

    return expected


def pytorch_scripted(X: pd.DataFrame, y: np.ndarray) -> Case:
    torch = need("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    return Case("pytorch", net.eval(), _torch_expected(torch, net), {"model.pt"})


def pytorch_pickled(X: pd.DataFrame, y: np.ndarray) -> Case:
    """A module TorchScript cannot compile (a lambda attribute), defined in this test file,
    which a fresh interpreter cannot import: it travels by value."""
    torch = need("torch")
    torch.manual_seed(0)
    net = _lambda_net(torch)
    return Case("pytorch", net, _torch_expected(torch, net), {"model.pth"})


def _lambda_net(torch: Any) -> Any:
    class LambdaNet(torch.nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)
            self.activation = lambda t: t.clamp(min=0) * 2

        def forward(self, x: Any) -> Any:
            return self.activation(self.linear(x))

    return LambdaNet().eval()


def onnx_classifier(X: pd.DataFrame, y: np.ndarray) -> Case:
    need("onnxruntime")
    skl2onnx = need("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    clf = LogisticRegression().fit(X.to_numpy(), y)
    proto = skl2onnx.convert_sklearn(
        clf, initial_types=[("X", FloatTensorType([None, 4]))], options={"zipmap": False}
    )

    def expected(frame: pd.DataFrame) -> Any:  # two outputs: one frame, a column each
        probabilities = clf.predict_proba(frame.to_numpy())
        return pd.DataFrame(
            {
                "label": clf.predict(frame.to_numpy()),
                "probabilities_0": probabilities[:, 0],
                "probabilities_1": probabilities[:, 1],
            }
        )

    return Case("onnx", proto, expected, {"model.onnx"})


CASES = [
    xgboost_booster,
    xgboost_classifier,
    lightgbm_booster,
    lightgbm_classifier,
    pytorch_scripted,
    pytorch_pickled,
    onnx_classifier,
]


# one of each flavor, the hardest to load elsewhere: wrappers, a module shipped by value
FRESH_CASES = [xgboost_classifier, lightgbm_classifier, pytorch_pickled, onnx_classifier]


def assert_same(actual: Any, expected: Any) -> None:
    if isinstance(expected, pd.DataFrame):
        assert isinstance(actual, pd.DataFrame)
        assert list(actual.columns) == list(expected.columns)
        np.testing.assert_allclose(actual.to_numpy(float), expected.to_numpy(float), atol=1e-5)
    else:
        # float32 kernels may round the last bit differently (TorchScript vs eager)
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-7)


def packed_files(client: Client, blob_hash: str) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(client.blobs.get_bytes(blob_hash))) as archive:
        return set(archive.namelist()) - {"shipyard-model.json"}


@pytest.fixture
def registry(shipyard_client: Client) -> ModelRegistry:
    return ModelRegistry(shipyard_client)  # one client: shipyard.register_model opens one a call


@pytest.mark.parametrize("build", CASES, ids=lambda build: build.__name__)
def test_register_detect_and_load_back(
    build: Callable[..., Case], data: tuple[pd.DataFrame, np.ndarray], registry: ModelRegistry
) -> None:
    X, y = data
    case = build(X, y)
    version = registry.register_model("m", case.model, input_example=X.head(3))
    assert version.flavor == case.flavor
    assert packed_files(registry.client, version.blob_hash) == case.files
    assert version.signature["inputs"] == [{"name": c, "type": "double"} for c in COLUMNS]
    assert version.signature["outputs"]
    assert version.requirements and all("==" in r for r in version.requirements)
    loaded = registry.load_model(version.uri)
    assert_same(loaded.predict(X), case.expected(X))
    assert_same(loaded.predict(X.to_numpy()), case.expected(X))  # arrays work too
    if case.proba is not None:  # scikit-learn API: predict_proba as fitted
        assert_same(loaded.model.predict_proba(X), case.proba(X))
        assert_same(loaded.model.predict_proba(X.to_numpy()), case.proba(X))


def test_every_flavor_loads_in_a_fresh_interpreter(
    data: tuple[pd.DataFrame, np.ndarray], shipyard_home: Path, tmp_path: Path
) -> None:
    X, y = data
    expected: dict[str, Any] = {}
    missing: list[str] = []  # the skip reasons of the cases whose framework is absent
    for build in FRESH_CASES:
        try:
            case = build(X, y)
        except pytest.skip.Exception as skipped:
            missing.append(str(skipped))
            continue
        version = shipyard.register_model(build.__name__, case.model)
        expected[version.uri] = case.expected(X)
    if not expected:
        pytest.skip("; ".join(missing))
    X.to_pickle(tmp_path / "X.pkl")
    script = textwrap.dedent(
        f"""
        import pickle, pandas as pd, shipyard
        X = pd.read_pickle("X.pkl")
        out = {{uri: shipyard.load_model(uri).predict(X) for uri in {list(expected)!r}}}
        with open("out.pkl", "wb") as f:
            pickle.dump(out, f)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    actual = pd.read_pickle(tmp_path / "out.pkl")
    assert set(actual) == set(expected)
    for uri, predictions in expected.items():
        assert_same(actual[uri], predictions)
    if missing:  # the others passed; this one is reported, and fails a gated run
        pytest.skip("; ".join(missing))


def test_onnx_several_inputs_one_per_column_and_a_path_or_bytes(
    shipyard_home: Path, tmp_path: Path
) -> None:
    need("onnxruntime")
    onnx = need("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["total"])],
        "add",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in ("a", "b")],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 1])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "add.onnx"
    onnx.save_model(proto, str(path))
    frame = pd.DataFrame({"b": [1, 2], "a": [0.5, 0.25]})  # any column order, ints cast
    by_path = shipyard.register_model("add", str(path), input_example=frame)
    by_bytes = shipyard.register_model("add", path.read_bytes(), flavor="onnx")
    assert by_path.flavor == by_bytes.flavor == "onnx"
    assert by_path.blob_hash == by_bytes.blob_hash
    assert by_path.signature["outputs"] == [{"name": "prediction_0", "type": "double"}]
    loaded = shipyard.load_model(by_bytes.uri)
    np.testing.assert_allclose(loaded.predict(frame), [[1.5], [2.25]])
    arrays = {"a": np.array([[1.0]]), "b": np.array([[2.0]])}
    np.testing.assert_allclose(loaded.predict(arrays), [[3.0]])
    with pytest.raises(InvalidArgument, match="no column b"):
        loaded.predict(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(InvalidArgument, match="not a valid ONNX model"):
        shipyard.register_model("add", b"not a model", flavor="onnx")
    with pytest.raises(InvalidArgument, match="no ONNX file at"):
        shipyard.register_model("add", str(tmp_path / "missing.onnx"))


FAKES = [  # flavor, the module it needs, a stand-in type named like the framework's
    ("xgboost", "xgboost", "xgboost.core", "Booster"),
    ("lightgbm", "lightgbm", "lightgbm.basic", "Booster"),
    ("pytorch", "torch", "torch.nn.modules.module", "Module"),
    ("onnx", "onnx", "onnx.onnx_ml_pb2", "ModelProto"),
]
RUNTIME = {"onnx": "onnxruntime"}  # what loading needs when it differs from saving


@pytest.mark.parametrize(("flavor", "package", "module", "name"), FAKES, ids=[f[0] for f in FAKES])
def test_a_missing_framework_names_the_extra_to_install(
    flavor: str,
    package: str,
    module: str,
    name: str,
    shipyard_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    message = rf"pip install 'shipyard\[{flavor}\]'"  # each extra is named as its flavor
    stand_in = type(name, (), {"__module__": module, "predict": lambda self, x: x})()
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    monkeypatch.setitem(sys.modules, RUNTIME.get(flavor, package), None)
    with pytest.raises(MissingExtra, match=message) as raised:
        shipyard.register_model("m", stand_in)
    assert isinstance(raised.value, ShipyardError)
    with pytest.raises(MissingExtra, match=message):
        load_flavor(flavor).load(str(tmp_path))
    assert shipyard_client.store.models.list_models() == []


def test_detection_imports_no_framework(
    data: tuple[pd.DataFrame, np.ndarray],
    shipyard_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = data
    for package in ("xgboost", "lightgbm", "torch", "onnx", "onnxruntime"):
        monkeypatch.setitem(sys.modules, package, None)
    version = shipyard.register_model("plain", LogisticRegression().fit(X, y))
    assert version.flavor == "sklearn"


@pytest.mark.parametrize(
    ("flavor", "package"), [("xgboost", "xgboost"), ("lightgbm", "lightgbm"), ("pytorch", "torch")]
)
def test_requirements_pin_the_installed_distribution(flavor: str, package: str) -> None:
    module = need(package)
    pins = load_flavor(flavor).requirements()
    name, sep, version = pins[0].partition("==")
    assert sep and name in (package, f"{package}-cpu")
    # the version the framework reports of itself, without a local label like +cpu
    # (not on PyPI), and the one the named distribution was installed at
    assert version == module.__version__.partition("+")[0]
    assert version == importlib.metadata.version(name).partition("+")[0]
