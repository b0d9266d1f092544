"""A scikit-learn pipeline on the matrix fast path is run step by step by the server
(``fastpath.direct_methods``): the same transforms and final method, so the same answers,
without the pipeline's per-call bookkeeping; anything else keeps the pipeline's methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

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
    assert direct_methods(fitted(LogisticRegression()), ORDER, SIGNATURE) == {}
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
