//! One server-side connection on the wire: the intro header (which picks the token
//! dictionary), framing, the Noise XX responder, then encrypted stanzas both ways.
//!
//! ```text
//!  AwaitHello ──intro + ClientHello──▶ AwaitFinish ──ClientFinish──▶ Established ──▶ nodes
//!      │  (ServerHello with the chain)        │ (ClientPayload out)        │
//!      └────────── any error: Dead (the server closes the connection) ◀────┘
//! ```

use bytes::Bytes;
use tether_core::binary::{self, Node, TokenDict};
use tether_core::crypto::KeyPair;
use tether_core::frame::{self, FrameDecoder};
use tether_core::noise::{
    ClientFinishContents, HandshakeOptions, ResponderHandshake, TransportState,
};

/// What the server learnt from one batch of client bytes.
#[derive(Debug, Default)]
pub(crate) struct WireOutput {
    /// Frames to send back (the ServerHello).
    pub(crate) send: Vec<Bytes>,
    /// The decrypted ClientFinish, once.
    pub(crate) finished: Option<ClientFinishContents>,
    /// Stanzas received after the handshake.
    pub(crate) nodes: Vec<Node>,
}

enum Phase {
    AwaitHello {
        static_key: KeyPair,
        ephemeral: KeyPair,
    },
    AwaitFinish(ResponderHandshake),
    Established(TransportState),
    Dead,
}

/// The wire state of one connection.
pub(crate) struct Wire {
    decoder: FrameDecoder,
    phase: Phase,
    chain: Bytes,
    dict: &'static TokenDict,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::AwaitHello { .. } => "await-hello",
            Phase::AwaitFinish(_) => "await-finish",
            Phase::Established(_) => "established",
            Phase::Dead => "dead",
        };
        f.debug_struct("Wire")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

impl Wire {
    pub(crate) fn new(static_key: KeyPair, ephemeral: KeyPair, chain: Bytes) -> Self {
        Self {
            decoder: FrameDecoder::expecting_intro(frame::MAX_FRAME_LEN),
            phase: Phase::AwaitHello {
                static_key,
                ephemeral,
            },
            chain,
            dict: TokenDict::v3(),
        }
    }

    /// The dictionary version the client announced (3 until the intro arrived).
    pub(crate) fn dict_version(&self) -> u8 {
        self.dict.version()
    }

    /// Feeds client bytes. `Err` means the connection is unusable (the caller closes it).
    pub(crate) fn handle_bytes(&mut self, data: &[u8]) -> Result<WireOutput, String> {
        self.decoder.push(data);
        let mut out = WireOutput::default();
        while let Some(payload) = self.decoder.next_frame().map_err(|e| e.to_string())? {
            let phase = std::mem::replace(&mut self.phase, Phase::Dead);
            self.phase = match phase {
                Phase::AwaitHello {
                    static_key,
                    ephemeral,
                } => {
                    let version = self.decoder.intro().map_or(3, |i| i.dict_version);
                    self.dict = TokenDict::for_version(version)
                        .ok_or_else(|| format!("unknown dictionary version {version}"))?;
                    let prologue = [b'W', b'A', frame::INTRO_MAGIC, version];
                    let options = HandshakeOptions {
                        prologue: &prologue,
                        ..HandshakeOptions::WHATSAPP
                    };
                    let mut handshake =
                        ResponderHandshake::new(static_key, ephemeral, self.chain.clone(), options);
                    handshake
                        .read_client_hello(&payload)
                        .map_err(|e| e.to_string())?;
                    let hello = handshake.server_hello().map_err(|e| e.to_string())?;
                    let mut framed = Vec::new();
                    frame::write_frame(&mut framed, &hello).map_err(|e| e.to_string())?;
                    out.send.push(Bytes::from(framed));
                    Phase::AwaitFinish(handshake)
                }
                Phase::AwaitFinish(handshake) => {
                    let (contents, transport) = handshake
                        .read_client_finish(&payload)
                        .map_err(|e| e.to_string())?;
                    out.finished = Some(contents);
                    Phase::Established(transport)
                }
                Phase::Established(mut transport) => {
                    let plain = transport.decrypt(&payload).map_err(|e| e.to_string())?;
                    let node = binary::decode_plaintext(Bytes::from(plain), self.dict)
                        .map_err(|e| e.to_string())?;
                    out.nodes.push(node);
                    Phase::Established(transport)
                }
                Phase::Dead => return Err("the connection already failed".to_owned()),
            };
        }
        Ok(out)
    }

    /// Encrypts and frames `node` (`None` before the handshake finished).
    pub(crate) fn seal(&mut self, node: &Node) -> Option<Bytes> {
        let plain = binary::encode_plaintext(node, self.dict).ok()?;
        self.seal_plain(&plain)
    }

    /// Encrypts and frames raw plaintext bytes (a malformed node on purpose).
    pub(crate) fn seal_plain(&mut self, plain: &[u8]) -> Option<Bytes> {
        let Phase::Established(transport) = &mut self.phase else {
            return None;
        };
        let mut sealed = Vec::new();
        transport.encrypt(plain, &mut sealed).ok()?;
        let mut framed = Vec::new();
        frame::write_frame(&mut framed, &sealed).ok()?;
        Some(Bytes::from(framed))
    }
}
