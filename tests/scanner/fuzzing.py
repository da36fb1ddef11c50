"""Hypothesis profiles of the scanner's property tests: a short budget in `make test`, a long one in
`make fuzz` (HULLSCAN_FUZZ=1; HULLSCAN_FUZZ_EXAMPLES sets the examples per property, default 20,000)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "hullscan-quick", max_examples=30, deadline=timedelta(seconds=5), database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(  # failing examples are kept (outside the repository) and replayed first next time
    "hullscan-fuzz", max_examples=int(os.environ.get("HULLSCAN_FUZZ_EXAMPLES", "20000")), deadline=None,
    database=DirectoryBasedExampleDatabase(str(Path.home() / ".cache" / "hullscan-fuzz")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Decorate each property test with this (the profile is chosen once, from the environment).
PROFILE = settings.get_profile("hullscan-fuzz" if os.environ.get("HULLSCAN_FUZZ") else "hullscan-quick")
