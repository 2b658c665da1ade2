"""The contract suites' shared fixture: `private_cache_dir` (autouse), as in tests/."""

from __future__ import annotations

from tests.cache_env import private_cache_dir

__all__ = ["private_cache_dir"]
