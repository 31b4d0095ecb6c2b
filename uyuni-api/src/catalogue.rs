//! The catalogue of Uyuni's whole API: every namespace, method and overload (name, Java
//! parameter names and XML-RPC types, session key excluded; the return type), generated at
//! build time from `uyuni-api/catalogue/*.tsv` (see `build.rs`), which
//! `scripts/gen-api-catalogue.py` extracts from Uyuni's handler classes and their `@apidoc` /
//! `@xmlrpc` comments. The one list of signatures: the gateway derives a rule for every method
//! from it (`gateway/src/table.rs`), maps the JSON API's named parameters with it, and the
//! stand-in (netsim-tests) serves no method that is not in it.

/// One overload of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// `ns.method`.
    pub method: &'static str,
    /// Takes a session key first (every method but login and the version calls).
    pub session: bool,
    /// Java parameter names and XML-RPC types, in order, session key excluded.
    pub params: &'static [(&'static str, &'static str)],
    /// XML-RPC type of the answer.
    pub returns: &'static str,
    /// The answer as the handler documents it: `array/struct:ServerSerializer`,
    /// `struct{id,name}`, `array/int`, ... (the data file's column).
    pub returns_detail: &'static str,
    /// Comma-separated marks from the handler: `ro` (`@ReadOnly`), `dep` (deprecated),
    /// `nohttp` (XML-RPC only), `undoc` (`@apidoc.ignore`), `current` (from the supplement).
    pub flags: &'static str,
}

impl Signature {
    /// Parameter count on the wire (session key included).
    pub fn arity(&self) -> usize {
        self.params.len() + usize::from(self.session)
    }

    /// Read-only by Uyuni's rule ([`read_only`]).
    pub fn read_only(&self) -> bool {
        read_only(self.method)
    }
}

include!(concat!(env!("OUT_DIR"), "/catalogue_data.rs"));

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The overload of `method` taking `count` parameters after the session key.
pub const fn find(method: &str, count: usize) -> Option<&'static Signature> {
    let mut best: Option<&'static Signature> = None;
    let mut i = 0;
    while i < CATALOGUE.len() {
        let s = &CATALOGUE[i];
        if s.params.len() == count && same(s.method, method) {
            best = match best {
                Some(b) if !preferred(s, b) => Some(b),
                _ => Some(s),
            };
        }
        i += 1;
    }
    best
}

/// Of two overloads with one count: the one taking a session key (the client-certificate
/// variants are for registered systems), then the one addressed by name or label rather than
/// by a numeric id (what tools such as spacecmd call).
const fn preferred(a: &Signature, b: &Signature) -> bool {
    if a.session != b.session {
        return a.session;
    }
    ints(a) < ints(b)
}

const fn ints(s: &Signature) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < s.params.len() {
        if same(s.params[i].1, "int") {
            n += 1;
        }
        i += 1;
    }
    n
}

/// [`find`] for tables built at compile time: a method missing from the catalogue stops
/// the build.
pub const fn expect(method: &str, count: usize) -> &'static Signature {
    match find(method, count) {
        Some(s) => s,
        None => panic!("a method (with that many parameters) missing from uyuni_api::catalogue"),
    }
}

/// Every overload of `method`.
pub fn overloads(method: &str) -> impl Iterator<Item = &'static Signature> + '_ {
    CATALOGUE.iter().filter(move |s| s.method == method)
}

/// The overload of `method` whose parameter names are exactly `names` (any order): Uyuni's
/// JSON API passes parameters by name.
pub fn by_names(method: &str, names: &[&str]) -> Option<&'static Signature> {
    overloads(method)
        .find(|s| s.params.len() == names.len() && s.params.iter().all(|(n, _)| names.contains(n)))
}

/// Whether the catalogue knows `method` (under any overload).
pub fn known(method: &str) -> bool {
    overloads(method).next().is_some()
}

/// Read-only by Uyuni's rule (`@ReadOnly`: `list*`, `get*`, `is*`, `find*`, `lookup*` and the
/// searches): called with GET in the JSON API, the rest with POST.
pub fn read_only(method: &str) -> bool {
    let m = method.rsplit('.').next().unwrap_or(method);
    ["list", "get", "is", "find", "lookup"]
        .iter()
        .any(|p| m.starts_with(p))
        || method.starts_with("system.search.")
}

/// The namespaces of the catalogue (sorted, once each), dynamic ones included.
pub fn namespaces() -> Vec<&'static str> {
    let mut ns: Vec<&str> = CATALOGUE
        .iter()
        .map(|s| s.method.rsplit_once('.').map_or(s.method, |(n, _)| n))
        .chain(DYNAMIC_NAMESPACES.iter().copied())
        .collect();
    ns.sort_unstable();
    ns.dedup();
    ns
}

/// Whether `method` belongs to a namespace that forwards any method name
/// ([`DYNAMIC_NAMESPACES`]: `taskomatic`, `taskomatic.org`).
pub fn dynamic(method: &str) -> bool {
    method
        .rsplit_once('.')
        .is_some_and(|(ns, _)| DYNAMIC_NAMESPACES.contains(&ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_overload_is_listed_once_with_its_own_types() {
        let mut keys: Vec<(&str, bool, Vec<&str>)> = CATALOGUE
            .iter()
            .map(|s| (s.method, s.session, s.params.iter().map(|p| p.1).collect()))
            .collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "two overloads with the same types");
    }

    #[test]
    fn the_catalogue_covers_every_namespace_of_the_handler_factory() {
        let ns = namespaces();
        let handlers: Vec<&str> = HANDLERS
            .iter()
            .map(|h| h.0)
            .filter(|n| !n.starts_with('('))
            .collect();
        for h in &handlers {
            assert!(ns.contains(h), "{h} has a handler but no method");
        }
        for n in &ns {
            assert!(
                handlers.contains(n),
                "{n} has methods but no recorded handler"
            );
        }
        assert_eq!(ns.len(), 63);
        assert!(CATALOGUE.len() > 800, "{} overloads", CATALOGUE.len());
        assert!(dynamic("taskomatic.listActiveSchedules") && !dynamic("system.getDetails"));
    }

    #[test]
    fn overloads_are_found_by_count_and_by_names_in_any_order() {
        assert_eq!(find("system.getDetails", 1).map(Signature::arity), Some(2));
        assert!(find("system.getDetails", 2).is_none());
        assert_eq!(expect("api.getVersion", 0).arity(), 0);
        assert!(by_names("system.getDetails", &["id"]).is_none());
        let s = by_names("system.deleteSystem", &["cleanupType", "sid"]).expect("overload");
        assert_eq!(s.params[0].0, "sid");
        assert!(
            known("auth.login") && known("kickstart.listKickstarts") && !known("kickstart.nope")
        );
    }

    #[test]
    fn find_prefers_the_session_overload_addressed_by_name() {
        // system.deleteSystem(clientCert) and (sid): the one with a session key.
        let d = expect("system.deleteSystem", 1);
        assert!(d.session && d.params[0] == ("sid", "int"));
        // systemgroup.getDetails(systemGroupId) and (systemGroupName): by name.
        assert_eq!(expect("systemgroup.getDetails", 1).params[0].1, "string");
        assert_eq!(
            expect("channel.software.getDetails", 1).params[0].1,
            "string"
        );
    }

    #[test]
    fn read_only_follows_uyunis_naming_rule() {
        assert!(read_only("system.listSystems") && !read_only("systemgroup.create"));
        assert!(read_only("system.search.ip") && read_only("contentmanagement.lookupProject"));
        assert!(expect("system.getDetails", 1).read_only());
    }

    #[test]
    fn calls_without_a_session_are_logins_versions_and_client_certificate_calls() {
        let plain: Vec<&str> = CATALOGUE
            .iter()
            .filter(|s| !s.session)
            .map(|s| s.method)
            .collect();
        for m in ["api.getVersion", "api.systemVersion", "auth.login"] {
            assert!(plain.contains(&m), "{m}");
        }
        for m in &plain {
            let s = CATALOGUE
                .iter()
                .find(|s| s.method == *m && !s.session)
                .expect("listed");
            let by_cert = s
                .params
                .first()
                .is_some_and(|p| p.0.eq_ignore_ascii_case("clientcert"));
            let known_plain = [
                "api.",
                "auth.",
                "sync.master.hasMaster",
                "preferences.locale.list",
                "activationkey.listChannels",
            ]
            .iter()
            .any(|p| m.starts_with(p));
            assert!(by_cert || known_plain, "{m} has no session key");
        }
    }

    #[test]
    fn parameter_types_are_xmlrpc_types() {
        const TYPES: &[&str] = &[
            "int", "string", "boolean", "array", "struct", "date", "double", "base64",
        ];
        for s in CATALOGUE {
            for (name, ty) in s.params {
                assert!(TYPES.contains(ty), "{}: {name} is a {ty}", s.method);
            }
            assert!(
                TYPES.contains(&s.returns),
                "{} returns {}",
                s.method,
                s.returns
            );
        }
    }
}
