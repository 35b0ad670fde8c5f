-- Full routing's writes as one transaction, the log's head row locked from its read to COMMIT.
BEGIN;
INSERT INTO f (kind, body) VALUES ('order', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('hist', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('exec', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('queue', '{"a":1}');
INSERT INTO f (kind, body) VALUES ('inbound', '{"a":1}');
SELECT last_seq FROM h WHERE id = 1 FOR UPDATE;
INSERT INTO f (kind, body) VALUES ('event', '{"a":1}'), ('event', '{"a":1}');
UPDATE h SET last_seq = last_seq + 2 WHERE id = 1;
COMMIT;
