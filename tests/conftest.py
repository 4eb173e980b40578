"""Hypothesis settings for the whole unit suite.

No per-example deadline: on a busy two-core CI machine a slow example is not a bug, and a
deadline would turn load into flaky failures. In CI the search is derandomized, so a run is
reproducible; locally it explores afresh each time.
"""

import os

from hypothesis import settings

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
