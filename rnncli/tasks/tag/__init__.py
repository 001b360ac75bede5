"""The `tag` task: many-to-many sequence labelling, one tag per token (`rnn tag`).

`schema` (the recipe; no torch), `task` (data, model, training plan, prediction,
evaluation, description). The registry (rnncli/tasks/registry.py) names this package.
"""
