"""Where a journal lives: paths, sqlite:/// URLs, postgresql:// URLs, $FLUX_FLEX_JOURNAL;
unknown schemes refused before anything happens; passwords never shown; psycopg imported
only for PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from flux_flex import Journal, JournalError
from flux_flex.journal import ENV_VAR, journal_from_env, parse_target, redact


def test_paths_and_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_target("j.sqlite").path == str(tmp_path / "j.sqlite")
    assert parse_target("sqlite:///rel/j.sqlite").path == str(tmp_path / "rel" / "j.sqlite")
    assert parse_target("sqlite:////abs/j.sqlite").path == "/abs/j.sqlite"
    with Journal("sqlite:///rel/j.sqlite") as journal:
        assert journal.path == str(tmp_path / "rel" / "j.sqlite")
    assert (tmp_path / "rel" / "j.sqlite").is_file()


def test_postgres_urls() -> None:
    for url in ("postgresql://u:pw@db.example:6543/flux", "postgres://u:pw@db.example:6543/flux"):
        target = parse_target(url)
        assert (target.kind, target.host, target.port, target.password) == (
            "postgresql",
            "db.example",
            6543,
            "pw",
        )
        assert "pw" not in target.shown
        assert "pw" not in repr(target)
    assert redact("postgresql://u:hunter22@h/d?password=hunter22&x=1") == (
        "postgresql://u:***@h/d?password=***&x=1"
    )


@pytest.mark.parametrize(
    "bad", ["mysql://u:hunter22@h/d", "http://h/j", "sqlite://relative", "postgresql://h:x/d"]
)
def test_an_unknown_scheme_is_a_typed_error_before_anything(bad: str, tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not a task journal location") as caught:
        Journal(bad)
    assert "hunter22" not in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_the_environment_names_the_default_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert journal_from_env() is None
    with pytest.raises(JournalError, match=ENV_VAR):
        Journal()
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path}/env.sqlite")
    opened = journal_from_env()
    assert opened is not None
    with opened:
        assert opened.path == str(tmp_path / "env.sqlite")
    given = journal_from_env(tmp_path / "given.sqlite")  # what the caller passes wins
    assert given is not None
    with given:
        assert given.path == str(tmp_path / "given.sqlite")
        assert journal_from_env(given) is given


def test_psycopg_is_imported_only_for_postgres(tmp_path: Path) -> None:
    code = (
        "import sys, flux_flex\n"
        "from flux_flex import Journal\n"
        f"Journal({str(tmp_path / 'j.sqlite')!r}).close()\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flux_flex.journal._postgres", None)
    with pytest.raises(JournalError, match=r"pip install 'flux-flex\[postgres\]'") as caught:
        Journal("postgresql://u:hunter22@127.0.0.1:1/d")
    assert "hunter22" not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_reader_does_not_create_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "none" / "tasks.sqlite"
    with pytest.raises(JournalError, match="no task journal"):
        Journal(path, create=False)
    assert not path.parent.exists()
    Journal(path).close()
    with Journal(path, create=False) as journal:
        assert journal.entries() == []


def test_a_file_that_is_not_a_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot be"):
        Journal(path)


def test_env_var_name() -> None:
    assert ENV_VAR == "FLUX_FLEX_JOURNAL"
