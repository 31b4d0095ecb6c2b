//! XML-RPC values as JSON, for Uyuni's `/rhn/manager/api/...` HTTP API (and the cluster's
//! REST mirror of it).
//!
//! The JSON API shares its serializers with XML-RPC, so field names are identical. Dates are
//! rendered as ISO 8601 in UTC (`2020-02-27T18:09:34Z`); the exact format of the real server
//! is not verified (uyuni-api.md §1.2), and this form is what every JSON client parses.
//! base64 becomes a base64 string.

use dxr::Value;
use serde_json::Value as Json;

use crate::value::{datetime_ms, ms_of};

/// An XML-RPC value as JSON.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Integer(i) => Json::from(*i),
        Value::Long(i) => Json::from(*i),
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::DateTime(d) => Json::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )),
        Value::Base64(b) => Json::String(base64_encode(b)),
        Value::Struct(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        _ => Json::Null,
    }
}

/// A JSON value as an XML-RPC value: integers become `i4` when they fit, strings that are ISO
/// dates stay strings (the callee coerces them where it takes a date), `null` becomes `nil`.
pub fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => crate::value::int(i),
            None => Value::Double(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        Json::Object(m) => {
            Value::Struct(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Parse the JSON date form back (`YYYY-MM-DDTHH:MM:SS[Z]`).
pub fn parse_json_date(s: &str) -> Option<dxr::DateTime> {
    let compact: String = s
        .trim_end_matches('Z')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let dt: dxr::DateTime = compact.parse().ok()?;
    Some(datetime_ms(ms_of(&dt)))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The session cookie of the JSON API (`pxt-session-cookie`).
pub const COOKIE: &str = "pxt-session-cookie";

pub fn session_cookie(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// A query-string value as the parameter's type.
pub fn coerce_query(v: &str, ty: &str) -> Value {
    match ty {
        "int" => v
            .parse::<i64>()
            .map_or_else(|_| Value::String(v.into()), crate::value::int),
        "boolean" => match v {
            "true" | "1" => Value::Boolean(true),
            "false" | "0" => Value::Boolean(false),
            _ => Value::String(v.into()),
        },
        "array" => Value::Array(vec![Value::String(v.into())]),
        _ => Value::String(v.into()),
    }
}

/// A JSON value as the parameter's type (a scalar is wrapped where a list is expected).
pub fn coerce_json(v: &Json, ty: &str) -> Value {
    let x = from_json(v);
    match (ty, &x) {
        ("array", Value::Array(_)) => x,
        ("array", _) => Value::Array(vec![x]),
        ("string", Value::Integer(_) | Value::Long(_)) => Value::String(v.to_string()),
        _ => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{StructBuilder, date_ms, int, string};

    #[test]
    fn structs_dates_and_numbers_convert() {
        let v = StructBuilder::new()
            .field("id", int(1000010000))
            .field("name", string("web1"))
            .field("last_checkin", date_ms(1_582_826_974_000))
            .field("blob", Value::Base64(b"hello".to_vec()))
            .build();
        let j = to_json(&v);
        assert_eq!(j["id"], 1000010000);
        assert_eq!(j["last_checkin"], "2020-02-27T18:09:34Z");
        assert_eq!(j["blob"], "aGVsbG8=");
        assert_eq!(
            parse_json_date("2020-02-27T18:09:34Z").map(|d| d.to_string()),
            Some("20200227T18:09:34".into())
        );
        let back = from_json(&serde_json::json!({"sid": 5, "labels": ["a"], "x": null}));
        match back {
            Value::Struct(m) => {
                assert_eq!(m["sid"], Value::Integer(5));
                assert_eq!(m["x"], Value::Nil);
            }
            other => panic!("{other:?}"),
        }
    }
}
