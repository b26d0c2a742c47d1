"""Suite-wide settings.

Hypothesis runs derandomized: the same examples every run, so the suite is deterministic in CI.
Explore further by hand with `pytest --hypothesis-seed=N` or `HYPOTHESIS_PROFILE=explore`.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
