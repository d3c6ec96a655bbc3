"""The built-in rule pack: one module per rule, named <id>_<slug>.py; the docstring is its page."""
