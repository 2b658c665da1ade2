"""The sans-I/O core shared by the sync and async clients.

Pure functions and small state machines: no sockets, no files, no sleeping. The clients
(`flux_flex.client`, `flux_flex.async_client`) are thin drivers that execute the actions
the core asks for (send a request, sleep, wait for a webhook delivery).
"""
