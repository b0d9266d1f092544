"""The quickstart's training flow: a point-in-time training set from the feature store,
then a hyperparameter sweep as a foreach, the best kept."""

from __future__ import annotations

import time
from typing import Any

import shipyard
from shipyard.flows import FlowSpec, Parameter, current, step


def candidates() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{"model": "logreg", "C": c} for c in (0.01, 0.1, 1.0, 10.0)]
    grid += [{"model": "random_forest", "n_estimators": 150, "max_depth": d} for d in (3, None)]
    grid += [
        {"model": "gradient_boosting", "learning_rate": r, "n_estimators": 100} for r in (0.05, 0.2)
    ]
    return grid


def build(spec: dict[str, Any]) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    params = {k: v for k, v in spec.items() if k != "model"}
    if spec["model"] == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, **params))
    if spec["model"] == "random_forest":
        return RandomForestClassifier(random_state=0, n_jobs=1, **params)
    return GradientBoostingClassifier(random_state=0, **params)


class QuickstartFlow(FlowSpec):
    """Build a churn training set from the feature store, train a sweep of scikit-learn
    models on it and keep the best."""

    entities = Parameter("entities", help="Parquet file of labelled entity rows", default="")

    @step
    def start(self) -> None:
        import pandas as pd
        from sklearn.model_selection import train_test_split

        from shipyard.cli.quickstart_features import PROJECT, SERVICE, feature_columns
        from shipyard.features import FeatureStore

        job = FeatureStore(PROJECT).get_training_set(pd.read_parquet(self.entities), SERVICE)
        frame = job.to_df()
        self.dataset = job.save_dataset("churn_training").uri
        self.feature_names = feature_columns()
        X = frame[self.feature_names].astype("float64").fillna(0.0)
        y = frame["churned"]
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.25, random_state=42, stratify=y
        )
        self.candidates = candidates()
        self.next(self.train, foreach="candidates")

    @step
    def train(self) -> None:
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        self.spec = self.input
        shipyard.log_params(self.spec)
        shipyard.set_tag("dataset", self.dataset)
        model = build(self.spec)
        started = time.perf_counter()
        model.fit(self.X_train, self.y_train)
        fit_seconds = time.perf_counter() - started
        if hasattr(model, "staged_predict_proba"):  # a learning curve, step by step
            for stage, proba in enumerate(model.staged_predict_proba(self.X_test)):
                shipyard.log_metric(
                    "test_auc_by_stage", roc_auc_score(self.y_test, proba[:, 1]), stage
                )
        proba = model.predict_proba(self.X_test)[:, 1]
        self.scores = {
            "roc_auc": float(roc_auc_score(self.y_test, proba)),
            "accuracy": float(accuracy_score(self.y_test, proba >= 0.5)),
            "f1": float(f1_score(self.y_test, proba >= 0.5)),
            "fit_seconds": fit_seconds,
        }
        shipyard.log_metrics(self.scores)
        self.model = model
        self.task_run_id = current.task_id
        self.next(self.join)

    @step
    def join(self, inputs: Any) -> None:
        best = max(inputs, key=lambda i: (i.scores["roc_auc"], i.scores["accuracy"]))
        self.best_spec, self.best_scores = best.spec, best.scores
        self.best_model, self.best_task = best.model, best.task_run_id
        self.merge_artifacts(inputs, include=["dataset", "feature_names", "X_train", "X_test"])
        self.next(self.end)

    @step
    def end(self) -> None:
        """Register the best model for serving: missing online features count as 0, as
        they did in training; the version records this task, the dataset and the service."""
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        from shipyard.cli.quickstart_features import PROJECT, SERVICE

        fill = SimpleImputer(strategy="constant", fill_value=0.0).fit(self.X_train)
        served = Pipeline([("fill_missing", fill), ("model", self.best_model)])
        version = shipyard.register_model(
            "churn",
            served,
            input_example=self.X_test.head(5),
            dataset=self.dataset,
            feature_service=f"{PROJECT}/{SERVICE}",
            metrics=self.best_scores,
            description=f"quickstart churn model: {self.best_spec['model']}",
            tags={"quickstart": "true"},
        )
        self.model_version = version.version
        print(f"best: {self.best_spec} roc_auc={self.best_scores['roc_auc']:.4f}")
        print(f"registered {version.uri}")
