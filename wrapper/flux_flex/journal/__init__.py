"""`Journal`: the durable task journal — a SQLite file, or a PostgreSQL database shared by
processes and machines (the rules are in `flux_flex._core.journal`).

    from flux_flex import FluxFlex, Journal

    with FluxFlex() as client, Journal("out/tasks.sqlite") as journal:
        client.generate_many(prompts, journal=journal)      # a re-run resumes, never repays
        for entry in journal.entries():
            print(entry.state, entry.task_id, entry.prompt, entry.cost, entry.path)

    Journal("postgresql://flux@db.internal/flux")   # pip install 'flux-flex[postgres]'
    journal_from_env()                               # $FLUX_FLEX_JOURNAL, or None

One entry per request, named by its parameters and its name or occurrence (a batch line),
by an idempotency key (``key:…``) or by its task id (``task:…``). The entry is written
*before* the POST is sent, updated with the task id the moment the answer arrives, then
marked ready, saved or failed. Runs hold what they work on under leases they renew.
"""

from __future__ import annotations

from flux_flex._core.journal import Claim, JournalEntry, State
from flux_flex.journal._journal import (
    CURRENT,
    DEFAULT_LEASE,
    DEFAULT_RENEW_EVERY,
    SCHEMA_VERSION,
    Delivery,
    Journal,
    Start,
    journal_from_env,
)
from flux_flex.journal._migrate import name_from_destination
from flux_flex.journal._url import ENV_VAR, parse_target, redact

__all__ = [
    "CURRENT",
    "DEFAULT_LEASE",
    "DEFAULT_RENEW_EVERY",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "Claim",
    "Delivery",
    "Journal",
    "JournalEntry",
    "Start",
    "State",
    "journal_from_env",
    "name_from_destination",
    "parse_target",
    "redact",
]
