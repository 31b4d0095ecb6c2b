-- Tables outside the fetched closure that a fetched table references (this project's own
-- SQL, not Uyuni's). Each is reduced to the key the reference needs; see README.md.
--
-- rhnKickstartSession: referenced by rhnActivationKey.ks_session_id (NULL for every key the
-- cluster replicates). Its real definition pulls in the kickstart, cobbler and action tables.
CREATE TABLE rhnKickstartSession
(
    id  NUMERIC NOT NULL CONSTRAINT rhn_ks_session_id_pk PRIMARY KEY
);

-- Tables Uyuni's own triggers (postgres/triggers/rhnChannel.sql, rhnServer.sql) touch:
-- snapshots of a deleted channel, the SCC registration cache of a renamed system, the trust
-- list of a protected channel.
CREATE TABLE rhnSnapshot
(
    id       NUMERIC NOT NULL CONSTRAINT rhn_snapshot_id_pk PRIMARY KEY,
    invalid  NUMERIC
);
CREATE TABLE rhnSnapshotChannel
(
    snapshot_id  NUMERIC NOT NULL,
    channel_id   NUMERIC NOT NULL
);
CREATE TABLE suseSCCRegCache
(
    server_id         NUMERIC,
    scc_reg_required  CHAR(1)
);
CREATE TABLE rhnChannelTrust
(
    channel_id        NUMERIC NOT NULL,
    channel_trust_id  NUMERIC NOT NULL
);
