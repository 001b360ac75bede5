"""Time-series reading, calendar features, scaling, windows and forecast metrics."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnncli.data.series import (
    Panel,
    Scaler,
    calendar_features,
    calendar_names,
    future_index,
    read_panel,
    season_length,
    window_origins,
)
from rnncli.errors import DataError
from rnncli.training.metrics import (
    forecast_metrics,
    mase_scale,
    naive_forecast,
    seasonal_naive_forecast,
)

AIRLINE = [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def airline(tmp_path: Path) -> Path:
    rows = [f"1949-{m:02d},{v}" for m, v in enumerate(AIRLINE, start=1)]
    return write(tmp_path, "Month,Passengers\n" + "\n".join(rows) + "\n")


def error_of(path: Path | io.StringIO, **options: object) -> str:
    with pytest.raises(DataError) as info:
        read_panel(path, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- reading


def test_airline_monthly(tmp_path: Path) -> None:
    panel = read_panel(airline(tmp_path))
    assert isinstance(panel, Panel)
    assert (panel.freq, panel.time_column, panel.targets) == ("MS", "Month", ["Passengers"])
    assert panel.id_column is None and panel.past_covariates == [] == panel.future_covariates
    (series,) = panel.series
    assert series.id == ""
    assert series.times.equals(pd.date_range("1949-01-01", periods=12, freq="MS"))
    assert series.targets.dtype == np.float64 and series.targets.shape == (12, 1)
    assert series.targets[:, 0].tolist() == AIRLINE
    assert series.past.shape == (12, 0) and series.future.shape == (12, 0)
    assert len(series.future_times) == 0


def test_time_column_detected_by_content_and_stdin_stream(tmp_path: Path) -> None:
    text = "when,sales\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n"
    panel = read_panel(io.StringIO(text))
    assert (panel.time_column, panel.targets, panel.freq) == ("when", ["sales"], "D")
    assert "stdin" in error_of(io.StringIO("when,sales\n"))


def test_tsv_by_suffix_and_timestamps_with_time(tmp_path: Path) -> None:
    text = "ds\ty\n2012-01-01 00:00:00\t1.5\n2012-01-01 00:30:00\t2\n2012-01-01 01:00:00\t3\n"
    panel = read_panel(write(tmp_path, text, "load.tsv"))
    assert panel.freq == "30min" and panel.targets == ["y"]
    assert panel.series[0].targets[:, 0].tolist() == [1.5, 2.0, 3.0]


def test_long_format_quoted_ids_quarterly(tmp_path: Path) -> None:
    text = (
        "Region,Quarter,Trips\n"
        '"Launceston, Tamar and the North|Tasmania|Visiting",1998 Q1,12.3\n'
        "Sydney,1998 Q1,100\n"
        '"Launceston, Tamar and the North|Tasmania|Visiting",1998 Q2,13\n'
        "Sydney,1998 Q2,110\n"
        '"Launceston, Tamar and the North|Tasmania|Visiting",1998 Q3,14.5\n'
        "Sydney,1998 Q3,120\n"
        "Sydney,1998 Q4,130\n"
    )
    panel = read_panel(write(tmp_path, text), id_column="Region")
    assert panel.freq == "QS-JAN" and panel.time_column == "Quarter" and panel.targets == ["Trips"]
    assert [s.id for s in panel.series] == [
        "Launceston, Tamar and the North|Tasmania|Visiting",
        "Sydney",
    ]
    first, second = panel.series
    assert first.targets[:, 0].tolist() == [12.3, 13.0, 14.5]
    assert second.times.equals(pd.date_range("1998-01-01", periods=4, freq="QS-JAN"))
    assert second.targets[:, 0].tolist() == [100, 110, 120, 130]


def test_covariates_and_explicit_frequency(tmp_path: Path) -> None:
    text = "date,y,temp,promo\n2024-01-01,1,10,0\n2024-01-02,2,11,1\n2024-01-03,3,12,0\n"
    panel = read_panel(
        write(tmp_path, text),
        targets=["y"],
        past_covariates=["temp"],
        future_covariates=["promo"],
        frequency="D",
    )
    series = panel.series[0]
    assert panel.freq == "D"
    assert series.past[:, 0].tolist() == [10, 11, 12]
    assert series.future[:, 0].tolist() == [0, 1, 0]


# --------------------------------------------------------------------------- bad input


def test_missing_file_directory_encoding(tmp_path: Path) -> None:
    assert "file not found" in error_of(tmp_path / "nope.csv")
    assert "directory" in error_of(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Month,Passengers\n1949-01,112\n1949-02,\xff\n")
    message = error_of(bad)
    assert f"{bad} is not valid utf-8 (line 3, byte 37)" in message
    assert "data.encoding" in message
    assert "unknown encoding" in error_of(airline(tmp_path), encoding="no-such-codec")


def test_empty_and_header_only(tmp_path: Path) -> None:
    empty = write(tmp_path, "", "empty.csv")
    assert error_of(empty) == f"no rows in {empty}: the file is empty"
    header = write(tmp_path, "Month,Passengers\n\n", "header.csv")
    assert "no rows in" in error_of(header) and "only a header" in error_of(header)


def test_unknown_column_did_you_mean(tmp_path: Path) -> None:
    message = error_of(airline(tmp_path), targets=["Pasengers"])
    assert "no target column 'Pasengers'" in message
    assert "columns: Month, Passengers" in message
    assert "did you mean 'Passengers'?" in message
    assert "did you mean 'Month'?" in error_of(airline(tmp_path), time_column="month ")


def test_wrong_delimiter_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "Month;Passengers\n1949-01;112\n1949-02;118\n")
    assert "is the delimiter wrong? the file was split on commas" in error_of(
        path, targets=["Passengers"]
    )
    assert "delimiter" in error_of(path)


def test_non_numeric_target_names_line(tmp_path: Path) -> None:
    rows = "".join(f"1949-{m:02d},{v}\n" for m, v in enumerate([1, 2, 3, 4, 5, "abc"], start=1))
    path = write(tmp_path, "Month,Passengers\n" + rows)
    message = error_of(path, targets=["Passengers"])
    assert f"target 'Passengers' is not numeric ({path}, line 7: 'abc')" in message


def test_unparseable_date_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Month,Passengers\n1949-01,1\n1949-02,2\n1949-03,3\nabc,4\n")
    message = error_of(path)
    assert f"time column 'Month' has a value that is not a date ({path}, line 5: 'abc')" in message


def test_unsorted_names_line_and_sort_option(tmp_path: Path) -> None:
    path = write(tmp_path, "Month,Passengers\n1949-01,1\n1949-03,3\n1949-02,2\n1949-04,4\n")
    message = error_of(path)
    assert "go back in time" in message and "line 4" in message and "data.sort" in message
    series = read_panel(path, sort=True).series[0]
    assert series.targets[:, 0].tolist() == [1, 2, 3, 4]


def test_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "Month,Passengers\n1949-01,1\n1949-02,2\n1949-02,4\n1949-03,3\n")
    message = error_of(path)
    assert "duplicate timestamp 1949-02-01" in message and "lines 3 and 4" in message
    values = {
        mode: read_panel(path, duplicates=mode).series[0].targets[:, 0].tolist()
        for mode in ("first", "last", "mean")
    }
    assert values == {"first": [1, 2, 3], "last": [1, 4, 3], "mean": [1, 3, 3]}


GAP = "Month,Passengers\n1949-01,10\n1949-02,20\n1949-05,50\n1949-06,60\n"
HOLE = "Month,Passengers\n1949-01,10\n1949-02,\n1949-03,40\n1949-04,\n1949-05,\n1949-06,70\n"


def test_gap_with_missing_error_names_timestamps(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GAP))
    assert "2 missing timestamp(s)" in message and "1949-03-01, 1949-04-01" in message
    assert "data.missing: interpolate" in message


def test_empty_cells_with_missing_error_name_lines(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, HOLE))
    assert "3 empty cell(s)" in message
    assert "line 3 'Passengers', line 5 'Passengers', line 6 'Passengers'" in message
    assert "ffill" in message


@pytest.mark.parametrize(
    ("text", "missing", "expected"),
    [
        (GAP, "interpolate", [10, 20, 30, 40, 50, 60]),
        (GAP, "ffill", [10, 20, 20, 20, 50, 60]),
        (HOLE, "interpolate", [10, 25, 40, 50, 60, 70]),
        (HOLE, "ffill", [10, 10, 40, 40, 40, 70]),
        ("Month,Passengers\n1949-01,\n1949-02,5\n1949-03,7\n", "interpolate", [5, 5, 7]),
        ("Month,Passengers\n1949-01,\n1949-02,5\n1949-03,7\n", "ffill", [5, 5, 7]),
    ],
)
def test_filling(tmp_path: Path, text: str, missing: str, expected: list[float]) -> None:
    series = read_panel(write(tmp_path, text), missing=missing).series[0]
    assert series.times.equals(pd.date_range("1949-01-01", periods=len(expected), freq="MS"))
    np.testing.assert_allclose(series.targets[:, 0], expected)


def test_other_bad_input(tmp_path: Path) -> None:
    two = write(tmp_path, "date,a,b\n2020-01-01,1,2\n2020-01-02,3,4\n", "two.csv")
    assert "several numeric columns" in error_of(two) and "--target" in error_of(two)
    none = write(tmp_path, "date,name\n2020-01-01,x\n2020-01-02,y\n", "none.csv")
    assert "no numeric column to forecast" in error_of(none)
    ragged = write(tmp_path, "date,y\n2020-01-01,1\n2020-01-02,2,3\n", "ragged.csv")
    assert "line 3" in error_of(ragged) and "delimiter" in error_of(ragged)
    short = write(tmp_path, "id,date,y\na,2020-01-01,1\na,2020-01-02,2\nb,2020-01-01,3\n")
    assert "series 'b'" in error_of(short, id_column="id")
    mixed = write(tmp_path, "id,date,y\na,2020-01-01,1\na,2020-01-02,2\na,2020-01-03,2\n", "m.csv")
    with mixed.open("a") as handle:
        handle.write("b,2020-01-01,1\nb,2020-02-01,2\nb,2020-03-01,3\n")
    message = error_of(mixed, id_column="id")
    assert "different frequencies ('a' D, 'b' MS)" in message and "data.frequency" in message
    assert "unknown frequency 'XX'" in error_of(airline(tmp_path), frequency="XX")
    off = error_of(airline(tmp_path), frequency="W-SUN")
    assert "not on the 'W-SUN' grid" in off and "line 2" in off
    empty_id = write(tmp_path, "id,date,y\n,2020-01-01,1\n", "empty_id.csv")
    assert "id column 'id' is empty" in error_of(empty_id, id_column="id")
    both = error_of(airline(tmp_path), targets=["Passengers"], past_covariates=["Passengers"])
    assert "use each column once" in both
    notime = write(tmp_path, "a,b\nx,1\ny,2\n", "notime.csv")
    assert "--time-column" in error_of(notime)
    inf = write(tmp_path, "date,y\n2020-01-01,1\n2020-01-02,inf\n", "inf.csv")
    assert "not a finite number" in error_of(inf) and "line 3" in error_of(inf)


def test_gappy_series_joins_the_panel_frequency(tmp_path: Path) -> None:
    text = (
        "id,month,y\n"
        "a,2020-01,1\na,2020-02,2\na,2020-03,3\na,2020-04,4\n"
        "b,2020-01,10\nb,2020-03,30\nb,2020-05,50\n"
    )
    panel = read_panel(write(tmp_path, text), id_column="id", missing="interpolate")
    assert panel.freq == "MS"
    assert panel.series[1].targets[:, 0].tolist() == [10, 20, 30, 40, 50]
    message = error_of(write(tmp_path, text, "e.csv"), id_column="id")
    assert "2 missing timestamp(s)" in message and "2020-02-01, 2020-04-01" in message


def test_future_rows(tmp_path: Path) -> None:
    text = (
        "date,y,promo\n"
        "2024-01-01,1,0\n2024-01-02,2,1\n2024-01-03,,0\n2024-01-04,4,1\n"
        "2024-01-05,,1\n2024-01-06,,0\n"
    )
    path = write(tmp_path, text)
    panel = read_panel(path, targets=["y"], future_covariates=["promo"], missing="interpolate")
    series = panel.series[0]
    assert series.times.equals(pd.date_range("2024-01-01", periods=4, freq="D"))
    assert series.future_times.equals(pd.date_range("2024-01-05", periods=2, freq="D"))
    assert series.targets[:, 0].tolist() == [1, 2, 3, 4]
    assert series.future[:, 0].tolist() == [0, 1, 0, 1, 1, 0]
    # without future covariates the trailing rows are plain missing values
    message = error_of(path, targets=["y"])
    assert "line 4 'y', line 6 'y', line 7 'y'" in message
    filled = read_panel(path, targets=["y"], past_covariates=["promo"], missing="ffill")
    assert filled.series[0].targets[:, 0].tolist() == [1, 2, 2, 4, 4, 4]
    gap = write(tmp_path, "date,y,promo\n2024-01-01,1,0\n2024-01-02,2,1\n2024-01-04,,1\n", "g.csv")
    message = error_of(gap, targets=["y"], future_covariates=["promo"])
    assert "continue" in message and "line 4" in message and "expected 2024-01-03" in message


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Month,Passengers\n1949-01,1\n1949-02,2\n"))
    assert read_panel("-").series[0].targets[:, 0].tolist() == [1, 2]


@st.composite
def panel_files(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """Small long-format files: regular grids with dropped, repeated, shuffled and bad cells."""
    freq = draw(st.sampled_from(["D", "B", "W-SUN", "MS", "QE-DEC", "YS", "h", "15min"]))
    lines = []
    for sid in draw(st.lists(st.sampled_from(["a", "b c", "d,e"]), min_size=1, unique=True)):
        n = draw(st.integers(2, 8))
        times = pd.date_range("2020-01-05", periods=n + 2, freq=freq)
        edit = draw(st.sampled_from(["none", "none", "drop", "repeat", "shuffle"]))
        keep = list(range(n))
        if edit != "none":
            picked = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n + 2))
            keep = sorted(picked) if edit == "drop" else keep + picked
        for i in keep:
            junk = draw(st.integers(0, 24))
            value = "x" if junk == 12 else "" if junk in (13, 14) else str(i)
            stamp = "soon" if junk == 11 else str(times[i])
            covariate = "" if junk in (10, 14) else str(junk % 2)
            lines.append(f'"{sid}",{stamp},{value},{covariate}')
        lines += [f'"{sid}",{times[n + j]},,1' for j in range(draw(st.integers(0, 2)))]
    options: dict[str, object] = {
        "id_column": "id",
        "targets": ["y"],
        "missing": draw(st.sampled_from(["error", "interpolate", "ffill"])),
        "duplicates": draw(st.sampled_from(["error", "first", "last", "mean"])),
        "sort": draw(st.booleans()),
        "frequency": draw(st.sampled_from(["auto", freq])),
        draw(st.sampled_from(["past_covariates", "future_covariates"])): ["z"],
    }
    return "id,time,y,z\n" + "\n".join(lines) + "\n", options


@settings(max_examples=80, deadline=None)
@given(panel_files())
def test_read_panel_gives_a_clean_panel_or_one_data_error(case: tuple[str, dict]) -> None:
    text, options = case
    try:
        panel = read_panel(io.StringIO(text), **options)
    except DataError as exc:
        assert "\n" not in str(exc) and "stdin" in str(exc)
        return
    for series in panel.series:
        grid = series.times.append(series.future_times)
        assert grid.equals(pd.date_range(grid[0], periods=len(grid), freq=panel.freq))
        assert series.targets.shape == (len(series.times), 1) == (len(series.past), 1)
        assert series.future.shape[0] == len(grid)
        for values in (series.targets, series.past, series.future):
            assert values.dtype == np.float64 and not np.isnan(values).any()


# --------------------------------------------------------------------------- calendar


@pytest.mark.parametrize(
    ("freq", "season", "columns"),
    [
        ("MS", 12, 2),
        ("ME", 12, 2),
        ("QS-JAN", 4, 2),
        ("QE-DEC", 4, 2),
        ("YS", 1, 0),
        ("W-SUN", 52, 2),
        ("D", 7, 4),
        ("B", 5, 4),
        ("h", 24, 4),
        ("30min", 48, 4),
        ("15min", 96, 4),
        ("10min", 144, 4),
        ("s", 1, 4),
    ],
)
def test_calendar_and_season(freq: str, season: int, columns: int) -> None:
    assert season_length(freq) == season
    times = pd.date_range("2019-12-30", periods=30, freq=freq)
    features = calendar_features(times, freq)
    assert features.dtype == np.float32
    assert features.shape == (30, columns) == (30, len(calendar_names(freq)))
    assert np.all(np.abs(features) <= 1.0 + 1e-6)
    names = calendar_names(freq)
    assert all(n.endswith(("_sin", "_cos")) for n in names)
    if features.size:
        np.testing.assert_allclose(features[:, 0] ** 2 + features[:, 1] ** 2, 1.0, rtol=1e-5)
    nxt = future_index(times[-1], freq, 3)
    assert nxt.equals(pd.date_range(times[0], periods=33, freq=freq)[30:])


def test_calendar_values() -> None:
    assert calendar_names("MS") == ["month_sin", "month_cos"]
    months = pd.date_range("2020-01-01", periods=12, freq="MS")
    features = calendar_features(months, "MS")
    np.testing.assert_allclose(features[0], [0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(features[3], [1.0, 0.0], atol=1e-7)
    assert calendar_names("h")[:2] == ["hour_sin", "hour_cos"]
    noon = calendar_features(pd.DatetimeIndex(["2020-01-01 12:00"]), "h")
    np.testing.assert_allclose(noon[0, :2], [0.0, -1.0], atol=1e-6)
    assert len(future_index(pd.Timestamp("2020-01-01"), "MS", 0)) == 0


# --------------------------------------------------------------------------- scaling


@st.composite
def matrices(draw: st.DrawFn, positive: bool = False) -> np.ndarray:
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 3))
    low = 1e-3 if positive else -1e6
    values = st.floats(low, 1e6, allow_nan=False, allow_infinity=False)
    return draw(arrays(np.float64, (rows, cols), elements=values))


def assert_round_trip(scaler: Scaler, x: np.ndarray) -> None:
    back = scaler.inverse(scaler.transform(x))
    tolerance = 1e-9 * np.maximum(np.abs(x).max(axis=0), 1e-300)
    assert np.all(np.abs(back - x) <= tolerance + 1e-9 * np.abs(x))


@settings(max_examples=60, deadline=None)
@given(matrices(), st.sampled_from(["standard", "minmax", "mean", "none"]))
def test_scaler_round_trip(x: np.ndarray, kind: str) -> None:
    scaler = Scaler(kind).fit(x)
    assert_round_trip(scaler, x)
    again = Scaler.from_json(json.loads(json.dumps(scaler.to_json())))
    np.testing.assert_array_equal(again.transform(x), scaler.transform(x))
    assert again.to_json() == scaler.to_json()


@settings(max_examples=60, deadline=None)
@given(matrices(positive=True), st.sampled_from(["standard", "minmax", "mean", "none"]))
def test_scaler_round_trip_log(x: np.ndarray, kind: str) -> None:
    scaler = Scaler(kind, log=True).fit(x)
    back = scaler.inverse(scaler.transform(x))
    np.testing.assert_allclose(back, x, rtol=1e-9)
    batched = scaler.transform(np.stack([x, x]))
    assert batched.shape == (2, *x.shape)


@settings(max_examples=40, deadline=None)
@given(matrices(), matrices(), st.sampled_from(["standard", "minmax", "mean"]))
def test_scaler_fits_only_what_it_is_given(train: np.ndarray, other: np.ndarray, kind: str) -> None:
    other = np.resize(other, (len(other), train.shape[1]))
    scaler = Scaler(kind).fit(train)
    before = scaler.to_json()
    scaler.transform(other)
    scaler.inverse(other)
    assert scaler.to_json() == before


def test_scaler_params_and_errors() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    standard = Scaler("standard").fit(x)
    np.testing.assert_allclose(standard.transform(x), [[-1, 0], [1, 0]])
    np.testing.assert_allclose(Scaler("minmax").fit(x).transform(x), [[0, 0], [1, 0]])
    np.testing.assert_allclose(Scaler("mean").fit(x).transform(x), [[0.5, 1], [1.5, 1]])
    with pytest.raises(DataError, match=r"column 0 has 0.0 \(train.csv\)"):
        Scaler(log=True).fit(np.array([[0.0], [1.0]]), where="train.csv")
    with pytest.raises(DataError, match="unknown scaling"):
        Scaler("robust")
    with pytest.raises(DataError, match="malformed"):
        Scaler.from_json({"kind": "standard"})


# --------------------------------------------------------------------------- windows


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 60),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(0, 70),
    st.integers(0, 60),
    st.integers(1, 7),
)
def test_window_origins(
    length: int, lookback: int, horizon: int, start: int, stop: int, stride: int
) -> None:
    stop = min(stop, length)
    origins = window_origins(length, lookback, horizon, start, stop, stride)
    assert origins.dtype == np.int64
    first, last = max(start, lookback), stop - horizon
    expected = (last - first) // stride + 1 if last >= first else 0
    assert len(origins) == expected
    if not expected:
        return
    assert origins[-1] == last
    assert np.all(np.diff(origins) == stride)
    assert origins[0] >= start and origins[0] - lookback >= 0
    assert origins[0] - stride < first  # nothing more fits before the first origin
    assert np.all(origins + horizon <= stop)  # no target index reaches the held-out part
    for o in origins:
        inputs, targets = np.arange(o - lookback, o), np.arange(o, o + horizon)
        assert inputs.min() >= 0 and targets.max() < stop and inputs.max() < targets.min()


def test_window_origins_example_and_errors() -> None:
    assert window_origins(10, 3, 2, 0, 10).tolist() == [3, 4, 5, 6, 7, 8]
    assert window_origins(10, 3, 2, 0, 10, stride=4).tolist() == [4, 8]
    assert window_origins(10, 3, 2, 6, 8).tolist() == [6]
    assert window_origins(10, 3, 2, 7, 8).tolist() == []
    with pytest.raises(DataError, match="lookback"):
        window_origins(10, 0, 2, 0, 10)
    with pytest.raises(DataError, match="stop"):
        window_origins(10, 3, 2, 0, 11)


# --------------------------------------------------------------------------- metrics


def test_naive_forecasts() -> None:
    history = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert naive_forecast(history, 3).tolist() == [6, 6, 6]
    assert seasonal_naive_forecast(history, 5, 4).tolist() == [3, 4, 5, 6, 3]
    assert seasonal_naive_forecast(history, 4, 1).tolist() == naive_forecast(history, 4).tolist()
    assert seasonal_naive_forecast(history, 2, 12).tolist() == [6, 6]
    two = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    assert seasonal_naive_forecast(two, 3, 2).tolist() == [[2, 20], [3, 30], [2, 20]]


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e3, 1e3)), st.integers(1, 9))
def test_seasonal_naive_season_one_is_naive(history: np.ndarray, horizon: int) -> None:
    np.testing.assert_array_equal(
        seasonal_naive_forecast(history, horizon, 1), naive_forecast(history, horizon)
    )


def test_mase_scale() -> None:
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert mase_scale(y, 1) == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert mase_scale(y, 2) == pytest.approx((1 + 2 + 2) / 3)
    assert mase_scale(y, 7) == pytest.approx(7 / 4)  # season longer than the series: lag 1
    assert mase_scale(np.array([1.0, 2.0, 1.0, 2.0]), 2) == pytest.approx(1.0)  # lag-1 fallback
    assert mase_scale(np.array([3.0, 3.0, 3.0]), 1) == 1.0
    assert mase_scale(np.array([3.0]), 1) == 1.0


def test_forecast_metrics() -> None:
    actual = np.array([1.0, 2.0, 0.0, 4.0])
    predicted = np.array([2.0, 2.0, 1.0, 2.0])
    result = forecast_metrics(actual, predicted, scale=2.0)
    assert result["mae"] == pytest.approx(1.0)
    assert result["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert result["mape"] == pytest.approx((1.0 + 0.0 + 0.5) / 3 * 100)
    assert result["smape"] == pytest.approx((200 / 3 + 0 + 200 + 400 / 6) / 4)
    assert result["mase"] == pytest.approx(0.5)
    zeros = forecast_metrics(np.zeros(3), np.zeros(3), scale=0.0)
    assert zeros == {"mae": 0.0, "rmse": 0.0, "mape": 0.0, "smape": 0.0, "mase": 0.0}
    assert all(not math.isnan(v) for v in zeros.values())


def test_a_header_only_file_with_a_quoted_line_end_is_one_error_line(tmp_path: Path) -> None:
    """Found by benchmarks/fuzz.py: the header's cells were quoted whole, line end and all."""
    path = tmp_path / "s.csv"
    path.write_bytes(b'"\xc2\x85\xe6\xbc\xa2c1\x1d\xf0\x9f\x99\x82\n].1')
    with pytest.raises(DataError) as info:
        read_panel(path)
    assert "only a header" in str(info.value) and "\n" not in str(info.value)
