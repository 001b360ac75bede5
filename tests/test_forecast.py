"""task: forecast — model shapes, no leakage, overfit, round trip, CLI and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from rnncli import api
from rnncli.config import load_recipe
from rnncli.models.forecaster import Forecaster
from rnncli.tasks.forecast import task as fc

from .conftest import rnn


def _monthly(path: Path, n: int = 96, trend: float = 1.0, noise: float = 0.0) -> Path:
    """A trending, seasonal monthly series as CSV (Month,Value)."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    y = 100 + trend * t + 20 * np.sin(2 * np.pi * t / 12) + noise * rng.standard_normal(n)
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(n)]
    path.write_text(
        "Month,Value\n" + "".join(f"{m},{v:.3f}\n" for m, v in zip(months, y, strict=True))
    )
    return path


def _recipe(tmp: Path, csv: Path, **sections: dict) -> Path:
    recipe: dict = {
        "task": "forecast",
        "data": {"train": str(csv), "horizon": 6, "lookback": 24},
        "model": {"hidden_size": 16, "num_layers": 1},
        "training": {"epochs": 30, "batch_size": 16, "lr": 1.0e-2, "threads": 1},
        "output": str(tmp / "run"),
    }
    for name, values in sections.items():
        recipe[name].update(values)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fc")
    return api.train(
        _recipe(tmp, _monthly(tmp / "series.csv"), model={"quantiles": [0.1, 0.5, 0.9]})
    )


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_shapes(mode: str, cell: str) -> None:
    model = Forecaster(2, 1, 3, horizon=5, n_outputs=3, hidden_size=8, cell=cell, mode=mode)
    out = model(torch.randn(4, 10, 6), torch.randn(4, 5, 3))
    assert out.shape == (4, 5, 2, 3)
    if mode == "autoregressive":  # it can roll past the trained horizon
        assert model(torch.randn(4, 10, 6), torch.randn(4, 9, 3), 9).shape == (4, 9, 2, 3)


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
def test_overfits_one_batch(mode: str) -> None:
    torch.manual_seed(0)
    t = torch.arange(40.0)
    series = torch.stack([torch.sin(t / 3 + phase) for phase in torch.linspace(0, 3, 8)])
    hist, target = series[:, :30, None], series[:, 30:36, None]
    model = Forecaster(1, 0, 0, horizon=6, hidden_size=32, cell="gru", mode=mode)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(hist, torch.zeros(8, 6, 0))[..., 0], target)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3


def test_pinball_loss() -> None:
    pred = torch.tensor([[1.0, 2.0, 3.0]])
    q = torch.tensor([0.1, 0.5, 0.9])
    # target 2: below q0.1's 1 by -1 -> 0.1*1; at the median 0; above q0.9 by 1 -> 0.1*1
    assert fc.pinball(pred, torch.tensor([2.0]), q).item() == pytest.approx((0.1 + 0 + 0.1) / 3)


def test_no_leakage_and_scalers_fit_on_train_only(tmp_path: Path) -> None:
    csv = _monthly(tmp_path / "a.csv")
    spec = api.load_recipe(_recipe(tmp_path, csv, data={"valid_size": 6, "test_size": 12}))
    plan = fc.prepare(spec, tmp_path, None)  # type: ignore[arg-type]
    sizes = plan.meta["sizes"]
    codec = fc.Codec(fc.TaskData.from_json(plan.meta))
    panel = fc.read(csv, spec.data.model_dump())  # type: ignore[attr-defined]
    scalers = {s.id: codec.scalers(s) for s in panel.series}
    valid_start, test_start = fc.split_bounds(96, sizes)
    train = fc.collect(codec, panel, "train", scalers)
    valid = fc.collect(codec, panel, "valid", scalers)
    assert int(train.origins.max()) + sizes["horizon"] <= valid_start
    assert int(valid.origins.max()) + sizes["horizon"] <= test_start
    # the future (valid and test parts) changed wildly: scalers and training windows do not
    wild = tmp_path / "b.csv"
    lines = csv.read_text().splitlines()
    head, rows = lines[:1], lines[1:]
    rows[valid_start:] = [f"{r.split(',')[0]},99999" for r in rows[valid_start:]]
    wild.write_text("\n".join(head + rows) + "\n")
    spec2 = api.load_recipe(_recipe(tmp_path, wild, data={"valid_size": 6, "test_size": 12}))
    plan2 = fc.prepare(spec2, tmp_path, None)  # type: ignore[arg-type]
    assert plan2.meta["scalers"] == plan.meta["scalers"]
    b1 = next(iter(plan.batches(0, 0)))
    b2 = next(iter(plan2.batches(0, 0)))
    for x, y in zip(b1, b2, strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.threads
def test_round_trip_forecast_and_backtest(forecast_run: Path, tmp_path: Path) -> None:
    loaded = api.load(forecast_run)
    csv = Path(loaded.meta["recipe"]["data"]["train"])
    first = api.forecast(loaded, csv)
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((forecast_run / "best.safetensors").read_bytes())
    again = api.forecast(api.load(copy), csv)
    np.testing.assert_array_equal(first[0].values, again[0].values)
    assert first[0].values.shape == (6, 1, 3)
    assert str(first[0].times[0].date()) == "2008-01-01"
    lo, _, hi = first[0].values[:, 0, :].T  # quantiles 0.1, 0.5, 0.9
    assert lo.mean() < hi.mean()
    metrics = api.evaluate(loaded, csv)
    assert set(metrics) >= {"model", "naive", "seasonal_naive", "windows", "interval"}
    assert set(metrics["model"]) == {"mae", "rmse", "mape", "smape", "mase"}


def test_backtest_has_ets_and_theta_on_the_same_origins(
    forecast_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """statsforecast's AutoETS and AutoTheta beside the network, fitted on each origin's
    history; without statsforecast, the naive baselines and one line naming the extra."""
    pytest.importorskip("statsforecast")
    from statsforecast.models import AutoTheta

    from rnncli.tasks.forecast.predict import window_origins

    loaded = api.load(forecast_run)
    csv = Path(loaded.meta["recipe"]["data"]["train"])
    metrics = api.evaluate(loaded, csv)
    assert {"ets", "theta"} <= set(metrics) and "baselines_note" not in metrics
    assert set(metrics["theta"]) == set(metrics["model"])
    # the same numbers by hand: Theta fitted on y[:origin] for every backtest origin
    y = np.array([float(line.split(",")[1]) for line in csv.read_text().splitlines()[1:]])
    sizes = loaded.state.sizes
    test_size = sizes.test_size or sizes.horizon
    start = max(len(y) - test_size, sizes.lookback)
    stride = loaded.state.backtest_stride
    origins = window_origins(len(y), sizes.lookback, sizes.horizon, start, len(y), stride)
    guess = np.stack([AutoTheta(season_length=12).forecast(y=y[:o], h=6)["mean"] for o in origins])
    actual = np.stack([y[o : o + 6] for o in origins])
    assert metrics["theta"]["mae"] == pytest.approx(np.abs(guess - actual).mean(), rel=1e-6)
    tables = api.report(loaded, metrics, csv)
    assert tables[0].columns[-2:] == ["AutoETS", "AutoTheta"]

    monkeypatch.setitem(sys.modules, "statsforecast", None)
    without = api.evaluate(loaded, csv)
    assert "ets" not in without and "rnncli[classical]" in without["baselines_note"]
    assert without["model"] == pytest.approx(metrics["model"])
    assert "rnncli[classical]" in api.report(loaded, without, csv)[0].notes[0]


def test_cli_forecast_with_model(forecast_run: Path, tmp_path: Path) -> None:
    csv = Path(api.load(forecast_run).meta["recipe"]["data"]["train"])
    out = rnn("forecast", "-m", str(forecast_run), str(csv), "-H", "3", check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "time,forecast,q0.1,q0.5,q0.9" and len(lines) == 4
    assert lines[1].startswith("2008-01-01,")
    js = rnn("forecast", "-m", str(forecast_run), "-", "-f", "json", stdin=csv.read_text())
    assert len(json.loads(js.stdout)) == 6
    png = tmp_path / "plot.png"
    rnn("forecast", "-m", str(forecast_run), str(csv), "--plot", str(png), check=True)
    assert png.read_bytes()[:4] == b"\x89PNG"
    long = rnn("forecast", "-m", str(forecast_run), str(csv), "-H", "7")
    assert long.returncode == 2 and "forecasts 6 steps at most" in long.stderr
    ev = rnn("evaluate", "-m", str(forecast_run), str(csv), "-f", "json", check=True)
    assert "seasonal_naive" in json.loads(ev.stdout)


def test_cli_forecast_without_model(tmp_path: Path) -> None:
    csv = _monthly(tmp_path / "s.csv", n=72, noise=1.0)
    res = rnn("forecast", str(csv), "--horizon", "4", "--threads", "1", check=True)
    lines = res.stdout.splitlines()
    assert lines[0] == "time,forecast" and lines[1].startswith("2006-01-01,") and len(lines) == 5
    assert "fitting the built-in forecast recipe" in res.stderr


@pytest.mark.parametrize(
    ("trend", "offset", "log", "scaling"),
    [(1.0, 0.0, False, "mean"), (1.0, -150.0, False, "standard"), (20.0, 0.0, True, "standard")],
)
def test_the_built_in_recipe_fits_the_csv(
    tmp_path: Path, trend: float, offset: float, log: bool, scaling: str
) -> None:
    """Log for positive data that grows, mean levels for other non-negative data, else
    standardised; a Huber loss; a season of horizon; and it validates."""
    csv = _monthly(tmp_path / "s.csv", n=60, trend=trend)
    if offset:
        frame = pd.read_csv(csv)
        frame["Value"] += offset
        frame.to_csv(csv, index=False)
    recipe = api.default_forecast_recipe(csv, None)
    data, model = recipe["data"], recipe["model"]
    assert (data["log_transform"], data["scaling"]) == (log, scaling)
    assert (data["horizon"], model["loss"]) == (12, "huber")
    recipe["output"] = str(tmp_path / "run")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    spec = load_recipe(path)
    assert spec.model.loss == "huber" and spec.data.lookback is None


def test_long_format_many_series(tmp_path: Path) -> None:
    rows = ["id,date,value"]
    for k, name in enumerate(["north", "south, coast", "west"]):
        for q in range(40):
            v = 50 + 10 * k + 5 * np.sin(q * np.pi / 2) + 0.3 * q
            rows.append(f'"{name}",{1990 + q // 4}-{3 * (q % 4) + 1:02d}-01,{v:.3f}')
    csv = tmp_path / "long.csv"
    csv.write_text("\n".join(rows) + "\n")
    run = api.train(
        _recipe(
            tmp_path,
            csv,
            data={"id_column": "id", "horizon": 4, "lookback": 8, "calendar_features": True},
        )
    )
    loaded = api.load(run)
    assert loaded.meta["task_data"]["freq"].startswith("QS")
    out = rnn("forecast", "-m", str(run), str(csv), check=True).stdout.splitlines()
    assert out[0] == "time,id,forecast" and len(out) == 1 + 3 * 4
    assert out[1].split(",")[1] == "north"


_GOOD = "Month,Value\n" + "".join(f"2000-{m:02d},{m}\n" for m in range(1, 13))


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", [], "empty"),
        (_GOOD + "2001-01,abc\n", [], "line 14: 'abc'"),
        (_GOOD + "not a date,2\n", [], "line 14: 'not a date'"),
        ("Month,Value\n2000-01,1\n2000-02,2\n2000-03,3\n", ["-H", "2"], "fewer than"),
        ("Month,Value\n2000-01,1\n2000-02,2\n", ["--target", "Valeu"], "did you mean 'Value'"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, content: str, extra: list[str], message: str
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    res = rnn("forecast", str(csv), *extra)
    assert res.returncode != 0 and res.stdout == ""
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], res.stderr


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
def test_covariates_past_and_known_future(tmp_path: Path, mode: str) -> None:
    n, horizon = 60, 3
    rows = ["Month,Sales,Promo,Temp"]
    for i in range(n + horizon):  # the last 3 rows: promo known ahead, no sales/temp yet
        month = f"{2000 + i // 12}-{i % 12 + 1:02d}"
        promo = i % 4 == 0
        if i < n:
            rows.append(f"{month},{50 + 30 * promo + i % 12:.1f},{int(promo)},{10 + i % 12}")
        else:
            rows.append(f"{month},,{int(promo)},")
    csv = tmp_path / "sales.csv"
    csv.write_text("\n".join(rows) + "\n")
    run = api.train(
        _recipe(
            tmp_path,
            csv,
            data={
                "target": "Sales",
                "past_covariates": ["Temp"],
                "future_covariates": ["Promo"],
                "horizon": horizon,
                "lookback": 12,
                "calendar_features": True,
            },
            model={"horizon_mode": mode},
            training={"epochs": 60},
        )
    )
    loaded = api.load(run)
    out = api.forecast(loaded, csv)[0]
    assert out.values.shape == (horizon, 1, 1)
    assert [str(t.date()) for t in out.times] == ["2005-01-01", "2005-02-01", "2005-03-01"]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:-1]) + "\n")  # promo known for 2 steps only
    with pytest.raises(Exception, match="future covariates for 2 steps"):
        api.forecast(loaded, short)
