"""scikit-learn autolog: params, training metrics and the model of the outermost fit."""

from __future__ import annotations

import pytest

import shipyard


@pytest.fixture
def autologged(shipyard_home):
    shipyard.autolog()
    yield
    shipyard.autolog(disable=True)


def test_fit_logs_params_metrics_and_model(autologged):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=0.5, max_iter=500).fit(X, y)
    (run,) = shipyard.search_runs()
    assert run.status is shipyard.RunStatus.FINISHED
    assert run.params["C"] == "0.5" and run.params["max_iter"] == "500"
    assert 0.9 < run.metrics["training_accuracy"] <= 1.0
    assert "training_log_loss" in run.metrics and "training_f1" in run.metrics
    loaded = shipyard.load_artifact(run.id, "model")
    assert (loaded.predict(X) == model.predict(X)).all()


def test_only_the_outer_fit_logs_and_an_active_run_is_reused(autologged):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    X, y = load_diabetes(return_X_y=True)
    with shipyard.start_run(project="p", run_name="search") as run:
        GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, y)
    runs = shipyard.search_runs()
    assert [r.id for r in runs] == [run.id]  # no run per inner fit
    stored = runs[0]
    assert stored.params["best_alpha"] in ("0.1", "1.0")
    assert "best_cv_score" in stored.metrics and "training_r2" in stored.metrics


def test_a_failing_fit_fails_its_run(autologged):
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError):
        LinearRegression().fit([[1.0], [2.0]], [1.0])  # inconsistent lengths
    (run,) = shipyard.search_runs()
    assert run.status is shipyard.RunStatus.FAILED


def test_disable_restores_plain_fit(shipyard_home):
    from sklearn.linear_model import LinearRegression

    shipyard.autolog()
    shipyard.autolog(disable=True)
    LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0])
    assert shipyard.search_runs() == []
