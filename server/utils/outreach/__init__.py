"""The daily outreach pipeline: the tenant's pool (ingest), daily selection, distribution over VA
tables, run-daily and its schedule, the VA lifecycle (status sync, unfollow, delete, expire), campaigns.
May import ``airtable``, ``jobs`` and the shared leaves; never ``scrape``.
"""
