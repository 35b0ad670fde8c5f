"""opscore's database engines: Django's own, plus the hash chain written at commit.

`DATABASE_URL` picks PostgreSQL or SQLite as usual; settings swap in these engines.
"""
