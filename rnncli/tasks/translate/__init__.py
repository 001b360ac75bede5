"""The `translate` task: a sequence-to-sequence translator with attention (`rnn translate`).

`schema` (the recipe; no torch), `task` (data, model, training plan, prediction,
evaluation, description). The registry (rnncli/tasks/registry.py) names this package.
"""
