-- The subset of Uyuni's schema (uyuni:schema/spacewalk/common/tables/*.sql) that the stand-in
-- keeps its state in. Real table and column names; ids are BIGINT where Uyuni uses NUMERIC
-- (the stand-in allocates them itself instead of using Uyuni's sequences), flags are CHAR(1)
-- 'Y'/'N' as in Uyuni. Idempotent: safe to load into a database that already has it.
-- Tables named standin_* are the stand-in's own (Uyuni keeps that state elsewhere).

CREATE TABLE IF NOT EXISTS web_customer (
    id        BIGINT PRIMARY KEY,
    name      VARCHAR(128) NOT NULL,
    created   TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified  TIMESTAMPTZ DEFAULT now() NOT NULL
);
INSERT INTO web_customer (id, name) VALUES (1, 'Default Organization') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS rhnArchType (
    id     BIGINT PRIMARY KEY,
    label  VARCHAR(32) NOT NULL UNIQUE,
    name   VARCHAR(64) NOT NULL
);
INSERT INTO rhnArchType (id, label, name) VALUES
    (1, 'rpm', 'RPM'), (2, 'deb', 'DEB')
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS rhnChannelArch (
    id            BIGINT PRIMARY KEY,
    label         VARCHAR(64) NOT NULL UNIQUE,
    name          VARCHAR(64) NOT NULL,
    arch_type_id  BIGINT NOT NULL REFERENCES rhnArchType (id),
    created       TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified      TIMESTAMPTZ DEFAULT now() NOT NULL
);
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

CREATE TABLE IF NOT EXISTS rhnChecksumType (
    id           BIGINT PRIMARY KEY,
    label        VARCHAR(32) NOT NULL UNIQUE,
    description  VARCHAR(256) NOT NULL
);
INSERT INTO rhnChecksumType (id, label, description) VALUES
    (1, 'md5', 'MD5sum'), (2, 'sha1', 'SHA1sum'), (3, 'sha256', 'SHA256sum'),
    (4, 'sha384', 'SHA384sum'), (5, 'sha512', 'SHA512sum')
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS rhnChannel (
    id                 BIGINT PRIMARY KEY,
    parent_channel     BIGINT REFERENCES rhnChannel (id),
    org_id             BIGINT REFERENCES web_customer (id) ON DELETE CASCADE,
    channel_arch_id    BIGINT NOT NULL REFERENCES rhnChannelArch (id),
    label              VARCHAR(128) NOT NULL UNIQUE,
    basedir            VARCHAR(256) NOT NULL DEFAULT '/dev/null',
    name               VARCHAR(256) NOT NULL UNIQUE,
    summary            VARCHAR(500) NOT NULL,
    description        VARCHAR(4000),
    gpg_check          CHAR(1) DEFAULT 'Y' NOT NULL,
    gpg_key_url        VARCHAR(256),
    gpg_key_id         VARCHAR(14),
    gpg_key_fp         VARCHAR(50),
    end_of_life        TIMESTAMPTZ,
    checksum_type_id   BIGINT REFERENCES rhnChecksumType (id),
    receiving_updates  CHAR(1) DEFAULT 'Y' NOT NULL,
    last_modified      TIMESTAMPTZ DEFAULT now() NOT NULL,
    last_synced        TIMESTAMPTZ,
    channel_access     VARCHAR(10) DEFAULT 'private',
    maint_name         VARCHAR(128),
    maint_email        VARCHAR(128),
    maint_phone        VARCHAR(128),
    support_policy     VARCHAR(256),
    update_tag         VARCHAR(128),
    installer_updates  CHAR(1) DEFAULT 'N' NOT NULL,
    created            TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified           TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnPackageName (
    id    BIGINT PRIMARY KEY,
    name  VARCHAR(256) NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS rhnPackageEVR (
    id       BIGINT PRIMARY KEY,
    epoch    VARCHAR(16),
    version  VARCHAR(512) NOT NULL,
    release  VARCHAR(512) NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnPackageArch (
    id     BIGINT PRIMARY KEY,
    label  VARCHAR(64) NOT NULL UNIQUE,
    name   VARCHAR(64) NOT NULL
);
INSERT INTO rhnPackageArch (id, label, name) VALUES
    (100, 'noarch', 'noarch'), (101, 'x86_64', 'x86_64'), (102, 'aarch64', 'aarch64'),
    (103, 'i686', 'i686')
ON CONFLICT DO NOTHING;

-- Minimal: the columns channel.software.listAllPackages reports.
CREATE TABLE IF NOT EXISTS rhnPackage (
    id               BIGINT PRIMARY KEY,
    org_id           BIGINT REFERENCES web_customer (id) ON DELETE CASCADE,
    name_id          BIGINT NOT NULL REFERENCES rhnPackageName (id),
    evr_id           BIGINT NOT NULL REFERENCES rhnPackageEVR (id),
    package_arch_id  BIGINT NOT NULL REFERENCES rhnPackageArch (id),
    summary          VARCHAR(4000),
    description      VARCHAR(4000),
    build_time       TIMESTAMPTZ,
    last_modified    TIMESTAMPTZ DEFAULT now() NOT NULL,
    created          TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified         TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnChannelPackage (
    channel_id  BIGINT NOT NULL REFERENCES rhnChannel (id) ON DELETE CASCADE,
    package_id  BIGINT NOT NULL REFERENCES rhnPackage (id) ON DELETE CASCADE,
    created     TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified    TIMESTAMPTZ DEFAULT now() NOT NULL,
    PRIMARY KEY (channel_id, package_id)
);

CREATE TABLE IF NOT EXISTS rhnServer (
    id                 BIGINT PRIMARY KEY,
    org_id             BIGINT NOT NULL REFERENCES web_customer (id) ON DELETE CASCADE,
    digital_server_id  VARCHAR(1024) NOT NULL,
    server_arch_id     BIGINT,
    os                 VARCHAR(64) NOT NULL,
    release            VARCHAR(64) NOT NULL,
    name               VARCHAR(128),
    description        VARCHAR(256),
    info               VARCHAR(128),
    secret             VARCHAR(64) NOT NULL,
    creator_id         BIGINT,
    auto_update        CHAR(1) DEFAULT 'N' NOT NULL,
    contact_method_id  BIGINT DEFAULT 0,
    running_kernel     VARCHAR(64),
    last_boot          BIGINT DEFAULT 0 NOT NULL,
    channels_changed   TIMESTAMPTZ,
    hostname           VARCHAR(128),
    payg               CHAR(1) DEFAULT 'N' NOT NULL,
    machine_id         VARCHAR(256),
    created            TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified           TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnServerInfo (
    server_id        BIGINT PRIMARY KEY REFERENCES rhnServer (id) ON DELETE CASCADE,
    checkin          TIMESTAMPTZ,
    checkin_counter  BIGINT
);

CREATE TABLE IF NOT EXISTS suseMinionInfo (
    server_id            BIGINT PRIMARY KEY REFERENCES rhnServer (id) ON DELETE CASCADE,
    minion_id            VARCHAR(256) NOT NULL UNIQUE,
    os_family            VARCHAR(32),
    kernel_live_version  VARCHAR(255),
    ssh_push_port        BIGINT,
    created              TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified             TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnServerChannel (
    server_id   BIGINT NOT NULL REFERENCES rhnServer (id) ON DELETE CASCADE,
    channel_id  BIGINT NOT NULL REFERENCES rhnChannel (id) ON DELETE CASCADE,
    created     TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified    TIMESTAMPTZ DEFAULT now() NOT NULL,
    PRIMARY KEY (server_id, channel_id)
);

CREATE TABLE IF NOT EXISTS rhnServerGroup (
    id               BIGINT PRIMARY KEY,
    name             VARCHAR(64) NOT NULL,
    description      VARCHAR(1024) NOT NULL,
    max_members      BIGINT,
    current_members  BIGINT DEFAULT 0 NOT NULL,
    group_type       BIGINT,
    org_id           BIGINT NOT NULL REFERENCES web_customer (id) ON DELETE CASCADE,
    created          TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified         TIMESTAMPTZ DEFAULT now() NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE IF NOT EXISTS rhnServerGroupMembers (
    server_id        BIGINT NOT NULL REFERENCES rhnServer (id) ON DELETE CASCADE,
    server_group_id  BIGINT NOT NULL REFERENCES rhnServerGroup (id) ON DELETE CASCADE,
    created          TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified         TIMESTAMPTZ DEFAULT now() NOT NULL,
    PRIMARY KEY (server_id, server_group_id)
);

CREATE TABLE IF NOT EXISTS rhnRegToken (
    id                 BIGINT PRIMARY KEY,
    org_id             BIGINT NOT NULL REFERENCES web_customer (id) ON DELETE CASCADE,
    user_id            BIGINT,
    server_id          BIGINT REFERENCES rhnServer (id) ON DELETE SET NULL,
    note               VARCHAR(2048) NOT NULL,
    usage_limit        BIGINT DEFAULT 0,
    disabled           BIGINT DEFAULT 0 NOT NULL,
    deploy_configs     CHAR(1) DEFAULT 'N' NOT NULL,
    contact_method_id  BIGINT DEFAULT 0 NOT NULL,
    created            TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified           TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnActivationKey (
    token          VARCHAR(48) NOT NULL UNIQUE,
    reg_token_id   BIGINT NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE,
    ks_session_id  BIGINT,
    bootstrap      CHAR(1) DEFAULT 'N' NOT NULL,
    created        TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified       TIMESTAMPTZ DEFAULT now() NOT NULL
);

CREATE TABLE IF NOT EXISTS rhnRegTokenChannels (
    token_id    BIGINT NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE,
    channel_id  BIGINT NOT NULL REFERENCES rhnChannel (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, channel_id)
);

CREATE TABLE IF NOT EXISTS rhnRegTokenGroups (
    token_id         BIGINT NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE,
    server_group_id  BIGINT NOT NULL REFERENCES rhnServerGroup (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, server_group_id)
);

CREATE TABLE IF NOT EXISTS rhnRegTokenOrgDefault (
    org_id        BIGINT PRIMARY KEY REFERENCES web_customer (id) ON DELETE CASCADE,
    reg_token_id  BIGINT REFERENCES rhnRegToken (id) ON DELETE SET NULL
);

CREATE TABLE IF NOT EXISTS suseContentProject (
    id            BIGINT PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES web_customer (id) ON DELETE CASCADE,
    label         VARCHAR(24) NOT NULL,
    name          VARCHAR(128) NOT NULL,
    description   TEXT,
    first_env_id  BIGINT,
    created       TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified      TIMESTAMPTZ DEFAULT now() NOT NULL,
    UNIQUE (org_id, label)
);

CREATE TABLE IF NOT EXISTS suseContentEnvironment (
    id           BIGINT PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES suseContentProject (id) ON DELETE CASCADE,
    label        VARCHAR(16) NOT NULL,
    name         VARCHAR(128) NOT NULL,
    description  TEXT,
    version      BIGINT DEFAULT 0 NOT NULL,
    next_env_id  BIGINT REFERENCES suseContentEnvironment (id) ON DELETE SET NULL,
    created      TIMESTAMPTZ DEFAULT now() NOT NULL,
    modified     TIMESTAMPTZ DEFAULT now() NOT NULL,
    UNIQUE (project_id, label)
);

-- Stand-in only: entitlement labels of activation keys (Uyuni: rhnRegTokenEntitlement with
-- server group type ids).
CREATE TABLE IF NOT EXISTS standin_regtoken_entitlement (
    reg_token_id  BIGINT NOT NULL REFERENCES rhnRegToken (id) ON DELETE CASCADE,
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
