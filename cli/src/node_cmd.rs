//! `tether node decode|encode`: the binary node codec on the command line.

use std::io::{self, Read as _, Write as _};

use bytes::Bytes;
use clap::{Args, Subcommand};
use tether_core::binary::{self, FLAG_COMPRESSED, Node, TokenDict};

use crate::Failure;

// The doc comments are the CLI help (clap), where `<tag …>` is literal text, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Print a binary node (hex) as XML-like text.
    ///
    /// The input is a transport plaintext: a flags byte (bit 0x02 = zlib-compressed) followed by
    /// the node, as in `00f80156` (`<ping/>`). Whitespace in the hex is ignored. Byte content is printed in
    /// full as hex"…", so `tether node encode` of this output gives back the input bytes exactly,
    /// attribute order included.
    ///
    /// Text grammar: <tag key="string" key=jid"user@server">content</tag> or <tag .../>;
    /// content is child nodes, a "string", jid"…" or hex"…" bytes. Strings use \" \\ \n \r \t
    /// and \u{…} escapes.
    #[command(
        after_help = "Example:\n  tether node decode 00f80a1908ff0612345b6789a111fa000304291657f801f80156"
    )]
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
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
    Ok(text)
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

/// Hex with any whitespace; errors name the character offset of the first bad digit.
fn parse_hex(text: &str) -> Result<Bytes, Failure> {
    let mut digits = Vec::with_capacity(text.len());
    for (offset, c) in text.char_indices() {
        match c {
            c if c.is_ascii_whitespace() => {}
            c if c.is_ascii_hexdigit() => digits.push((offset, c as u8)),
            c => {
                return Err(Failure::input(format!(
                    "at character {offset}: expected a hex digit, found {c:?}"
                )));
            }
        }
    }
    if digits.is_empty() {
        return Err(Failure::input("expected hex bytes, found nothing"));
    }
    if digits.len() % 2 != 0 {
        let (offset, _) = digits[digits.len() - 1];
        return Err(Failure::input(format!(
            "at character {offset}: expected a second hex digit to complete the byte, found the end"
        )));
    }
    let nibble = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    Ok(digits
        .chunks_exact(2)
        .map(|pair| nibble(pair[0].1) << 4 | nibble(pair[1].1))
        .collect())
}
