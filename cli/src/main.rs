//! The `tether` command.
#![forbid(unsafe_code)]

fn main() {}
