//! `tether node decode|encode`, run as a user runs it.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

const PING: &str = "00f80a1908ff0612345b6789a111fa000304291657f801f80156";

fn tether() -> Command {
    Command::cargo_bin("tether").unwrap()
}

#[test]
fn decode_prints_the_ping_as_text() {
    let out = tether().args(["node", "decode", PING]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "<iq id=\"12345.6789-1\" to=jid\"s.whatsapp.net\" type=\"get\" xmlns=\"w:p\">\n  <ping/>\n</iq>\n"
    );
}

#[test]
fn encode_of_decode_reproduces_the_input_bytes() {
    for hex in [
        PING,
        "00f8061d5145044dfc06deadbeef0001",
        "00f80313 11f70003ff86123456789 01f"
            .replace(' ', "")
            .as_str(),
        "00f8031f89fc095a6fc3ab20f09f918b",
        "00f80307 08fb083eb0a1b2c3d4e5f6".replace(' ', "").as_str(),
    ] {
        let text = tether().args(["node", "decode", hex]).output().unwrap();
        assert!(text.status.success(), "decode {hex}");
        let back = tether()
            .args(["node", "encode", "-"])
            .write_stdin(text.stdout)
            .output()
            .unwrap();
        assert!(back.status.success(), "encode {hex}");
        assert_eq!(String::from_utf8(back.stdout).unwrap().trim(), hex);
    }
}

#[test]
fn decode_reads_hex_from_stdin_and_inflates_compressed_bodies() {
    let compressed = "02 78 da fb c1 25 c9 f1 9f 4d c8 24 3a bd 73 a1 e0 2f 06 66 16 4d b1 f0 1f 8c 3f 18 c3 00 6c c0 08 4b";
    let out = tether()
        .args(["node", "decode", "-"])
        .write_stdin(compressed)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("<iq id=\"12345.6789-1\"")
    );
}

#[test]
fn no_flags_takes_a_bare_node() {
    let out = tether()
        .args(["node", "decode", "--no-flags", "f80156"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "<ping/>\n");
    let out = tether()
        .args(["node", "encode", "--no-flags", "<ping/>"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "f80156\n");
}

fn assert_input_error(args: &[&str], expected: &str) {
    let out = tether().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(expected),
        "{err:?} should contain {expected:?}"
    );
}

#[test]
fn truncated_node_names_the_byte_offset() {
    assert_input_error(
        &["node", "decode", "00f80a19"],
        "at byte 4: expected 1 more byte(s)",
    );
}

#[test]
fn bad_hex_names_the_character() {
    assert_input_error(
        &["node", "decode", "00f8z1"],
        "at character 4: expected a hex digit",
    );
    assert_input_error(&["node", "decode", "00f"], "expected a second hex digit");
}

#[test]
fn bad_text_names_the_byte_offset() {
    assert_input_error(
        &["node", "encode", "<iq><ping/></i>"],
        "at byte 13: expected a closing tag",
    );
    assert_input_error(
        &["node", "encode", "<iq id=1/>"],
        "at byte 7: expected a \"string\"",
    );
}

#[test]
fn unassigned_tag_is_reported() {
    assert_input_error(&["node", "decode", "00f801f2"], "at byte 3");
}

/// Input is bounded: more bytes than the largest frame the transport carries (16 MiB) are
/// refused with exit 2 and a message naming the bound, whether the hex stays within the text
/// cap (the byte count is checked as digits are read) or not (standard input is read bounded).
#[test]
fn decode_refuses_more_than_one_frame_of_input() {
    let max = tether_core::frame::MAX_FRAME_LEN;
    let over_bytes = "00".repeat(max + 1);
    let over_text = " ".repeat(3 * max + 4097);
    for (what, input) in [("bytes", over_bytes), ("text", over_text)] {
        let out = tether()
            .args(["node", "decode", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&max.to_string()), "{what}: {err}");
    }
}
