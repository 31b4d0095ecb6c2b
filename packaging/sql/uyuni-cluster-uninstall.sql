-- uyuni-cluster: remove the change capture installed by uyuni-cluster-install.sql.
-- Drops every trigger that calls a function of the uyuni_cluster schema, then the schema (the
-- outbox and its pending rows included). Uyuni's tables and their data are not touched.
-- Idempotent: running it on a database without the capture does nothing.

BEGIN;

SET LOCAL client_min_messages = warning;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7310593858020254051); END $$;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.tgname, t.tgrelid::regclass AS rel
               FROM pg_trigger t
               JOIN pg_proc p ON p.oid = t.tgfoid
               JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'uyuni_cluster' AND NOT t.tgisinternal LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', r.tgname, r.rel);
    END LOOP;
END;
$$;

DROP SCHEMA IF EXISTS uyuni_cluster CASCADE;

COMMIT;
