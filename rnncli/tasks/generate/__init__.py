"""The `generate` task: a character or word language model (`rnn generate`).

`schema` (the recipe; no torch), `task` (data, model, training plan, prediction,
evaluation, description). The registry (rnncli/tasks/registry.py) names this package.
"""
