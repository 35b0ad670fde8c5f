"""The database engines: Django's own, plus the audit chain written at commit
(audit/chaining.py).

`DATABASE_URL` picks PostgreSQL or SQLite as usual; settings swap in these engines.
"""
