"""Retrain churn when its drift monitor fires; promote only if the new version beats the
champion on the same fresh holdout.

Deployed with `shipyard scheduler deploy retrain_flow.py`; started by `shipyard scheduler`
on each ``alert.fired`` event of model ``churn`` (its alert id passed as ``--alert``).
"""

from churn_data import FEATURES, customers

from shipyard import FlowSpec, Parameter, current, step
from shipyard.flows import trigger

GATE = "metrics.holdout_auc >= metrics.champion_holdout_auc"


@trigger(
    event={
        "name": "alert.fired",
        "filters": {"model": "churn"},
        "parameters": {"alert": "alert_id"},
    }
)
class RetrainChurn(FlowSpec):
    alert = Parameter("alert", default="", help="the alert that started this run")
    seed = Parameter("seed", default=7, help="seed of the fresh customers")

    @step
    def start(self):
        """Fresh features: customers as they look now (the shift the monitor saw)."""
        trig = current.trigger
        self.triggered_by = None if trig is None else trig.event.name
        fresh = customers(1200, seed=int(self.seed), shift=10.0)
        self.train_rows = fresh.iloc[:800]
        self.holdout = fresh.iloc[800:]
        self.next(self.train)

    @step
    def train(self):
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression().fit(self.train_rows[FEATURES], self.train_rows["churned"])
        self.next(self.evaluate)

    @step
    def evaluate(self):
        """The candidate and the champion on the same holdout."""
        from sklearn.metrics import roc_auc_score

        import shipyard

        champion = shipyard.load_model("models:/churn@production")
        x, y = self.holdout[FEATURES], self.holdout["churned"]
        self.holdout_auc = float(roc_auc_score(y, self.model.predict_proba(x)[:, 1]))
        self.champion_holdout_auc = float(roc_auc_score(y, champion.model.predict_proba(x)[:, 1]))
        self.next(self.end)

    @step
    def end(self):
        """Register the candidate (linked to this run) and promote it if the gate holds."""
        import shipyard
        from shipyard.errors import GateFailed

        version = shipyard.register_model(
            "churn", self.model, reference=self.train_rows[FEATURES],
            metrics={"holdout_auc": self.holdout_auc,
                     "champion_holdout_auc": self.champion_holdout_auc},
            tags={"alert": str(self.alert)},
        ).version  # fmt: skip
        self.version = version
        try:
            shipyard.promote_model("churn", version, to="production", require=[GATE])
            self.promoted = True
        except GateFailed as exc:
            print(f"churn v{version} stays a candidate: {exc.message}")
            self.promoted = False


if __name__ == "__main__":
    RetrainChurn()
