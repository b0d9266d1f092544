"""Seeded synthetic churn data: ``age`` and ``income``. ``shift`` moves ``age`` (the drift
the monitor sees) and changes who churns (old and poor before, old and well-off after), so
a model retrained on fresh rows beats the champion. No network, no files."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["age", "income"]


def customers(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"age": rng.normal(40 + shift, 10, rows), "income": rng.normal(50, 8, rows)}
    )
    sign = -1.0 if shift == 0 else 1.0
    score = 0.15 * (frame["age"] - 40 - shift) + sign * 0.3 * (frame["income"] - 50)
    frame["churned"] = (score + rng.normal(0, 1, rows) > 0).astype(int)
    return frame
