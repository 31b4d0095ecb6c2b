-- Reference rows a fresh Uyuni server has (its schema/spacewalk/common/data/ files insert
-- these and many more); only what the tests, the stand-in and the benchmark use. This
-- project's own SQL: labels follow Uyuni's, ids are arbitrary.

INSERT INTO rhnArchType (id, label, name) VALUES
    (nextval('rhn_archtype_id_seq'), 'rpm', 'RPM'),
    (nextval('rhn_archtype_id_seq'), 'deb', 'DEB');

INSERT INTO rhnServerArch (id, label, name, arch_type_id)
    SELECT nextval('rhn_server_arch_id_seq'), 'x86_64-redhat-linux', 'x86_64', id FROM rhnArchType WHERE label = 'rpm';
INSERT INTO rhnChannelArch (id, label, name, arch_type_id)
    SELECT nextval('rhn_channel_arch_id_seq'), 'channel-x86_64', 'x86_64', id FROM rhnArchType WHERE label = 'rpm';
INSERT INTO rhnPackageArch (id, label, name, arch_type_id)
    SELECT nextval('rhn_package_arch_id_seq'), a.label, a.label, t.id
      FROM (VALUES ('x86_64'), ('noarch')) AS a (label), rhnArchType t WHERE t.label = 'rpm';

INSERT INTO rhnChecksumType (id, label, description) VALUES
    (nextval('rhn_checksum_id_seq'), 'sha256', 'SHA-256');

INSERT INTO suseServerContactMethod (id, label, name, rank) VALUES
    (0, 'default', 'Default', 0),
    (1, 'ssh-push', 'Push via SSH', 10);

INSERT INTO rhnServerGroupType (id, label, name, permanent, is_base) VALUES
    (nextval('rhn_servergroup_type_seq'), 'bootstrap_entitled', 'Bootstrap', 'N', 'Y'),
    (nextval('rhn_servergroup_type_seq'), 'salt_entitled', 'Salt', 'N', 'Y');

INSERT INTO rhnConfigChannelType (id, label, name, priority) VALUES
    (1, 'normal', 'A normal configuration channel', 1),
    (2, 'local_override', 'Local override channel', 0),
    (3, 'server_import', 'Server import channel', 2),
    (4, 'state', 'State channel', 1);

INSERT INTO rhnConfigFileState (id, label, name) VALUES
    (1, 'alive', 'Alive'),
    (2, 'dead', 'Dead');

INSERT INTO rhnConfigFileType (id, label, name) VALUES
    (1, 'file', 'File'),
    (2, 'directory', 'Directory'),
    (3, 'symlink', 'Symlink'),
    (4, 'sls', 'SLS');

INSERT INTO rhnActionStatus (id, name) VALUES
    (0, 'Queued'), (1, 'Picked Up'), (2, 'Completed'), (3, 'Failed');

INSERT INTO rhnActionType (id, label, name) VALUES
    (1, 'packages.refresh_list', 'Package List Refresh'),
    (3, 'packages.update', 'Package Install'),
    (503, 'states.apply', 'Apply states');

INSERT INTO web_customer (id, name) VALUES (nextval('web_customer_id_seq'), 'Default Organization');
INSERT INTO web_contact (id, org_id, login, login_uc, password)
    SELECT nextval('web_contact_id_seq'), id, 'admin', 'ADMIN', '!' FROM web_customer;

-- The organisation's entitlement group for Salt minions (registration joins it).
INSERT INTO rhnServerGroup (id, name, description, group_type, org_id)
    SELECT 90001, 'Salt', 'Salt entitled servers', id, 1 FROM rhnServerGroupType WHERE label = 'salt_entitled';
