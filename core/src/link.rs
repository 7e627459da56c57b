//! One transport attempt, from "socket open" to encrypted stanzas (`transport.md` §3–§6).
//!
//! A [`Link`] owns the framing, the Noise handshake and the transport cipher of a single
//! WebSocket. It knows nothing about logins, pairing or reconnects: the connection state
//! machine above it creates a fresh `Link` per attempt and drops it with the socket.
//!
//! ```text
//!  Link::open ──▶ Handshaking ──ServerHello ok, chain verified──▶ Transport ──▶ nodes in/out
//!   (intro +        │                (ClientFinish sent with the      │
//!    ClientHello)   │                 login/registration payload)     │
//!                   └──── any failure: LinkError (typed) ◀────────────┘
//! ```
//!
//! Every failure is a [`LinkError`] saying who is at fault; after one, the link is dead and the
//! caller closes the socket.

use bytes::Bytes;
use thiserror::Error;

use crate::binary::{self, DecodeError, EncodeError, Node, TokenDict};
use crate::cert::{self, CertError};
use crate::crypto::KeyPair;
use crate::frame::{self, FrameDecoder, FrameError};
use crate::noise::{
    ClientHandshake, HandshakeError, HandshakeOptions, TransportError, TransportState,
};

/// Why a link failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The byte stream broke framing rules.
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    /// The Noise handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The server's certificate chain was refused.
    #[error("server certificate: {0}")]
    Certificate(#[from] CertError),
    /// A transport frame failed to decrypt, or a counter ran out.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A decrypted frame did not hold a valid node.
    #[error("stanza: {0}")]
    Decode(#[from] DecodeError),
    /// A node to send could not be encoded (a bug in the caller's stanza).
    #[error("cannot encode stanza: {0}")]
    Encode(#[from] EncodeError),
    /// Nodes were sent before the handshake finished (caller misuse).
    #[error("the handshake has not finished")]
    NotReady,
}

/// What the caller supplies to finish the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeContext<'a> {
    /// Wall-clock time for the certificate validity window (Unix seconds).
    pub unix_now: u64,
    /// Root keys the intermediate certificate may be signed by.
    pub trusted_roots: &'a [[u8; 32]],
    /// The ClientPayload (login or registration) sent in ClientFinish.
    pub client_payload: &'a [u8],
}

enum Phase {
    Handshaking(Box<ClientHandshake>),
    Transport(TransportState),
    Failed,
}

/// One transport attempt's protocol state.
pub struct Link {
    decoder: FrameDecoder,
    phase: Phase,
    dict: &'static TokenDict,
    max_inflated: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::Handshaking(_) => "handshaking",
            Phase::Transport(_) => "transport",
            Phase::Failed => "failed",
        };
        f.debug_struct("Link")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

/// What one call to [`Link::handle_bytes`] produced.
#[derive(Debug, Default)]
pub struct LinkOutput {
    /// Bytes to send (the ClientFinish frame, once).
    pub transmit: Option<Bytes>,
    /// `true` when the handshake completed in this call.
    pub handshake_done: bool,
    /// Stanzas received, in order.
    pub nodes: Vec<Node>,
    /// Whole frames completed (and, after the handshake, decrypted) in this call: what counts
    /// as a sign of life. Loose bytes of an unfinished frame do not.
    pub frames: usize,
}

impl Link {
    /// Starts a link: returns it and the first WebSocket message (intro header, plus edge
    /// routing when given, plus the ClientHello frame).
    pub fn open(
        noise_key: KeyPair,
        ephemeral: KeyPair,
        routing_info: Option<&[u8]>,
        max_frame_len: usize,
    ) -> Result<(Self, Bytes), LinkError> {
        let handshake = ClientHandshake::new(noise_key, ephemeral, HandshakeOptions::WHATSAPP);
        let hello = handshake.client_hello();
        let mut first = Vec::with_capacity(64 + routing_info.map_or(0, <[u8]>::len));
        // Routing info that cannot be framed is dropped, as whatsapp-rust does: it is an
        // optimisation, never a reason to fail.
        let routing_info = routing_info.filter(|info| info.len() <= frame::MAX_FRAME_LEN);
        frame::write_intro(&mut first, routing_info, frame::DICT_VERSION)?;
        frame::write_frame(&mut first, &hello)?;
        let link = Self {
            decoder: FrameDecoder::new(max_frame_len),
            phase: Phase::Handshaking(Box::new(handshake)),
            dict: TokenDict::v3(),
            max_inflated: binary::DEFAULT_MAX_INFLATED_LEN,
        };
        Ok((link, Bytes::from(first)))
    }

    /// Whether the handshake has completed.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Transport(_))
    }

    /// Whether bytes of a frame that is not complete yet are buffered.
    pub fn has_partial_frame(&self) -> bool {
        self.decoder.buffered_len() > 0
    }

    /// Feeds received bytes. On `Err` the link is dead.
    pub fn handle_bytes(
        &mut self,
        data: &[u8],
        ctx: &HandshakeContext<'_>,
    ) -> Result<LinkOutput, LinkError> {
        self.decoder.push(data);
        let mut out = LinkOutput::default();
        let result = self.drain(ctx, &mut out);
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result.map(|()| out)
    }

    fn drain(&mut self, ctx: &HandshakeContext<'_>, out: &mut LinkOutput) -> Result<(), LinkError> {
        while let Some(payload) = self.decoder.next_frame()? {
            out.frames += 1;
            match std::mem::replace(&mut self.phase, Phase::Failed) {
                Phase::Handshaking(mut handshake) => {
                    let hello = handshake.read_server_hello(&payload)?;
                    cert::verify_chain(
                        &hello.cert_chain,
                        &hello.server_static,
                        ctx.unix_now,
                        ctx.trusted_roots,
                    )?;
                    let (finish, transport) = handshake.finish(ctx.client_payload)?;
                    let mut framed = Vec::with_capacity(finish.len() + frame::LENGTH_PREFIX_LEN);
                    frame::write_frame(&mut framed, &finish)?;
                    out.transmit = Some(Bytes::from(framed));
                    out.handshake_done = true;
                    self.phase = Phase::Transport(transport);
                }
                Phase::Transport(mut transport) => {
                    let plaintext = transport.decrypt(&payload)?;
                    self.phase = Phase::Transport(transport);
                    let node = binary::decode_plaintext_with_limit(
                        Bytes::from(plaintext),
                        self.dict,
                        self.max_inflated,
                    )?;
                    out.nodes.push(node);
                }
                Phase::Failed => return Err(LinkError::NotReady),
            }
        }
        Ok(())
    }

    /// Encrypts and frames one stanza for sending.
    pub fn send_node(&mut self, node: &Node) -> Result<Bytes, LinkError> {
        let Phase::Transport(transport) = &mut self.phase else {
            return Err(LinkError::NotReady);
        };
        let plaintext = binary::encode_plaintext(node, self.dict)?;
        let mut ciphertext = Vec::with_capacity(plaintext.len() + 16);
        transport.encrypt(&plaintext, &mut ciphertext)?;
        let mut framed = Vec::with_capacity(ciphertext.len() + frame::LENGTH_PREFIX_LEN);
        frame::write_frame(&mut framed, &ciphertext)?;
        Ok(Bytes::from(framed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertificateInfo;
    use crate::noise::ResponderHandshake;

    enum ServerPhase {
        AwaitHello(ResponderHandshake),
        AwaitFinish(ResponderHandshake),
        Established,
        Gone,
    }

    struct Server {
        phase: ServerPhase,
        decoder: FrameDecoder,
    }

    const ROOT: [u8; 32] = [0x31; 32];
    const INTERMEDIATE: [u8; 32] = [0x32; 32];

    fn server(leaf_not_after: u64) -> (Server, [u8; 32]) {
        let static_key = KeyPair::from_private_bytes([0x33; 32]);
        let root_pub = KeyPair::from_private_bytes(ROOT).public_bytes();
        let intermediate = CertificateInfo {
            serial: 7,
            issuer_serial: 0,
            key: KeyPair::from_private_bytes(INTERMEDIATE).public_bytes(),
            not_before: 1_700_000_000,
            not_after: 2_000_000_000,
        };
        let leaf = CertificateInfo {
            serial: 42,
            issuer_serial: 7,
            key: static_key.public_bytes(),
            not_before: 1_700_000_000,
            not_after: leaf_not_after,
        };
        let chain = cert::build_chain(&ROOT, &INTERMEDIATE, &intermediate, &leaf);
        let handshake = ResponderHandshake::new(
            static_key,
            KeyPair::from_private_bytes([0x34; 32]),
            Bytes::from(chain),
            HandshakeOptions::WHATSAPP,
        );
        let server = Server {
            phase: ServerPhase::AwaitHello(handshake),
            decoder: FrameDecoder::expecting_intro(frame::MAX_FRAME_LEN),
        };
        (server, root_pub)
    }

    impl Server {
        /// Feeds client bytes, returns what the server sends back.
        fn handle(&mut self, data: &[u8]) -> Vec<u8> {
            self.decoder.push(data);
            let mut out = Vec::new();
            while let Some(payload) = self.decoder.next_frame().unwrap() {
                self.phase = match std::mem::replace(&mut self.phase, ServerPhase::Gone) {
                    ServerPhase::AwaitHello(mut hs) => {
                        hs.read_client_hello(&payload).unwrap();
                        frame::write_frame(&mut out, &hs.server_hello().unwrap()).unwrap();
                        ServerPhase::AwaitFinish(hs)
                    }
                    ServerPhase::AwaitFinish(hs) => {
                        let (contents, mut transport) = hs.read_client_finish(&payload).unwrap();
                        assert_eq!(&contents.client_payload[..], b"login payload");
                        let success = Node::new("success").attr("t", "1800000000");
                        let plain = binary::encode_plaintext(&success, TokenDict::v3()).unwrap();
                        let mut ct = Vec::new();
                        transport.encrypt(&plain, &mut ct).unwrap();
                        frame::write_frame(&mut out, &ct).unwrap();
                        ServerPhase::Established
                    }
                    other => other,
                };
            }
            out
        }
    }

    fn open_link(routing_info: Option<&[u8]>) -> (Link, Bytes) {
        Link::open(
            KeyPair::from_private_bytes([1; 32]),
            KeyPair::from_private_bytes([2; 32]),
            routing_info,
            frame::MAX_FRAME_LEN,
        )
        .unwrap()
    }

    fn ctx(roots: &[[u8; 32]], unix_now: u64) -> HandshakeContext<'_> {
        HandshakeContext {
            unix_now,
            trusted_roots: roots,
            client_payload: b"login payload",
        }
    }

    #[test]
    fn handshake_then_first_stanza_even_when_bytes_arrive_one_at_a_time() {
        let (mut server, root) = server(1_900_000_000);
        let roots = [root];
        let (mut link, first) = open_link(None);
        let hello = server.handle(&first);
        let mut finish = None;
        for (i, b) in hello.iter().enumerate() {
            let out = link
                .handle_bytes(std::slice::from_ref(b), &ctx(&roots, 1_800_000_000))
                .unwrap();
            let last = i + 1 == hello.len();
            // A frame counts only when its last byte arrives; until then it is partial.
            assert_eq!(out.frames, usize::from(last), "byte {i}");
            assert_eq!(link.has_partial_frame(), !last, "byte {i}");
            if out.handshake_done {
                finish = out.transmit;
            }
        }
        assert!(link.is_established());
        let success = server.handle(&finish.unwrap());
        let (head, tail) = success.split_at(success.len() - 1);
        let out = link
            .handle_bytes(head, &ctx(&roots, 1_800_000_000))
            .unwrap();
        assert_eq!((out.frames, out.nodes.len()), (0, 0));
        assert!(link.has_partial_frame());
        let out = link
            .handle_bytes(tail, &ctx(&roots, 1_800_000_000))
            .unwrap();
        assert_eq!(out.frames, 1);
        assert!(!link.has_partial_frame());
        assert_eq!(
            out.nodes,
            vec![Node::new("success").attr("t", "1800000000")]
        );
        assert!(link.send_node(&Node::new("iq")).is_ok());
    }

    #[test]
    fn expired_server_certificate_is_a_typed_failure() {
        let (mut server, root) = server(1_750_000_000);
        let roots = [root];
        let (mut link, first) = open_link(None);
        let hello = server.handle(&first);
        let err = link
            .handle_bytes(&hello, &ctx(&roots, 1_800_000_000))
            .unwrap_err();
        assert!(
            matches!(err, LinkError::Certificate(CertError::Expired { .. })),
            "{err}"
        );
        assert!(!link.is_established());
        assert_eq!(link.send_node(&Node::new("iq")), Err(LinkError::NotReady));
    }

    #[test]
    fn untrusted_root_is_refused() {
        let (mut server, _) = server(1_900_000_000);
        let roots = [[9u8; 32]];
        let (mut link, first) = open_link(None);
        let hello = server.handle(&first);
        let err = link
            .handle_bytes(&hello, &ctx(&roots, 1_800_000_000))
            .unwrap_err();
        assert!(matches!(err, LinkError::Certificate(_)), "{err}");
    }

    #[test]
    fn edge_routing_info_prefixes_the_first_message() {
        let (_, first) = open_link(Some(&[8, 1, 8, 10]));
        assert_eq!(&first[..11], &[0x45, 0x44, 0, 1, 0, 0, 4, 8, 1, 8, 10]);
        assert_eq!(&first[11..15], &frame::INTRO_HEADER);
    }
}
