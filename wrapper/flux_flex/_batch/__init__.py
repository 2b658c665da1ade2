"""The batch engine (`engine`) and its two runners: worker threads for the sync client
(`threads`), asyncio tasks for the async one (`tasks`)."""
