"""Scaling a series' values: per-column scalers fitted on the training part only."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnncli.errors import DataError

SCALINGS = ("standard", "minmax", "mean", "none")


class Scaler:
    """Per-column scaling fitted on training values only; JSON round-trips exactly.

    transform(x) = (log(x) if log else x - offset) / scale; inverse undoes it (exp when log).
    """

    def __init__(self, kind: str = "standard", log: bool = False) -> None:
        if kind not in SCALINGS:
            raise DataError(f"unknown scaling {kind!r}: use one of {', '.join(SCALINGS)}")
        self.kind = kind
        self.log = bool(log)
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, values: np.ndarray, where: str = "") -> Scaler:
        """Learn offset and scale per column from `values` (n, C); returns self."""
        x = np.asarray(values, dtype=np.float64)
        x = x.reshape(-1, x.shape[-1]) if x.ndim >= 2 else x.reshape(-1, 1)
        at = f" ({where})" if where else ""
        if not len(x):
            raise DataError(f"no values to fit the scaling on{at}: the training part is empty")
        if not np.isfinite(x).all():
            raise DataError(f"values to scale must be finite numbers{at}: fill the missing ones")
        x = self._log(x, where)
        if self.kind == "standard":
            offset, scale = x.mean(axis=0), x.std(axis=0)
        elif self.kind == "minmax":
            offset, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        elif self.kind == "mean":
            offset, scale = np.zeros(x.shape[1]), np.abs(x).mean(axis=0)
        else:
            offset, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.offset, self.scale = offset.astype(np.float64), scale.astype(np.float64)
        return self

    def _log(self, x: np.ndarray, where: str = "") -> np.ndarray:
        if not self.log:
            return x
        bad = np.argwhere(~(x > 0))
        if bad.size:
            column = int(bad[0][-1])
            value = float(x[tuple(bad[0])])
            at = f" ({where})" if where else ""
            raise DataError(f"log_transform needs positive values: column {column} has {value}{at}")
        return np.log(x)

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self.offset is None or self.scale is None:
            raise RuntimeError("Scaler used before fit()")
        return self.offset, self.scale

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled values; works on (n, C) and (..., C)."""
        offset, scale = self._params()
        x = self._log(np.asarray(values, dtype=np.float64))
        return (x - offset) / scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Values back in the original units (exact inverse of transform)."""
        offset, scale = self._params()
        x = np.asarray(values, dtype=np.float64) * scale + offset
        return np.exp(x) if self.log else x

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; floats keep every bit."""
        return {
            "kind": self.kind,
            "log": self.log,
            "offset": None if self.offset is None else [float(v) for v in self.offset],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scaler:
        """The Scaler that to_json described."""
        try:
            scaler = cls(str(data["kind"]), bool(data["log"]))
            offset, scale = data.get("offset"), data.get("scale")
            if offset is not None and scale is not None:
                scaler.offset = np.array(offset, dtype=np.float64).reshape(-1)
                scaler.scale = np.array(scale, dtype=np.float64).reshape(-1)
                if scaler.offset.shape != scaler.scale.shape:
                    raise ValueError("offset and scale differ in length")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed scaler description: {exc}") from None
        return scaler
