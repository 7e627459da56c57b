//! `tether node decode|encode`: the binary node codec on the command line.

use std::io::{self, Read as _, Write as _};

use bytes::Bytes;
use clap::{Args, Subcommand};
use tether_core::binary::{self, FLAG_COMPRESSED, Node, TokenDict};

use crate::Failure;

/// The text grammar for `--help` (kept out of doc comments, where rustdoc would read it as HTML).
const GRAMMAR_AND_EXAMPLE: &str = r#"Text grammar:
  <tag key="string" key=jid"user@server">content</tag>   or   <tag key="…"/>
  Content is child nodes, a "string", jid"…" or hex"…" bytes; <a></a> is an empty child list,
  <a/> has no content. Strings use \" \\ \n \r \t and \u{…} escapes.

Example:
  tether node decode 00f80a1908ff0612345b6789a111fa000304291657f801f80156"#;

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Print a binary node (hex) as XML-like text.
    ///
    /// The input is a transport plaintext: a flags byte (bit 0x02 = zlib-compressed) followed by
    /// the node, as in `00f80156` (a ping). Whitespace in the hex is ignored. Byte content is
    /// printed in full as hex"…", so `tether node encode` of this output gives back the input
    /// bytes exactly, attribute order included.
    #[command(after_long_help = GRAMMAR_AND_EXAMPLE)]
    Decode {
        /// The hex to decode, or `-` to read it from standard input.
        hex: String,
        #[command(flatten)]
        opts: CodecOpts,
    },
    /// Encode XML-like text (as printed by `decode`) to hex, with the flags byte.
    #[command(
        after_help = "Example:\n  tether node encode '<iq id=\"1\" type=\"get\" xmlns=\"w:p\"><ping/></iq>'"
    )]
    Encode {
        /// The node text, or `-` to read it from standard input.
        text: String,
        #[command(flatten)]
        opts: CodecOpts,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CodecOpts {
    /// The bytes are a bare node, without the leading flags byte.
    #[arg(long)]
    no_flags: bool,
    /// Token dictionary version: 3 (current clients) or 2 (old clients such as npm Baileys 6.x).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    dict: u8,
}

impl CodecOpts {
    fn dict(&self) -> &'static TokenDict {
        TokenDict::for_version(self.dict).unwrap_or_else(TokenDict::v3)
    }
}

pub(crate) fn run(cmd: NodeCommand) -> Result<(), Failure> {
    let output = match cmd {
        NodeCommand::Decode { hex, opts } => decode(&read_arg(hex)?, &opts)?,
        NodeCommand::Encode { text, opts } => encode(&read_arg(text)?, &opts)?,
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{output}").map_err(|e| Failure {
        message: format!("cannot write to standard output: {e}"),
        code: 1,
    })
}

/// The argument itself, or standard input when it is `-`.
fn read_arg(arg: String) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut raw = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_INPUT_TEXT + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
    if raw.len() as u64 > MAX_INPUT_TEXT {
        return Err(Failure::input(format!(
            "standard input holds more than {MAX_INPUT_TEXT} bytes of text, more than one \
             frame (at most {MAX_DECODE_BYTES} bytes) can take; give one node at a time"
        )));
    }
    String::from_utf8(raw)
        .map_err(|e| Failure::input(format!("standard input is not UTF-8 text: {e}")))
}

fn decode(hex_text: &str, opts: &CodecOpts) -> Result<String, Failure> {
    let bytes = parse_hex(hex_text)?;
    let dict = opts.dict();
    let compressed = !opts.no_flags && bytes.first().is_some_and(|f| f & FLAG_COMPRESSED != 0);
    let result = if opts.no_flags {
        binary::decode(&bytes, dict)
    } else {
        binary::decode_plaintext(bytes, dict)
    };
    let node = result.map_err(|e| {
        // Decoder offsets count from the node's first byte; report them in the user's terms.
        let place = if compressed {
            format!("at byte {} of the inflated node", e.offset)
        } else {
            format!("at byte {}", e.offset + usize::from(!opts.no_flags))
        };
        Failure::input(format!("cannot decode the node: {place}: {}", e.kind))
    })?;
    Ok(node.display_full().to_string())
}

fn encode(text: &str, opts: &CodecOpts) -> Result<String, Failure> {
    let node = Node::parse_text(text)
        .map_err(|e| Failure::input(format!("cannot parse the node text: {e}")))?;
    let dict = opts.dict();
    let bytes = if opts.no_flags {
        let mut out = Vec::new();
        binary::encode(&node, dict, &mut out).map(|()| out)
    } else {
        binary::encode_plaintext(&node, dict)
    }
    .map_err(|e| Failure::input(format!("cannot encode the node: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The most bytes `decode` accepts: the largest frame the transport carries
/// ([`MAX_FRAME_LEN`](tether_core::frame::MAX_FRAME_LEN)), so no node Tether could ever receive
/// is refused and memory stays a small multiple of that bound whatever the input.
const MAX_DECODE_BYTES: usize = tether_core::frame::MAX_FRAME_LEN;

/// The most text read from standard input: the hex of the largest frame with room for
/// whitespace between every pair of digits.
const MAX_INPUT_TEXT: u64 = 3 * MAX_DECODE_BYTES as u64 + 4096;

fn too_large() -> Failure {
    Failure::input(format!(
        "the input holds more than {MAX_DECODE_BYTES} bytes, the largest frame the transport          carries; decode one frame at a time"
    ))
}

/// Hex with any whitespace; errors name the character offset of the first bad digit. The
/// bytes are built as the digits are read (no copy per digit), at most [`MAX_DECODE_BYTES`].
fn parse_hex(text: &str) -> Result<Bytes, Failure> {
    let mut bytes = Vec::with_capacity((text.len() / 2).min(MAX_DECODE_BYTES));
    let mut high: Option<(usize, u8)> = None;
    for (offset, c) in text.char_indices() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(value) = c.to_digit(16).and_then(|v| u8::try_from(v).ok()) else {
            return Err(Failure::input(format!(
                "at character {offset}: expected a hex digit, found {c:?}"
            )));
        };
        match high.take() {
            None => high = Some((offset, value)),
            Some((_, h)) => {
                if bytes.len() == MAX_DECODE_BYTES {
                    return Err(too_large());
                }
                bytes.push(h << 4 | value);
            }
        }
    }
    if let Some((offset, _)) = high {
        return Err(Failure::input(format!(
            "at character {offset}: expected a second hex digit to complete the byte, found the end"
        )));
    }
    if bytes.is_empty() {
        return Err(Failure::input("expected hex bytes, found nothing"));
    }
    Ok(Bytes::from(bytes))
}
