//! [`ServerBinding`]: the server (WebSocket endpoint and certificate trust root) an identity
//! was linked with, so a client pointed at another server — a copied command line, a test
//! server's flags against a real session — is refused before it connects.
//!
//! It is kept in the identity's `extra` table under [`KEY`], so it travels with the identity:
//! quarantine moves it aside, a restore brings it back, a fresh identity starts without it.
//! It holds no secret (the endpoint and public root keys only) and is never exported to
//! Baileys (only `baileys.creds.*` extras are).

use crate::error::RedbStoreError;
use crate::schema::EXTRA;
use crate::store::RedbStore;

/// The `extra` row of the binding.
pub(crate) const KEY: &str = "tether.server";

/// The server an identity was linked with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBinding {
    /// The WebSocket endpoint (`wss://web.whatsapp.com/ws/chat`, a `tether sim` URL, …).
    pub endpoint: String,
    /// The root public keys the server's certificate chain was verified against.
    pub trusted_roots: Vec<[u8; 32]>,
}

impl ServerBinding {
    /// `endpoint\nroot-hex,root-hex`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let roots: Vec<String> = self.trusted_roots.iter().map(hex::encode).collect();
        format!("{}\n{}", self.endpoint, roots.join(",")).into_bytes()
    }

    /// The inverse of [`ServerBinding::encode`]; `None` for anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (endpoint, roots) = text.split_once('\n')?;
        let trusted_roots = roots
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let bytes = hex::decode(r).ok()?;
                <[u8; 32]>::try_from(bytes.as_slice()).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            endpoint: endpoint.to_owned(),
            trusted_roots,
        })
    }
}

impl RedbStore {
    /// The server the live identity was linked with, when recorded.
    pub fn server_binding(&self) -> Result<Option<ServerBinding>, RedbStoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| RedbStoreError::db("begin a read", e))?;
        let table = txn
            .open_table(EXTRA)
            .map_err(|e| RedbStoreError::db("open the extra table", e))?;
        let row = table
            .get(KEY)
            .map_err(|e| RedbStoreError::db("read the server binding", e))?;
        Ok(row.and_then(|v| ServerBinding::decode(v.value())))
    }

    /// Records the server the live identity is linked with (one durable transaction).
    pub fn record_server_binding(&self, binding: &ServerBinding) -> Result<(), RedbStoreError> {
        let txn = self.begin_write()?;
        txn.open_table(EXTRA)
            .map_err(|e| RedbStoreError::db("open the extra table", e))?
            .insert(KEY, binding.encode().as_slice())
            .map_err(|e| RedbStoreError::db("write the server binding", e))?;
        txn.commit()
            .map_err(|e| RedbStoreError::db("commit the server binding", e))
    }
}

/// Reads the binding from a read transaction (for the integrity check).
pub(crate) fn read(txn: &redb::ReadTransaction) -> Option<ServerBinding> {
    let table = txn.open_table(EXTRA).ok()?;
    let row = table.get(KEY).ok()??;
    ServerBinding::decode(row.value())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_binding_round_trips_and_garbage_is_none() {
        let b = ServerBinding {
            endpoint: "ws://127.0.0.1:9/ws/chat".into(),
            trusted_roots: vec![[7; 32], [9; 32]],
        };
        assert_eq!(ServerBinding::decode(&b.encode()), Some(b));
        assert_eq!(ServerBinding::decode(b"no newline"), None);
        assert_eq!(ServerBinding::decode(b"x\nzz"), None);
    }
}
