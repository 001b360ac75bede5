"""The `classify` task: a many-to-one text classifier (`rnn classify`).

`schema` (the recipe; no torch), `task` (data, model, training plan, prediction,
evaluation, description). The registry (rnncli/tasks/registry.py) names this package.
"""
