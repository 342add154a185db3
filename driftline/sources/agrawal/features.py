"""The Agrawal et al. (1993) loan-application features, drawn as in MOA's ``AgrawalGenerator``.

salary U(20k, 150k); commission 0 when salary >= 75k, else U(10k, 75k); age 20..80; elevel 0..4; car 1..20;
zipcode 0..8; hvalue (9 - zipcode) * 100k * U(0.5, 1.5); hyears 1..30; loan U(0, 500k). Money is rounded to
cents before labelling, so a record's label can be recomputed from the record itself.
"""

from __future__ import annotations

import numpy as np

NUMERIC = {  # generating range of each numeric feature (before drift)
    "salary": (20_000.0, 150_000.0),
    "commission": (0.0, 75_000.0),
    "age": (20.0, 80.0),
    "hvalue": (50_000.0, 1_350_000.0),
    "hyears": (1.0, 30.0),
    "loan": (0.0, 500_000.0),
}
CATEGORICAL = {"elevel": (0, 4), "car": (1, 20), "zipcode": (0, 8)}  # integer codes, emitted as str
INTEGER = frozenset({"age", "hyears"})
FEATURES = ("salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan")

Columns = dict[str, np.ndarray]


def draw(rng: np.random.Generator, n: int) -> Columns:
    """One chunk of undrifted features, integer-coded categoricals, money in cents."""
    salary = np.round(20_000.0 + 130_000.0 * rng.random(n), 2)
    commission = np.where(salary >= 75_000.0, 0.0, np.round(10_000.0 + 65_000.0 * rng.random(n), 2))
    age = rng.integers(20, 81, n)
    elevel = rng.integers(0, 5, n)
    car = rng.integers(1, 21, n)
    zipcode = rng.integers(0, 9, n)
    hvalue = np.round((9 - zipcode) * 100_000.0 * (0.5 + rng.random(n)), 2)
    hyears = rng.integers(1, 31, n)
    loan = np.round(500_000.0 * rng.random(n), 2)
    return {
        "salary": salary,
        "commission": commission,
        "age": age,
        "elevel": elevel,
        "car": car,
        "zipcode": zipcode,
        "hvalue": hvalue,
        "hyears": hyears,
        "loan": loan,
    }
