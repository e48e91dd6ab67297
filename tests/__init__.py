"""The template's own test suites (run through nox; their toolbox is harness/)."""
