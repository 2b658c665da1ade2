"""flux-flex benchmarks: client cost, polling promptness, batch throughput and cold start.

Run with ``make bench`` (``python -m benchmarks``). Every figure is measured against a
baseline run side by side on the same machine, against ``flux_flex.testing.FakeBFL`` on
127.0.0.1, and reported as a ratio; the results go to a terminal table and a JSON file.
"""
