//! The API gateway: Uyuni XML-RPC, JSON/REST and cluster-wide search. Filled by the gateway issue.
