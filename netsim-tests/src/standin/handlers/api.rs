//! `api.*`: version and introspection, generated from the method table.

use std::collections::BTreeMap;

use uyuni_api::value::{StructBuilder, string, strings};
use uyuni_api::{Fault, Value};

use super::args;
use crate::standin::dispatch::{Ctx, METHODS, Reply, handler_class, namespace};

/// The API version reported (Uyuni 2025.x reports 31-ish; spacecmd needs ≥ 10.8).
pub const API_VERSION: &str = "31";
/// The product version reported by `api.systemVersion`.
pub const SYSTEM_VERSION: &str = "2025.10";

pub(crate) fn get_version(_: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(string(API_VERSION))
}

pub(crate) fn system_version(_: &mut Ctx<'_>, _: &[Value]) -> Reply {
    Ok(string(SYSTEM_VERSION))
}

pub(crate) fn namespaces(_: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let mut out = BTreeMap::new();
    for m in METHODS {
        let ns = namespace(m.name);
        let class = handler_class(ns);
        out.insert(
            ns.to_string(),
            string(class.rsplit('.').next().unwrap_or(class)),
        );
    }
    Ok(Value::Struct(out))
}

fn call_list_of(ns: &str) -> Option<Value> {
    let mut out = BTreeMap::new();
    for m in METHODS.iter().filter(|m| namespace(m.name) == ns) {
        let mut types: Vec<&str> = Vec::new();
        if m.session {
            types.push("string");
        }
        types.extend(m.params.iter().map(|(_, t)| *t));
        let method = m.name.rsplit('.').next().unwrap_or(m.name);
        let key = std::iter::once(format!("{ns}.{method}"))
            .chain(types.iter().map(|t| t.to_string()))
            .collect::<Vec<_>>()
            .join("_");
        out.insert(
            key,
            StructBuilder::new()
                .field("name", string(method))
                .field("parameters", strings(types.iter().copied()))
                .field("exceptions", Value::Array(vec![]))
                .field("return", string(m.returns))
                .build(),
        );
    }
    (!out.is_empty()).then_some(Value::Struct(out))
}

pub(crate) fn namespace_call_list(_: &mut Ctx<'_>, p: &[Value]) -> Reply {
    let (a, e) = args("api.getApiNamespaceCallList", p);
    let ns = a.str(0).map_err(e)?;
    call_list_of(&ns).ok_or_else(|| Fault::internal(format!("Unknown namespace: {ns}")))
}

pub(crate) fn call_list(_: &mut Ctx<'_>, _: &[Value]) -> Reply {
    let mut out = BTreeMap::new();
    for m in METHODS {
        let ns = namespace(m.name);
        if !out.contains_key(ns)
            && let Some(list) = call_list_of(ns)
        {
            out.insert(ns.to_string(), list);
        }
    }
    Ok(Value::Struct(out))
}
