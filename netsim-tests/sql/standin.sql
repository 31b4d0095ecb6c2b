-- The stand-in's part of its database, loaded after Uyuni's own schema
-- (netsim-tests/schema/uyuni, see netsim_tests::uyuni_schema). Idempotent: a restarted
-- stand-in runs it again.
--
-- 1. Reference rows a fresh Uyuni has (its schema/spacewalk/common/data/ inserts these and
--    more), with the ids the stand-in's model uses.
-- 2. Tables named standin_* are the stand-in's own (Uyuni keeps that state elsewhere).

INSERT INTO web_customer (id, name) VALUES (1, 'Default Organization') ON CONFLICT DO NOTHING;

INSERT INTO rhnArchType (id, label, name) VALUES
    (1, 'rpm', 'RPM'), (2, 'deb', 'DEB')
ON CONFLICT DO NOTHING;

INSERT INTO rhnChannelArch (id, label, name, arch_type_id) VALUES
    (500, 'channel-ia32', 'IA-32', 1),
    (501, 'channel-ia64', 'IA-64', 1),
    (502, 'channel-x86_64', 'x86_64', 1),
    (503, 'channel-aarch64', 'AArch64', 1),
    (504, 'channel-ppc64le', 'PPC64LE', 1),
    (505, 'channel-s390x', 's390x', 1),
    (506, 'channel-amd64-deb', 'AMD64 Debian', 2),
    (507, 'channel-arm64-deb', 'arm64 Debian', 2)
ON CONFLICT DO NOTHING;

INSERT INTO rhnServerArch (id, label, name, arch_type_id) VALUES
    (1000, 'x86_64-redhat-linux', 'x86_64', 1)
ON CONFLICT DO NOTHING;

INSERT INTO rhnChecksumType (id, label, description) VALUES
    (1, 'md5', 'MD5sum'), (2, 'sha1', 'SHA1sum'), (3, 'sha256', 'SHA256sum'),
    (4, 'sha384', 'SHA384sum'), (5, 'sha512', 'SHA512sum')
ON CONFLICT DO NOTHING;

INSERT INTO rhnPackageArch (id, label, name, arch_type_id) VALUES
    (100, 'noarch', 'noarch', 1), (101, 'x86_64', 'x86_64', 1), (102, 'aarch64', 'aarch64', 1),
    (103, 'i686', 'i686', 1)
ON CONFLICT DO NOTHING;

INSERT INTO suseServerContactMethod (id, label, name, rank) VALUES
    (0, 'default', 'Default', 0),
    (1, 'ssh-push', 'Push via SSH', 10),
    (2, 'ssh-push-tunnel', 'Push via SSH tunnel', 20)
ON CONFLICT DO NOTHING;

INSERT INTO rhnConfigChannelType (id, label, name, priority) VALUES
    (1, 'normal', 'A normal configuration channel', 1),
    (2, 'local_override', 'Local override channel', 0),
    (3, 'server_import', 'Server import channel', 2),
    (4, 'state', 'State channel', 1)
ON CONFLICT DO NOTHING;

INSERT INTO rhnConfigFileState (id, label, name) VALUES
    (1, 'alive', 'Alive'), (2, 'dead', 'Dead')
ON CONFLICT DO NOTHING;

INSERT INTO rhnConfigFileType (id, label, name) VALUES
    (1, 'file', 'File'), (2, 'directory', 'Directory'), (3, 'symlink', 'Symlink')
ON CONFLICT DO NOTHING;

-- Actions (Uyuni's ids and labels for the types the stand-in schedules).
INSERT INTO rhnActionStatus (id, name) VALUES
    (0, 'Queued'), (1, 'Picked Up'), (2, 'Completed'), (3, 'Failed')
ON CONFLICT DO NOTHING;

INSERT INTO rhnActionType (id, label, name) VALUES
    (1, 'packages.refresh_list', 'Package List Refresh'),
    (2, 'hardware.refresh_list', 'Hardware List Refresh'),
    (3, 'packages.update', 'Package Install'),
    (4, 'packages.remove', 'Package Removal'),
    (5, 'errata.update', 'Patch Update'),
    (9, 'reboot.reboot', 'System reboot'),
    (30, 'script.run', 'Run an arbitrary script'),
    (503, 'states.apply', 'Apply states')
ON CONFLICT DO NOTHING;

-- Stand-in only: entitlement labels of activation keys (Uyuni: rhnRegTokenEntitlement with
-- server group type ids).
CREATE TABLE IF NOT EXISTS standin_regtoken_entitlement (
    reg_token_id  NUMERIC NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE,
    label         VARCHAR(64) NOT NULL,
    PRIMARY KEY (reg_token_id, label)
);

-- Stand-in only: API sessions (Uyuni: pxtSessions).
CREATE TABLE IF NOT EXISTS standin_session (
    id           BIGINT PRIMARY KEY,
    session_key  VARCHAR(128) NOT NULL UNIQUE,
    web_user     VARCHAR(64) NOT NULL,
    expires      TIMESTAMPTZ NOT NULL,
    created      TIMESTAMPTZ DEFAULT now() NOT NULL
);

-- Stand-in only: salt keys when no salt-master pki directory is given (Uyuni asks salt).
CREATE TABLE IF NOT EXISTS standin_salt_key (
    minion_id    VARCHAR(256) PRIMARY KEY,
    fingerprint  VARCHAR(256) NOT NULL,
    state        VARCHAR(16) NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'denied')),
    created      TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified     TIMESTAMPTZ DEFAULT now() NOT NULL
);
