"""Domain code below the HTTP and Celery entry points (``server/api_*.py``, ``server/tasks.py``).

Packages: ``scrape`` (source accounts → Apify runs → kept profiles), ``outreach`` (pool, daily
campaigns, VA lifecycle), ``airtable`` (the VA tables and every request to them), ``gender``
(name → gender), ``jobs`` (the job table and its runners). Shared leaves at the top: ``accounts``
(Instagram username and id rules), ``clock``, ``tenants``, ``text``. Imports point down only:
api / tasks → these packages → ``server.db`` / ``server.settings`` / ``server.services``.
"""
