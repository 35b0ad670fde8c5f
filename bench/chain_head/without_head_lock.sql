-- The same writes with no head row: what the lock costs is the difference.
BEGIN;
INSERT INTO f (kind, body) VALUES ('order', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('hist', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('exec', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('queue', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('inbound', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('event', '{"a":1}'), ('event', '{"a":1}');
SELECT 1;
COMMIT;
