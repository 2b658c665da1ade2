"""``python -m flux_flex.cli``: the same as the ``flux-flex`` console script."""

from __future__ import annotations

import sys

from flux_flex.cli import main

sys.exit(main())
