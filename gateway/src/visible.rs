//! Read your own writes: after a common-data write, the lookup that shows whether each node
//! already has the change (the object created is found, the object deleted is gone), so that
//! the gateway can answer only once every node the next call may reach has it. Pure.
//!
//! Updates (`setDetails`, `update…`) have no probe: they change an object every node already
//! has, so a next call finds it (with the old fields on a node the publication has not reached
//! yet, for the moment the publication takes).

use uyuni_api::Value;

/// One lookup per node and what it must find.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The lookup method.
    pub method: &'static str,
    /// Its parameters (after the session key).
    pub args: Vec<Value>,
    /// `true`: the lookup must succeed (created); `false`: it must fault (deleted).
    pub present: bool,
}

/// The probe of `method(args)` that answered `answer`; `None` when the write needs none.
pub fn probe(method: &str, args: &[Value], answer: &Value) -> Option<Probe> {
    let first = || args.first().cloned();
    let (lookup, name, present) = match method {
        "systemgroup.create" => ("systemgroup.getDetails", first()?, true),
        "systemgroup.delete" => ("systemgroup.getDetails", first()?, false),
        "channel.software.create" => ("channel.software.getDetails", first()?, true),
        "channel.software.delete" => ("channel.software.getDetails", first()?, false),
        // The key as the server answers it (with the organisation's prefix).
        "activationkey.create" => ("activationkey.getDetails", answer.clone(), true),
        "activationkey.delete" => ("activationkey.getDetails", first()?, false),
        "configchannel.create" => ("configchannel.getDetails", first()?, true),
        "contentmanagement.createProject" => ("contentmanagement.lookupProject", first()?, true),
        "contentmanagement.removeProject" => ("contentmanagement.lookupProject", first()?, false),
        _ => return None,
    };
    matches!(name, Value::String(_)).then(|| Probe {
        method: lookup,
        args: vec![name],
        present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uyuni_api::value::{int, string};

    #[test]
    fn creates_and_deletes_are_probed_by_name_updates_are_not() {
        let p = probe("systemgroup.create", &[string("web"), string("d")], &int(1)).expect("p");
        assert_eq!(p.method, "systemgroup.getDetails");
        assert_eq!(p.args, vec![string("web")]);
        assert!(p.present);
        let p = probe("activationkey.create", &[string("k")], &string("1-k")).expect("p");
        assert_eq!(p.args, vec![string("1-k")]);
        assert!(
            !probe("systemgroup.delete", &[string("web")], &int(1))
                .expect("p")
                .present
        );
        assert!(probe("systemgroup.update", &[string("web"), string("d")], &int(1)).is_none());
        // Not by name (an id overload): nothing to look up by.
        assert!(probe("systemgroup.delete", &[int(7)], &int(1)).is_none());
    }
}
