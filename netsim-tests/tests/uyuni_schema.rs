//! Uyuni's real schema (netsim-tests/schema/uyuni) loads into PostgreSQL in dependency order.
//!
//! Needs the PostgreSQL server binaries and the upstream files (schema/uyuni/README.md).

use netsim_tests::pg::Postgres;
use netsim_tests::uyuni_schema;

#[test]
fn the_schema_loads_in_dependency_order() {
    let pg = Postgres::start().expect("PostgreSQL is required (apt-get install postgresql)");
    uyuni_schema::create_uyuni_database(&pg, "susemanager").expect("load Uyuni's schema");
    let tables = pg
        .psql(
            "susemanager",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )
        .expect("count tables");
    let manifest = uyuni_schema::manifest().expect("manifest");
    let expected = manifest
        .iter()
        .filter(|e| e.path.contains("/tables/"))
        .count()
        + uyuni_schema::stub_tables().expect("stubs").len();
    assert_eq!(tables.trim(), expected.to_string());
    // The PostgreSQL type the package tables use, with its operators.
    let evr = pg
        .psql(
            "susemanager",
            "SELECT count(*) FROM pg_operator WHERE oprleft = 'evr_t'::regtype",
        )
        .expect("evr_t operators");
    assert_eq!(evr.trim(), "6");
}
