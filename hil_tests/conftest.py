"""The HIL suite's fixtures come from the ``hil_tests.plugin`` entry point (see pyproject)."""
