"""Task metrics as plain functions over integer arrays."""

from __future__ import annotations

import numpy as np

from rnncli.errors import UsageError


def confusion(gold: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: rows are gold labels, columns predictions."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (gold, pred), 1)
    return matrix


def classification_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."""
    matrix = confusion(gold, pred, len(labels))
    tp = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(0), matrix.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = actual > 0
    return {
        "accuracy": float(tp.sum() / max(len(gold), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for label, p, r, f, n in zip(labels, precision, recall, f1, actual, strict=True)
        },
        "confusion": matrix.tolist(),
    }


def multilabel_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Multi-label: exact-match accuracy, macro- and micro-F1, per-label P/R/F1.

    gold, pred: (n, labels) booleans.
    """
    gold, pred = gold.astype(bool), pred.astype(bool)
    tp = (gold & pred).sum(0).astype(float)
    predicted, actual = pred.sum(0).astype(float), gold.sum(0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = actual > 0
    micro_denom = predicted.sum() + actual.sum()
    return {
        "accuracy": float((gold == pred).all(1).mean()) if len(gold) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom else 0.0,
        "hamming_loss": float((gold != pred).mean()) if gold.size else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for label, p, r, f, n in zip(labels, precision, recall, f1, actual, strict=True)
        },
    }


def naive_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value repeated: history (n, ...) -> (horizon, ...)."""
    history = np.asarray(history)
    if not len(history):
        raise ValueError("naive_forecast needs a non-empty history")
    return np.repeat(history[-1:], horizon, axis=0)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season before each step: y[n + h - season * ceil((h + 1) / season)].

    Season 1 (or a history shorter than one season) gives the naive forecast.
    """
    history = np.asarray(history)
    n = len(history)
    if season <= 1 or n < season:
        return naive_forecast(history, horizon)
    h = np.arange(horizon)
    return history[n + h - season * ((h + season) // season)]


def mase_scale(insample: np.ndarray, season: int) -> float:
    """Mean |y_t - y_{t-season}| of the in-sample series (lag 1 when the season does not fit).

    Falls back to the lag-1 scale when that is 0, and to 1.0 when that is 0 too.
    """
    y = np.asarray(insample, dtype=np.float64)
    lag = season if 1 <= season < len(y) else 1
    for step in (lag, 1):
        if len(y) > step:
            scale = float(np.mean(np.abs(y[step:] - y[:-step])))
            if scale > 0 and np.isfinite(scale):
                return scale
    return 1.0


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, scale: float) -> dict[str, float]:
    """mae, rmse, mape (%), smape (%) and mase (mae / scale) over all points.

    mape skips points where actual == 0 and is 0.0 when none is left (never NaN); smape counts
    0/0 points as 0; a scale <= 0 counts as 1; empty arrays give 0.0 everywhere.
    """
    a = np.asarray(actual, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    if a.shape != p.shape:
        raise ValueError(f"actual has {a.size} values, predicted {p.size}")
    if not a.size:
        return {"mae": 0.0, "rmse": 0.0, "mape": 0.0, "smape": 0.0, "mase": 0.0}
    error = np.abs(a - p)
    nonzero = a != 0
    mape = float(np.mean(error[nonzero] / np.abs(a[nonzero])) * 100) if nonzero.any() else 0.0
    denom = np.abs(a) + np.abs(p)
    ratio = np.divide(error, denom, out=np.zeros_like(error), where=denom > 0)
    mae = float(error.mean())
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": mape,
        "smape": float(np.mean(ratio) * 200),
        "mase": mae / (scale if scale > 0 else 1.0),
    }


def bleu_chrf(hypotheses: list[str], references: list[str], lowercase: bool = False) -> dict:
    """Corpus BLEU and chrF of detokenised text with sacrebleu (the comparable standard).

    sacrebleu is an optional dependency: pip install 'rnncli[bleu]'.
    """
    try:
        import sacrebleu
    except ImportError:
        raise UsageError(
            "BLEU and chrF need the optional package sacrebleu: pip install 'rnncli[bleu]'"
        ) from None
    bleu = sacrebleu.metrics.BLEU(lowercase=lowercase)
    chrf = sacrebleu.metrics.CHRF(lowercase=lowercase)
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": float(b.score), "chrf": float(c.score), "signature": str(bleu.get_signature())}
