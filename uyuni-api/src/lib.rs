//! Uyuni's API as the cluster speaks it: the XML-RPC codec (on `dxr`), Uyuni's faults with
//! their real codes and strings, helpers for the values Uyuni's serializers produce, and an
//! async client that keeps a session (login, re-login when the server forgets it, retries with
//! backoff); and the catalogue of the methods' signatures ([`catalogue`]).
//!
//! The reference for every shape here is `../shared/reference/uyuni-api.md` (the real
//! server's `BaseHandler`, redstone's dispatcher and the serializers); docs/NODE-CONTROLLER.md
//! lists what the cluster calls.

pub mod catalogue;
pub mod client;
pub mod codec;
pub mod fault;
pub mod json;
pub mod value;

pub use client::{ApiError, ClientConfig, RawBody, UyuniClient};
pub use codec::{Call, CodecError};
pub use dxr::{DateTime, Value};
pub use fault::Fault;
pub use value::{Args, StructBuilder};
