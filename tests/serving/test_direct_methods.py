"""A scikit-learn model on the matrix fast path is run step by step by the server
(``fastpath.direct_methods``): the same transforms and final method, so the same answers,
without the pipeline's per-call bookkeeping; steps with a numpy kernel (``serving.kernels``)
also skip scikit-learn's validation; anything else keeps the model's own methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from shipyard.serving import Deployment
from shipyard.serving.fastpath import METHODS, direct_methods
from shipyard.serving.service import PredictionService

SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in ("a", "b", "c")]}
ORDER = ["a", "b", "c"]


def fitted(model):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    return model.fit(x, (x[:, 0] + x[:, 1] > 0).astype(int))


def test_a_nested_pipeline_gives_the_same_answers_step_by_step():
    model = fitted(
        Pipeline(
            [
                ("fill", SimpleImputer(strategy="constant", fill_value=0.0)),
                ("skip", "passthrough"),
                ("model", make_pipeline(StandardScaler(), LogisticRegression())),
            ]
        )
    )
    direct = direct_methods(model, ORDER, SIGNATURE)
    assert sorted(direct) == sorted(METHODS)
    x = np.random.default_rng(9).normal(size=(50, 3))
    x[3, 1] = np.nan
    for method, call in direct.items():
        for rows in (x[:1], x[3:4], x):
            assert np.array_equal(call(rows), getattr(model, method)(rows)), method


def test_anything_but_a_plain_pipeline_keeps_its_own_methods(tmp_path):
    import sklearn

    plain = make_pipeline(StandardScaler(), LogisticRegression())
    assert direct_methods(fitted(RandomForestClassifier(n_estimators=3)), ORDER, SIGNATURE) == {}
    cached = make_pipeline(StandardScaler(), LogisticRegression(), memory=str(tmp_path))
    assert direct_methods(fitted(cached), ORDER, SIGNATURE) == {}
    with sklearn.config_context(enable_metadata_routing=True):
        assert direct_methods(fitted(plain), ORDER, SIGNATURE) == {}

    class Moody(LogisticRegression):  # answers differently on a second call: never direct
        calls = 0

        def predict(self, x):
            Moody.calls += 1
            return super().predict(x) + Moody.calls

    moody = direct_methods(fitted(make_pipeline(StandardScaler(), Moody())), ORDER, SIGNATURE)
    assert "predict" not in moody and "predict_proba" in moody


def test_the_server_calls_the_steps_not_the_pipeline(shipyard_client, numeric_model, monkeypatch):
    service = PredictionService(Deployment.from_flags("score@production"), client=shipyard_client)
    model = service.slots[0].current
    assert "predict_proba" in model.direct
    expected = numeric_model.predict_proba(pd.DataFrame({"age": [30], "spend": [40.0]}))

    def refuse(*a, **kw):
        raise AssertionError("the server called Pipeline.predict_proba")

    monkeypatch.setattr(type(model.model.model), "predict_proba", refuse)
    columns = {"age": [30], "spend": [40.0]}
    got = service.predict(columns, 1, "predict_proba")
    assert np.array_equal(np.asarray(got.outputs), expected)
    service.close()


def rows_with_gaps(value: float) -> np.ndarray:
    x = np.random.default_rng(11).normal(size=(40, 3))
    x[5, 0] = x[17, 2] = value
    return x


KERNEL_MODELS = {
    "imputer constant, scaler, binary logistic": lambda: Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value=-1.5)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.3)),
        ]
    ),
    "imputer mean, min-max clipped, logistic": lambda: make_pipeline(
        SimpleImputer(strategy="mean"), MinMaxScaler(clip=True), LogisticRegression()
    ),
    "scaler without mean, multinomial logistic": lambda: make_pipeline(
        SimpleImputer(), StandardScaler(with_mean=False), LogisticRegression()
    ),
    "bare binary logistic": LogisticRegression,
}


def test_the_numpy_kernels_answer_and_refuse_exactly_as_scikit_learn():
    """Every kernel (serving.kernels) used on the fast path: same answers on one row and on
    a batch, rows with NaN imputed where the model imputes them, and NaN or infinity
    refused where the model refuses them."""
    for label, make in KERNEL_MODELS.items():
        model = make()
        x = np.random.default_rng(3).normal(size=(200, 3))
        y = (x[:, 0] > 0).astype(int) + ("multinomial" in label) * (x[:, 1] > 1)
        model.fit(x, y)
        direct = direct_methods(model, ORDER, SIGNATURE)
        assert sorted(direct) == sorted(METHODS), label
        for method, call in direct.items():
            for rows in (rows_with_gaps(0.0)[:1], rows_with_gaps(0.0), rows_with_gaps(np.nan)):
                try:
                    want = getattr(model, method)(rows)
                except ValueError:
                    assert "bare" in label  # only the bare model refuses NaN
                    with pytest.raises(ValueError):
                        call(rows)
                    continue
                got = call(rows)
                assert got.dtype == want.dtype and np.array_equal(got, want), (label, method)
            with pytest.raises(ValueError):
                call(rows_with_gaps(np.inf))


def test_regressions_use_their_kernel():
    for model in (LinearRegression(), Ridge(alpha=2.0)):
        x = np.random.default_rng(4).normal(size=(100, 3))
        model.fit(x, x @ [1.0, -2.0, 0.5] + 3)
        direct = direct_methods(model, ORDER, SIGNATURE)
        assert list(direct) == ["predict"]
        rows = rows_with_gaps(0.0)
        assert np.array_equal(direct["predict"](rows), model.predict(rows))
        with pytest.raises(ValueError):
            direct["predict"](rows_with_gaps(np.nan))


def test_the_kernels_replace_scikit_learns_own_calls(monkeypatch):
    model = KERNEL_MODELS["imputer constant, scaler, binary logistic"]()
    fitted(model)
    direct = direct_methods(model, ORDER, SIGNATURE)
    rows = rows_with_gaps(np.nan)
    want = model.predict_proba(rows)

    def refuse(*a, **kw):
        raise AssertionError("scikit-learn's own method was called")

    for kind, name in (
        (SimpleImputer, "transform"),
        (StandardScaler, "transform"),
        (LogisticRegression, "predict_proba"),
        (LogisticRegression, "decision_function"),
    ):
        monkeypatch.setattr(kind, name, refuse)
    assert np.array_equal(direct["predict_proba"](rows), want)


def test_a_step_without_a_kernel_keeps_its_own_transform():
    model = fitted(
        make_pipeline(SimpleImputer(add_indicator=True), StandardScaler(), LogisticRegression())
    )
    direct = direct_methods(model, ORDER, SIGNATURE)
    rows = rows_with_gaps(np.nan)
    assert np.array_equal(direct["predict_proba"](rows), model.predict_proba(rows))


def test_a_kernel_is_used_only_if_it_answers_and_refuses_as_the_model(monkeypatch):
    from shipyard.serving import fastpath

    model = fitted(LogisticRegression())
    monkeypatch.setattr(fastpath, "method_kernel", lambda est, m: lambda x: np.zeros((len(x), 2)))
    assert direct_methods(model, ORDER, SIGNATURE) == {}

    def forgiving(est, method):  # right on finite rows, but answers where the model refuses
        return lambda x: getattr(est, method)(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))

    monkeypatch.setattr(fastpath, "method_kernel", forgiving)
    assert direct_methods(model, ORDER, SIGNATURE) == {}
