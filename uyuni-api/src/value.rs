//! Building and reading the values Uyuni's handlers take and its serializers produce.
//!
//! Uyuni coerces arguments (`BaseHandler`): an int parameter given as a numeric string works,
//! and so does a long given as an `i4`. [`Args`] reads positional parameters the same way and
//! says which one was wrong.

use std::collections::BTreeMap;

use dxr::{DateTime, Value};

/// A parameter that has the wrong type or is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {index}: expected {expected}, got {got}")]
pub struct ArgError {
    /// Zero-based position.
    pub index: usize,
    /// What the method takes there.
    pub expected: &'static str,
    /// What was sent.
    pub got: &'static str,
}

/// The XML-RPC type name of a value, as Uyuni's introspection spells types.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Long(_) => "int",
        Value::Boolean(_) => "boolean",
        Value::String(_) => "string",
        Value::Double(_) => "double",
        Value::DateTime(_) => "date",
        Value::Base64(_) => "base64",
        Value::Struct(_) => "struct",
        Value::Array(_) => "array",
        Value::Nil => "nil",
        _ => "unknown",
    }
}

/// Positional parameters of a call, read with Uyuni's coercions.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a>(pub &'a [Value]);

impl<'a> Args<'a> {
    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No parameters at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn get(&self, index: usize, expected: &'static str) -> Result<&'a Value, ArgError> {
        self.0.get(index).ok_or(ArgError {
            index,
            expected,
            got: "nothing",
        })
    }

    fn wrong(index: usize, expected: &'static str, v: &Value) -> ArgError {
        ArgError {
            index,
            expected,
            got: type_name(v),
        }
    }

    /// A string (numbers are rendered, as Java's coercion does).
    pub fn str(&self, index: usize) -> Result<String, ArgError> {
        match self.get(index, "string")? {
            Value::String(s) => Ok(s.clone()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Long(i) => Ok(i.to_string()),
            other => Err(Self::wrong(index, "string", other)),
        }
    }

    /// An integer (`i4`, `i8` or a numeric string).
    pub fn int(&self, index: usize) -> Result<i64, ArgError> {
        let v = self.get(index, "int")?;
        as_i64(v).ok_or_else(|| Self::wrong(index, "int", v))
    }

    /// A boolean (`boolean`, or an int 0/1 as Uyuni accepts).
    pub fn bool(&self, index: usize) -> Result<bool, ArgError> {
        match self.get(index, "boolean")? {
            Value::Boolean(b) => Ok(*b),
            Value::Integer(i) => Ok(*i != 0),
            other => Err(Self::wrong(index, "boolean", other)),
        }
    }

    /// A struct.
    pub fn strukt(&self, index: usize) -> Result<&'a BTreeMap<String, Value>, ArgError> {
        match self.get(index, "struct")? {
            Value::Struct(s) => Ok(s),
            other => Err(Self::wrong(index, "struct", other)),
        }
    }

    /// An array (a scalar is taken as a one-element array, as the JSON API does).
    pub fn array(&self, index: usize) -> Result<Vec<Value>, ArgError> {
        match self.get(index, "array")? {
            Value::Array(a) => Ok(a.clone()),
            other => Ok(vec![other.clone()]),
        }
    }

    /// A date.
    pub fn date(&self, index: usize) -> Result<DateTime, ArgError> {
        match self.get(index, "date")? {
            Value::DateTime(d) => Ok(*d),
            Value::String(s) => s.parse().map_err(|_| ArgError {
                index,
                expected: "date",
                got: "string",
            }),
            other => Err(Self::wrong(index, "date", other)),
        }
    }
}

/// An integer from `i4`, `i8` or a numeric string.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(i64::from(*i)),
        Value::Long(i) => Some(*i),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string field of a struct.
pub fn field_str<'a>(s: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a str> {
    match s.get(name) {
        Some(Value::String(v)) => Some(v),
        _ => None,
    }
}

/// An integer field of a struct.
pub fn field_int(s: &BTreeMap<String, Value>, name: &str) -> Option<i64> {
    s.get(name).and_then(as_i64)
}

/// A boolean field of a struct.
pub fn field_bool(s: &BTreeMap<String, Value>, name: &str) -> Option<bool> {
    match s.get(name) {
        Some(Value::Boolean(b)) => Some(*b),
        Some(Value::Integer(i)) => Some(*i != 0),
        _ => None,
    }
}

/// An integer value: `i4` when it fits (what Uyuni's serializers emit for ids), else `i8`.
pub fn int(v: i64) -> Value {
    match i32::try_from(v) {
        Ok(i) => Value::Integer(i),
        Err(_) => Value::Long(v),
    }
}

/// A string value.
pub fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// An array of strings.
pub fn strings<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}

/// The `dateTime.iso8601` value of a Unix time in milliseconds (UTC, seconds precision: the
/// wire form has neither zone nor fraction).
pub fn date_ms(ms: u64) -> Value {
    Value::DateTime(datetime_ms(ms))
}

/// [`date_ms`] as a `DateTime`.
pub fn datetime_ms(ms: u64) -> DateTime {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    // Clamp into years 0..=9999, which the wire form (four year digits) can carry.
    let t = time::OffsetDateTime::from_unix_timestamp(secs.min(253_402_300_799))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    DateTime::from(time::PrimitiveDateTime::new(t.date(), t.time()))
}

/// Unix milliseconds of a `DateTime` (read as UTC).
pub fn ms_of(dt: &DateTime) -> u64 {
    let t = time::PrimitiveDateTime::from(*dt)
        .assume_utc()
        .unix_timestamp();
    u64::try_from(t).unwrap_or(0).saturating_mul(1000)
}

/// Builds a struct value field by field.
#[derive(Debug, Default, Clone)]
pub struct StructBuilder(BTreeMap<String, Value>);

impl StructBuilder {
    /// An empty struct.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a field.
    pub fn field(mut self, name: &str, v: Value) -> Self {
        self.0.insert(name.to_string(), v);
        self
    }

    /// Add a field when it has a value (Uyuni omits absent optional fields: no `nil`).
    pub fn opt(self, name: &str, v: Option<Value>) -> Self {
        match v {
            Some(v) => self.field(name, v),
            None => self,
        }
    }

    /// The struct value.
    pub fn build(self) -> Value {
        Value::Struct(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_at_second_precision() {
        let ms = 1_582_826_974_000; // 2020-02-27T18:09:34Z
        match date_ms(ms) {
            Value::DateTime(d) => {
                assert_eq!(d.to_string(), "20200227T18:09:34");
                assert_eq!(ms_of(&d), ms);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn args_coerce_like_uyuni() {
        let v = [
            Value::String("42".into()),
            Value::Integer(7),
            Value::Boolean(true),
        ];
        let a = Args(&v);
        assert_eq!(a.int(0), Ok(42));
        assert_eq!(a.str(1).as_deref(), Ok("7"));
        assert_eq!(a.bool(2), Ok(true));
        assert_eq!(a.array(1).expect("wrapped").len(), 1);
        let e = a.strukt(0).expect_err("not a struct");
        assert_eq!((e.index, e.expected, e.got), (0, "struct", "string"));
        assert_eq!(a.int(5).expect_err("missing").got, "nothing");
        assert_eq!(int(1 << 40), Value::Long(1 << 40));
    }
}
