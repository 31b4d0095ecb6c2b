//! Parameter names of the methods the gateway knows, for Uyuni's JSON API (which passes
//! parameters by their Java names: `/rhn/manager/api/system/getDetails?sid=...`). The
//! signatures are [`uyuni_api::catalogue`]'s, the one list the stand-in serves from too;
//! overloads are separate entries.

use uyuni_api::catalogue;

pub use uyuni_api::catalogue::read_only;

/// The overload of `method` whose parameter names are exactly `names` (any order): its
/// (parameter name, XML-RPC type) after the session key.
pub fn overload(method: &str, names: &[&str]) -> Option<&'static [(&'static str, &'static str)]> {
    catalogue::by_names(method, names).map(|s| s.params)
}

/// Whether the gateway knows `method` (under any overload).
pub fn known(method: &str) -> bool {
    catalogue::known(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloads_are_found_by_their_names_in_any_order() {
        assert!(overload("system.getDetails", &["sid"]).is_some());
        assert!(overload("system.getDetails", &["id"]).is_none());
        let p = overload("system.deleteSystem", &["cleanupType", "sid"]).expect("overload");
        assert_eq!(p[0].0, "sid");
        assert!(read_only("system.listSystems") && !read_only("systemgroup.create"));
    }

    #[test]
    fn every_method_of_the_fanout_table_has_a_signature() {
        // Methods the table routes specially are reachable through the JSON API by name.
        for rule in crate::table::RULES {
            assert!(
                known(rule.method),
                "{} is not in the catalogue",
                rule.method
            );
        }
    }
}
