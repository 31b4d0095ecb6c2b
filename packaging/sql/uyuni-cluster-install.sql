-- uyuni-cluster: capture changes of Uyuni's tables into an outbox (docs/NODE-CONTROLLER.md,
-- "Events out of Uyuni: triggers and the outbox").
--
-- Triggers on Uyuni's tables write one row per change into uyuni_cluster.outbox and send
-- pg_notify('uyuni_cluster', <table>) as a wake-up only; the peer reads the outbox in id order
-- and deletes rows once its handler acknowledged them. Uyuni itself is not modified.
--
-- Idempotent: running it again gives the same state. Before changing anything it checks that
-- every table and column the triggers and the peer's reader rely on exists, and stops with an
-- error naming what is missing (SQLSTATE P0001, message "uyuni-cluster: Uyuni's schema lacks
-- ...", DETAIL the comma-separated list): a schema that drifted is never half captured.
-- Supported Uyuni releases: docs/NODE-CONTROLLER.md. Undo with uyuni-cluster-uninstall.sql.
--
-- What is captured is filtered here, at the source (docs/PERFORMANCE.md, "Change capture"):
-- only the tables the cluster acts on, and per table the columns whose change alone is no
-- event (Uyuni's own bookkeeping: last_modified, current_members, a CLM build's status, ...).
-- Run as the owner of Uyuni's tables (or a superuser), e.g.
--   uyuni-cluster triggers install --db 'host=... dbname=susemanager user=...'
--   psql -v ON_ERROR_STOP=1 -d susemanager -f uyuni-cluster-install.sql

BEGIN;

-- Concurrent installs wait for each other instead of failing half-way.
SET LOCAL client_min_messages = warning;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7310593858020254051); END $$;

-- Schema drift: every table.column below must exist (lower case, as PostgreSQL folds Uyuni's
-- unquoted names). Keep in step with the watched tables further down and with
-- node-controller's kinds.rs / common_api.rs.
DO $$
DECLARE
    required text[] := ARRAY[
        'rhnchannel.id', 'rhnchannel.label', 'rhnchannel.parent_channel', 'rhnchannel.org_id',
        'rhnchannel.last_modified', 'rhnchannel.last_synced', 'rhnchannel.modified',
        'rhnchannelpackage.channel_id', 'rhnchannelpackage.package_id',
        'rhnservergroup.id', 'rhnservergroup.name', 'rhnservergroup.group_type',
        'rhnservergroup.org_id', 'rhnservergroup.current_members', 'rhnservergroup.modified',
        'rhnregtoken.id', 'rhnregtoken.org_id', 'rhnregtoken.server_id', 'rhnregtoken.note',
        'rhnactivationkey.token', 'rhnactivationkey.reg_token_id', 'rhnactivationkey.modified',
        'rhnregtokenpackages.token_id', 'rhnregtokenpackages.name_id',
        'rhnregtokengroups.token_id', 'rhnregtokengroups.server_group_id',
        'rhnregtokenchannels.token_id', 'rhnregtokenchannels.channel_id',
        'rhnregtokenconfigchannels.token_id', 'rhnregtokenconfigchannels.config_channel_id',
        'rhnconfigchannel.id', 'rhnconfigchannel.label', 'rhnconfigchannel.org_id',
        'rhnconfigchannel.confchan_type_id', 'rhnconfigchannel.modified',
        'rhnconfigfile.id', 'rhnconfigfile.config_channel_id',
        'rhnconfigfile.config_file_name_id', 'rhnconfigfile.latest_config_revision_id',
        'rhnconfigfile.modified',
        'susecontentproject.id', 'susecontentproject.label',
        'susecontentenvironment.id', 'susecontentenvironment.project_id',
        'susecontentenvironment.label', 'susecontentenvironment.modified',
        'susecontentprojectsource.project_id', 'susecontentprojectsource.channel_id',
        'susecontentfilter.id', 'susecontentfilter.name', 'susecontentfilter.modified',
        'susecontentfilterproject.filter_id', 'susecontentfilterproject.project_id',
        'susecontentenvironmenttarget.env_id', 'susecontentenvironmenttarget.channel_id',
        'susecontentenvironmenttarget.status', 'susecontentenvironmenttarget.built_time',
        'suseminioninfo.server_id', 'suseminioninfo.minion_id'];
    missing text[];
BEGIN
    SELECT array_agg(r ORDER BY r) INTO missing
      FROM unnest(required) AS r
     WHERE NOT EXISTS (
           SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = to_regclass(split_part(r, '.', 1))
              AND a.attname = split_part(r, '.', 2)
              AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'uyuni-cluster: Uyuni''s schema lacks % table column(s) the change capture needs: %',
                        cardinality(missing), array_to_string(missing, ', ')
              USING DETAIL = array_to_string(missing, ','),
                    HINT = 'Is this a supported Uyuni release (docs/NODE-CONTROLLER.md)? Nothing was changed.';
    END IF;
END;
$$;

CREATE SCHEMA IF NOT EXISTS uyuni_cluster;
COMMENT ON SCHEMA uyuni_cluster IS 'uyuni-cluster change capture (outbox); remove with uyuni-cluster-uninstall.sql';

CREATE TABLE IF NOT EXISTS uyuni_cluster.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

INSERT INTO uyuni_cluster.meta (key, value) VALUES ('version', '2')
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
-- Trigger arguments filter UPDATEs by column: ('except', c1, c2, ...) — a change of only
-- those columns is no event; ('only', c1, c2, ...) — only a change of one of those is.
-- Without arguments every real change is an event.
CREATE OR REPLACE FUNCTION uyuni_cluster.capture_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    data jsonb;
    before jsonb;
    cols text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        data := to_jsonb(OLD);
    ELSE
        data := to_jsonb(NEW);
        IF TG_OP = 'UPDATE' THEN
            -- Compared as jsonb rather than as records, so columns without an equality
            -- operator (json, point, ...) work too.
            before := to_jsonb(OLD);
            IF TG_NARGS > 1 THEN
                cols := TG_ARGV[1:TG_NARGS - 1];
                IF TG_ARGV[0] = 'only' THEN
                    IF NOT EXISTS (SELECT 1 FROM unnest(cols) c
                                    WHERE data -> c IS DISTINCT FROM before -> c) THEN
                        RETURN NULL;
                    END IF;
                ELSIF (data - cols) IS NOT DISTINCT FROM (before - cols) THEN
                    RETURN NULL;
                END IF;
            ELSIF data IS NOT DISTINCT FROM before THEN
                RETURN NULL;
            END IF;
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
    w text[];
    rel regclass;
    args text;
BEGIN
    -- Triggers of an earlier version on tables no longer watched (rhnServer: a system's
    -- registration is its suseMinionInfo row; rhnServer itself changes on every profile update).
    IF to_regclass('rhnserver') IS NOT NULL THEN
        EXECUTE 'DROP TRIGGER IF EXISTS uyuni_cluster_capture ON rhnserver';
    END IF;
    -- {table, filter mode, columns...}
    FOREACH w SLICE 1 IN ARRAY ARRAY[
        ['rhnchannel', 'except', 'last_modified', 'last_synced', 'modified'],
        ['rhnservergroup', 'except', 'current_members', 'modified', ''],
        ['rhnregtoken', '', '', '', ''],
        ['rhnactivationkey', 'except', 'modified', '', ''],
        ['rhnregtokenpackages', '', '', '', ''],
        ['rhnregtokengroups', '', '', '', ''],
        ['rhnregtokenchannels', '', '', '', ''],
        ['rhnregtokenconfigchannels', '', '', '', ''],
        ['rhnconfigchannel', 'except', 'modified', '', ''],
        ['rhnconfigfile', 'except', 'modified', '', ''],
        ['susecontentproject', '', '', '', ''],
        ['susecontentenvironment', 'except', 'modified', '', ''],
        ['susecontentprojectsource', '', '', '', ''],
        ['susecontentfilter', 'except', 'modified', '', ''],
        ['susecontentfilterproject', '', '', '', ''],
        ['susecontentenvironmenttarget', 'except', 'status', 'built_time', ''],
        ['suseminioninfo', 'only', 'server_id', 'minion_id', '']] LOOP
        rel := to_regclass(w[1]);
        SELECT string_agg(quote_literal(a), ', ') INTO args
          FROM unnest(w[2:]) AS a WHERE a <> '';
        EXECUTE format('DROP TRIGGER IF EXISTS uyuni_cluster_capture ON %s', rel);
        EXECUTE format('CREATE TRIGGER uyuni_cluster_capture'
                       ' AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION uyuni_cluster.capture_row(%s)',
                       rel, coalesce(args, ''));
    END LOOP;

    rel := to_regclass('rhnchannelpackage');
    BEGIN
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
    END;
END;
$$;

COMMIT;
