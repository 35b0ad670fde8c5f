from django.db.backends.sqlite3 import base

from audit.chaining import ChainEventsAtCommit


class DatabaseWrapper(ChainEventsAtCommit, base.DatabaseWrapper):
    pass
