"""The `forecast` task: a many-to-one forecaster (`rnn forecast`).

`schema` (the recipe; no torch), `task` (data, model, training plan, prediction,
evaluation, description). The registry (rnncli/tasks/registry.py) names this package.
"""
