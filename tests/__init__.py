"""The template's own test suites (run through nox; tests/helpers.py is the toolbox)."""
