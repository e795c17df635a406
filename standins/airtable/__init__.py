"""Airtable Web API stand-in.

A small in-memory HTTP server that speaks enough of the Airtable Web API (records,
meta/schema, rate limits, error bodies) for the real ``pyairtable`` client to run
against it unchanged via ``Api(token, endpoint_url="http://HOST:PORT")``.

Modules: ``ids`` (id generation), ``errors`` (Airtable error bodies), ``fields``
(field schemas and cell-value validation), ``formula`` (``filterByFormula`` subset),
``query`` (list-records parameters), ``store`` (thread-safe bases/tables/records),
``ratelimit`` (5 req/s per base with penalty, request statistics), ``app`` (Flask
app factory for ``/v0``), ``control`` (the ``/_control`` test API) and ``server``
(command line: ``python -m standins airtable --help``).
"""
