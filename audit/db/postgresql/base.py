from django.db.backends.postgresql import base

from audit.chaining import ChainEventsAtCommit


class DatabaseWrapper(ChainEventsAtCommit, base.DatabaseWrapper):
    pass
