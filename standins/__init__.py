"""Local stand-ins for the external SaaS the service talks to (Apify, Airtable).

They speak the documented HTTP APIs closely enough that the real clients
(``apify-client``, ``pyairtable``) run against them unchanged. Used by the demo,
the tests and the benchmarks; never deployed.
"""
