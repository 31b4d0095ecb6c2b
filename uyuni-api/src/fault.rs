//! Uyuni's XML-RPC faults.
//!
//! redstone's dispatcher answers a fault with `faultCode` (the `XmlRpcFault` code, else -1)
//! and `faultString` = `"<exception class>: <message>"`. Clients match on both: spacecmd drops
//! its cached key when the string contains `Could not find session`.

/// The class name redstone puts in front of every fault message.
pub const FAULT_CLASS: &str = "redstone.xmlrpc.XmlRpcFault";

/// Code of unhandled exceptions, unknown methods and invalid sessions.
pub const CODE_GENERIC: i32 = -1;
/// `PermissionCheckFailureException`.
pub const CODE_PERMISSION: i32 = -23;
/// `NoSuchSystemException`.
pub const CODE_NO_SUCH_SYSTEM: i32 = -208;
/// `UserLoginException`: wrong user name or password.
pub const CODE_LOGIN: i32 = 2950;
/// "unsupported operation".
pub const CODE_UNSUPPORTED: i32 = 10003;

/// An XML-RPC fault as Uyuni sends it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {code}: {string}")]
pub struct Fault {
    /// `faultCode`.
    pub code: i32,
    /// `faultString`, class name included.
    pub string: String,
}

impl Fault {
    /// A fault with a raw code and string.
    pub fn new(code: i32, string: impl Into<String>) -> Self {
        Self {
            code,
            string: string.into(),
        }
    }

    /// A fault the way redstone renders an `XmlRpcFault`: `"<class>: <message>"`.
    pub fn xmlrpc(code: i32, message: impl AsRef<str>) -> Self {
        Self::new(code, format!("{FAULT_CLASS}: {}", message.as_ref()))
    }

    /// The message without the exception class in front.
    pub fn message(&self) -> &str {
        match self.string.split_once(": ") {
            Some((class, rest)) if class.contains('.') && !class.contains(' ') => rest,
            _ => &self.string,
        }
    }

    /// The session key is unknown or expired (the server forgot it: log in again).
    pub fn is_invalid_session(&self) -> bool {
        self.string.contains("Could not find session") || self.string.contains("InvalidSessionId")
    }

    /// `Could not find session with id: <key>`.
    pub fn invalid_session(key: &str) -> Self {
        Self::xmlrpc(
            CODE_GENERIC,
            format!("Could not find session with id: {key}"),
        )
    }

    /// Wrong user name or password.
    pub fn login_failed() -> Self {
        Self::xmlrpc(CODE_LOGIN, "Either the password or username is incorrect.")
    }

    /// `No such system - sid = <sid>`.
    pub fn no_such_system(sid: i64) -> Self {
        Self::xmlrpc(CODE_NO_SUCH_SYSTEM, format!("No such system - sid = {sid}"))
    }

    /// The user may not do this.
    pub fn permission() -> Self {
        Self::xmlrpc(
            CODE_PERMISSION,
            "You do not have permissions to perform this action.",
        )
    }

    /// No method of this name takes this many parameters (dispatch is by name and count).
    pub fn no_such_method(method: &str, handler_class: &str, param_types: &[&str]) -> Self {
        Self::xmlrpc(
            CODE_GENERIC,
            format!(
                "Could not find method: {} in class: {handler_class} with params: [{}]",
                method.rsplit('.').next().unwrap_or(method),
                param_types.join(", ")
            ),
        )
    }

    /// Anything else that went wrong on the server.
    pub fn internal(message: impl AsRef<str>) -> Self {
        Self::xmlrpc(
            CODE_GENERIC,
            format!("unhandled internal exception: {}", message.as_ref()),
        )
    }
}

impl From<Fault> for dxr::Fault {
    fn from(f: Fault) -> Self {
        dxr::Fault::new(f.code, f.string)
    }
}

impl From<dxr::Fault> for Fault {
    fn from(f: dxr::Fault) -> Self {
        Self::new(f.code(), f.string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_follow_redstone() {
        let f = Fault::invalid_session("12x00");
        assert_eq!(f.code, -1);
        assert_eq!(
            f.string,
            "redstone.xmlrpc.XmlRpcFault: Could not find session with id: 12x00"
        );
        assert!(f.is_invalid_session());
        assert_eq!(f.message(), "Could not find session with id: 12x00");
        assert_eq!(Fault::no_such_system(42).code, -208);
        assert!(!Fault::login_failed().is_invalid_session());
        assert_eq!(Fault::new(1, "plain: text").message(), "plain: text");
        assert!(
            Fault::no_such_method("system.getFoo", "SystemHandler", &["String"])
                .string
                .contains("Could not find method: getFoo in class: SystemHandler")
        );
    }
}
