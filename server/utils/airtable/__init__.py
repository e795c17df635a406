"""Everything that talks to Airtable: the gateway (pyairtable with one Redis rate limiter per base),
the VA table schema and base setup, the campaign push, record writes, and the job plumbing they share.
May import ``jobs`` and the shared leaves; never ``outreach`` or ``scrape``.
"""
