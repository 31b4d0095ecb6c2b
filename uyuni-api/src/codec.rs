//! XML-RPC bodies in and out, on `dxr`'s codec.
//!
//! Requests are accepted the way Uyuni's redstone parser accepts them; dates in the
//! hyphenated or zoned forms other clients send (`2020-02-27T18:09:34Z`, which dxr's strict
//! parser refuses) are normalised to Uyuni's `YYYYMMDDTHH:MM:SS` first. Output always uses
//! Uyuni's strict form.
//!
//! Input is bounded before it reaches the parser: values nested deeper than [`MAX_NESTING`]
//! arrays and structs are refused with a [`CodecError`] (the decoder recurses per level).
//! Entities other than XML's five and character references are refused (no DTD is
//! expanded, so no "billion laughs"); a `DOCTYPE` without them is ignored. There is no size
//! limit here: the HTTP layer bounds bodies (Uyuni answers listings of tens of MiB), and decoding
//! is linear in the size.

use dxr::{FaultResponse, MethodCall, MethodResponse, Value};

use crate::fault::Fault;

/// A body that is not valid XML-RPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML-RPC: {0}")]
pub struct CodecError(pub String);

/// A parsed `methodCall`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `ns.method`, as sent.
    pub method: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

/// Whether a `methodResponse` document is a fault (looked up without decoding it: the
/// `<fault>` element comes first, right after `<methodResponse>`).
pub fn is_fault_response(text: &str) -> bool {
    text.find("<methodResponse")
        .and_then(|i| text[i..].find('>').map(|j| i + j + 1))
        .is_some_and(|after| text[after..].trim_start().starts_with("<fault>"))
}

/// The deepest nesting of arrays and structs accepted in a body (Uyuni's values nest a handful
/// of levels; the decoder recurses per level, so unbounded nesting would overflow the stack).
pub const MAX_NESTING: usize = 32;

/// Parse a `methodCall` body.
pub fn parse_call(body: &str) -> Result<Call, CodecError> {
    check_nesting(body)?;
    let body = normalise_dates(body);
    let call = MethodCall::from_xml(&body).map_err(|e| CodecError(short(&e.to_string())))?;
    if call.name.trim().is_empty() {
        return Err(CodecError("empty methodName".into()));
    }
    Ok(Call {
        method: call.name.into_owned(),
        params: call.params,
    })
}

/// Render a `methodCall` body.
pub fn render_call(method: &str, params: &[Value]) -> Result<String, CodecError> {
    MethodCall {
        name: method.into(),
        params: params.to_vec(),
    }
    .to_xml()
    .map(with_declaration)
    .map_err(|e| CodecError(e.to_string()))
}

/// Render a successful `methodResponse`.
pub fn render_response(value: &Value) -> Result<String, CodecError> {
    MethodResponse {
        value: value.clone(),
    }
    .to_xml()
    .map(with_declaration)
    .map_err(|e| CodecError(e.to_string()))
}

/// Render a fault `methodResponse`.
pub fn render_fault(fault: &Fault) -> String {
    FaultResponse {
        fault: fault.clone().into(),
    }
    .to_xml()
    .map(with_declaration)
    // A fault is two scalars: rendering cannot fail, but never panic on it either.
    .unwrap_or_else(|_| {
        format!(
            "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>{}</int></value></member><member><name>faultString</name><value><string>internal error</string></value></member></struct></value></fault></methodResponse>",
            fault.code
        )
    })
}

/// Parse a `methodResponse`: the value, or the fault the server sent.
pub fn parse_response(body: &str) -> Result<Result<Value, Fault>, CodecError> {
    check_nesting(body)?;
    let body = normalise_dates(body);
    if body.contains("<fault>") {
        let fault =
            FaultResponse::from_xml(&body).map_err(|e| CodecError(short(&e.to_string())))?;
        return Ok(Err(fault.fault.into()));
    }
    let resp = MethodResponse::from_xml(&body).map_err(|e| CodecError(short(&e.to_string())))?;
    Ok(Ok(resp.value))
}

/// Refuse bodies whose arrays and structs nest deeper than [`MAX_NESTING`], in one linear scan
/// of the markup (comments, CDATA sections, processing instructions and the DOCTYPE skipped).
fn check_nesting(body: &str) -> Result<(), CodecError> {
    let b = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let rest = &b[i + off..];
        let skip = if rest.starts_with(b"<!--") {
            past(rest, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            past(rest, b"]]>")
        } else if rest.starts_with(b"<?") {
            past(rest, b"?>")
        } else if rest.starts_with(b"<!") {
            doctype_len(rest)
        } else {
            let close = rest.get(1) == Some(&b'/');
            let name = &rest[if close { 2 } else { 1 }..];
            // Only `array` and `struct` matter: look at no more than their length (a long
            // run without a delimiter must not make the scan quadratic).
            let len = name
                .iter()
                .take(7)
                .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
                .unwrap_or(7.min(name.len()));
            if matches!(&name[..len], b"array" | b"struct") {
                if close {
                    depth = depth.saturating_sub(1);
                } else if !is_empty_element(&name[len..]) {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(CodecError(format!(
                            "values nested deeper than {MAX_NESTING} arrays or structs"
                        )));
                    }
                }
            }
            Some(1)
        };
        match skip {
            Some(n) => i += off + n,
            // An unterminated comment, CDATA section or DOCTYPE: the parser refuses it.
            None => break,
        }
    }
    Ok(())
}

/// `<array/>`, `<struct />`: whitespace, then `/>` right after the name.
fn is_empty_element(after_name: &[u8]) -> bool {
    let rest = after_name
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map_or(&[][..], |p| &after_name[p..]);
    rest.starts_with(b"/>")
}

/// Length of `hay` up to and including the first `needle`.
fn past(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + needle.len())
}

/// Length of a `<!DOCTYPE …>`, internal subset (`[…]`) included.
fn doctype_len(rest: &[u8]) -> Option<usize> {
    let gt = rest.iter().position(|&c| c == b'>')?;
    if !rest[..gt].contains(&b'[') {
        return Some(gt + 1);
    }
    let close = past(rest, b"]")?;
    past(&rest[close..], b">").map(|n| close + n)
}

fn with_declaration(xml: String) -> String {
    if xml.starts_with("<?xml") {
        xml
    } else {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{xml}")
    }
}

/// Error messages of dxr quote the whole input; keep them readable.
fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

const DT_OPEN: &str = "<dateTime.iso8601>";
const DT_CLOSE: &str = "</dateTime.iso8601>";

/// Rewrite `dateTime.iso8601` contents to `YYYYMMDDTHH:MM:SS`: hyphens in the date dropped,
/// fractional seconds and a zone suffix cut off. Anything else is left for the parser to judge.
fn normalise_dates(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.contains(DT_OPEN) {
        return body.into();
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find(DT_OPEN) {
        let (head, tail) = rest.split_at(start + DT_OPEN.len());
        out.push_str(head);
        let Some(end) = tail.find(DT_CLOSE) else {
            rest = tail;
            break;
        };
        out.push_str(&normalise_date(tail[..end].trim()));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out.into()
}

fn normalise_date(raw: &str) -> String {
    let Some((date, time)) = raw.split_once('T') else {
        return raw.to_string();
    };
    let date: String = date.chars().filter(|c| *c != '-').collect();
    let time: String = time
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    format!("{date}T{time}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_call_parses() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>system.getDetails</methodName>\n<params>\n<param>\n<value><string>1x00</string></value>\n</param>\n<param>\n<value><int>1000010000</int></value>\n</param>\n</params>\n</methodCall>\n";
        let call = parse_call(body).expect("parse");
        assert_eq!(call.method, "system.getDetails");
        assert_eq!(
            call.params,
            vec![Value::String("1x00".into()), Value::Integer(1000010000)]
        );
    }

    #[test]
    fn no_params_and_untyped_values_parse() {
        let call = parse_call("<methodCall><methodName>api.getVersion</methodName></methodCall>")
            .expect("parse");
        assert!(call.params.is_empty());
        let call = parse_call(
            "<methodCall><methodName>a.b</methodName><params><param><value>x &amp; y</value></param></params></methodCall>",
        )
        .expect("parse");
        assert_eq!(call.params, vec![Value::String("x & y".into())]);
    }

    #[test]
    fn zoned_and_hyphenated_dates_are_normalised() {
        for form in [
            "2020-02-27T18:09:34Z",
            "20200227T18:09:34",
            "2020-02-27T18:09:34+01:00",
            "2020-02-27T18:09:34.123Z",
        ] {
            let body = format!(
                "<methodCall><methodName>a.b</methodName><params><param><value><dateTime.iso8601>{form}</dateTime.iso8601></value></param></params></methodCall>"
            );
            let call = parse_call(&body).expect(form);
            match &call.params[0] {
                Value::DateTime(dt) => assert_eq!(dt.to_string(), "20200227T18:09:34"),
                other => panic!("{form}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [
            "",
            "<methodCall>",
            "not xml",
            "<methodCall><methodName></methodName></methodCall>",
        ] {
            assert!(parse_call(bad).is_err(), "{bad:?}");
        }
        assert!(parse_response("<methodResponse><params>").is_err());
    }

    #[test]
    fn responses_and_faults_round_trip() {
        let v = Value::Array(vec![Value::Integer(1), Value::String("a".into())]);
        let xml = render_response(&v).expect("render");
        assert!(xml.starts_with("<?xml"));
        assert_eq!(parse_response(&xml).expect("parse"), Ok(v));
        let f = Fault::no_such_system(7);
        let xml = render_fault(&f);
        assert_eq!(parse_response(&xml).expect("parse"), Err(f));
        let call = render_call("auth.login", &[Value::String("admin".into())]).expect("call");
        assert_eq!(parse_call(&call).expect("parse").method, "auth.login");
    }
}
