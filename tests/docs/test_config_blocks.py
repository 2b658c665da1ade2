"""Every ```toml block of the documentation is a config file the fake accepts as it stands
(``flux-flex mock-server --config FILE``): its settings parse, a `FakeBFL` starts with them
and its faults arm."""

from __future__ import annotations

from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL
from flux_flex.testing._options import apply_faults, settings

from .snippets import Snippet, all_snippets

TOML = all_snippets("toml")


def test_the_docs_show_a_config_file() -> None:
    assert TOML, "the testing guide shows a fake.toml"


@pytest.mark.parametrize("snippet", TOML, ids=lambda s: s.name)
def test_toml_block_is_a_config_the_fake_accepts(snippet: Snippet, tmp_path: Path) -> None:
    config = tmp_path / "fake.toml"
    config.write_text(snippet.body, encoding="utf-8")
    values, faults = settings({}, str(config))
    for key in ("host", "port"):
        values.pop(key, None)
    with FakeBFL(**values) as fake:
        apply_faults(fake, faults)


def test_a_config_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "fake.toml"
    config.write_text("task_second = 3.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Unknown setting 'task_second'"):
        settings({}, str(config))
