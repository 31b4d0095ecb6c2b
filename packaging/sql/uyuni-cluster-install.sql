-- uyuni-cluster: capture changes of Uyuni's tables into an outbox (docs/NODE-CONTROLLER.md,
-- "Events out of Uyuni: triggers and the outbox").
--
-- Triggers on Uyuni's tables write one row per change into uyuni_cluster.outbox and send
-- pg_notify('uyuni_cluster', <table>) as a wake-up only; the peer reads the outbox in id order
-- and deletes rows once its handler acknowledged them. Uyuni itself is not modified.
--
-- Idempotent: running it again gives the same state (and adds triggers to watched tables that
-- appeared since). Tables that do not exist are skipped. Undo with uyuni-cluster-uninstall.sql.
-- Run as the owner of Uyuni's tables (or a superuser), e.g.
--   uyuni-cluster triggers install --db 'host=... dbname=susemanager user=...'
--   psql -v ON_ERROR_STOP=1 -d susemanager -f uyuni-cluster-install.sql

BEGIN;

-- Concurrent installs wait for each other instead of failing half-way.
SET LOCAL client_min_messages = warning;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7310593858020254051); END $$;

CREATE SCHEMA IF NOT EXISTS uyuni_cluster;
COMMENT ON SCHEMA uyuni_cluster IS 'uyuni-cluster change capture (outbox); remove with uyuni-cluster-uninstall.sql';

CREATE TABLE IF NOT EXISTS uyuni_cluster.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

INSERT INTO uyuni_cluster.meta (key, value) VALUES ('version', '1')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

CREATE TABLE IF NOT EXISTS uyuni_cluster.outbox (
    id         bigserial PRIMARY KEY,
    tbl        text NOT NULL,
    op         text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
    row_data   jsonb NOT NULL,
    txid       bigint NOT NULL DEFAULT txid_current(),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per changed row. SECURITY DEFINER: Uyuni's database user needs no rights on the
-- uyuni_cluster schema; search_path is pinned so the function cannot be redirected.
CREATE OR REPLACE FUNCTION uyuni_cluster.capture_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    data jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        data := to_jsonb(OLD);
    ELSE
        data := to_jsonb(NEW);
        -- An UPDATE that changes nothing is no event. Compared as jsonb rather than as
        -- records, so columns without an equality operator (json, point, ...) work too.
        IF TG_OP = 'UPDATE' AND data IS NOT DISTINCT FROM to_jsonb(OLD) THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO uyuni_cluster.outbox (tbl, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, data);
    PERFORM pg_notify('uyuni_cluster', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

-- rhnChannelPackage: reposync inserts and deletes thousands of rows per statement, so this one
-- is captured per statement (transition tables) as ONE outbox row per channel:
-- {"channel_id": N, "packages": <rows of that channel touched by the statement>}.
CREATE OR REPLACE FUNCTION uyuni_cluster.capture_channel_packages() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO uyuni_cluster.outbox (tbl, op, row_data)
            SELECT TG_TABLE_NAME, TG_OP, jsonb_build_object('channel_id', channel_id, 'packages', count(*))
              FROM uyuni_cluster_new GROUP BY channel_id ORDER BY channel_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO uyuni_cluster.outbox (tbl, op, row_data)
            SELECT TG_TABLE_NAME, TG_OP, jsonb_build_object('channel_id', channel_id, 'packages', count(*))
              FROM uyuni_cluster_old GROUP BY channel_id ORDER BY channel_id;
    ELSE
        -- Rows that really changed (symmetric difference of old and new), counted under the
        -- old and the new channel.
        INSERT INTO uyuni_cluster.outbox (tbl, op, row_data)
            SELECT TG_TABLE_NAME, TG_OP, jsonb_build_object('channel_id', channel_id, 'packages', count(DISTINCT package_id))
              FROM ((SELECT channel_id, package_id, to_jsonb(c) AS r FROM uyuni_cluster_new c
                     EXCEPT ALL
                     SELECT channel_id, package_id, to_jsonb(c) AS r FROM uyuni_cluster_old c)
                    UNION ALL
                    (SELECT channel_id, package_id, to_jsonb(c) AS r FROM uyuni_cluster_old c
                     EXCEPT ALL
                     SELECT channel_id, package_id, to_jsonb(c) AS r FROM uyuni_cluster_new c)) AS changed
             GROUP BY channel_id ORDER BY channel_id;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('uyuni_cluster', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END;
$$;

REVOKE ALL ON FUNCTION uyuni_cluster.capture_row() FROM PUBLIC;
REVOKE ALL ON FUNCTION uyuni_cluster.capture_channel_packages() FROM PUBLIC;

DO $$
DECLARE
    t text;
    rel regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['rhnchannel', 'rhnservergroup', 'rhnregtoken', 'rhnactivationkey',
                             'susecontentproject', 'susecontentenvironment', 'rhnserver',
                             'suseminioninfo'] LOOP
        rel := to_regclass(t);
        CONTINUE WHEN rel IS NULL;
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture ON %s', rel);
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture'
                       ' AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION uyuni_cluster.capture_row()', rel);
    END LOOP;

    rel := to_regclass('rhnchannelpackage');
    IF rel IS NOT NULL THEN
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture_insert ON %s', rel);
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture_update ON %s', rel);
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture_delete ON %s', rel);
        -- Transition tables allow one event per trigger.
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture_insert AFTER INSERT ON %s'
                       ' REFERENCING NEW TABLE AS uyuni_cluster_new'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION uyuni_cluster.capture_channel_packages()', rel);
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture_update AFTER UPDATE ON %s'
                       ' REFERENCING OLD TABLE AS uyuni_cluster_old NEW TABLE AS uyuni_cluster_new'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION uyuni_cluster.capture_channel_packages()', rel);
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture_delete AFTER DELETE ON %s'
                       ' REFERENCING OLD TABLE AS uyuni_cluster_old'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION uyuni_cluster.capture_channel_packages()', rel);
    END IF;
END;
$$;

COMMIT;
