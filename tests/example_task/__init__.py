"""An example task that lives only in the tests: the sum of a line of digits.

It proves the task protocol is complete: this folder plus one `register(...)` line
(tests/test_task_protocol.py) make it train, save, load, evaluate and describe itself
through the same API and CLI paths as the built-in tasks, with no edit anywhere else.
"""
