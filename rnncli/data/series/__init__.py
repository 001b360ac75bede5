"""Time series for forecasting: read a CSV/TSV panel, check it, put it on a regular grid.

Errors name the file, the line and the value, and say how to fix it. By job:

- `table`: decoding the file line by line into cells, the columns' roles, numbers
- `times`: the time column and its stamps
- `rows`: one series' rows in order, duplicated stamps resolved, future rows split off
- `frequency`: the panel's frequency, given or inferred
- `grid`: the bounded regular grid of a series, its holes filled or refused
- `calendar`: what a frequency means (season length, next stamps, calendar features)
- `panel`: `read_panel`, the steps above in order
- `scaling`, `windows`: scalers and training windows, used when training on a panel
"""

from rnncli.data.series.calendar import (
    calendar_features,
    calendar_names,
    future_index,
    season_length,
)
from rnncli.data.series.grid import GRID_FLOOR, GRID_PER_ROW, MAX_GRID, MISSING_MODES, Series
from rnncli.data.series.panel import Panel, read_panel
from rnncli.data.series.rows import DUPLICATE_MODES
from rnncli.data.series.scaling import SCALINGS, Scaler
from rnncli.data.series.table import NA_TOKENS
from rnncli.data.series.times import TIME_NAMES
from rnncli.data.series.windows import window_origins

__all__ = [
    "DUPLICATE_MODES",
    "GRID_FLOOR",
    "GRID_PER_ROW",
    "MAX_GRID",
    "MISSING_MODES",
    "NA_TOKENS",
    "SCALINGS",
    "TIME_NAMES",
    "Panel",
    "Scaler",
    "Series",
    "calendar_features",
    "calendar_names",
    "future_index",
    "read_panel",
    "season_length",
    "window_origins",
]
