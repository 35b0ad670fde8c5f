-- Tables for the chain-head pgbench scripts beside this file: one-row stand-ins for full
-- routing's writes (f) and the log's head row (h).
CREATE TABLE IF NOT EXISTS f (id bigserial PRIMARY KEY, kind text, body jsonb);
CREATE TABLE IF NOT EXISTS h (id int PRIMARY KEY, last_seq bigint);
INSERT INTO h VALUES (1, 0) ON CONFLICT DO NOTHING;
