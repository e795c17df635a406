"""Scrape jobs: creating a job and its 50-account chunks, running each chunk's Apify actor run,
parsing the actor's items, inferring gender and writing kept profiles, and reading results back.
May import ``jobs``, ``gender``, ``outreach.ingest`` (the auto-ingest follow-up) and the shared leaves.
"""
