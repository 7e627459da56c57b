//! QR codes in the terminal, as Unicode half blocks (two modules per character cell).

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// Renders `code` (the string a phone scans) for a terminal. Dark modules print dark on a light
/// background, with the quiet zone the standard asks for, so phones read it in any theme.
pub(crate) fn render(code: &str) -> String {
    match QrCode::new(code.as_bytes()) {
        Ok(qr) => qr
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        // A WhatsApp QR string is ~200 bytes: far below any QR capacity limit.
        Err(e) => format!("(cannot draw this QR code: {e}; the raw code is: {code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks_for_a_whatsapp_sized_code() {
        let code = format!(
            "2@{},{},{},{}",
            "A".repeat(80),
            "B".repeat(44),
            "C".repeat(44),
            "D".repeat(44)
        );
        let art = render(&code);
        assert!(art.lines().count() > 20);
        assert!(art.contains('█') || art.contains('▀') || art.contains('▄'));
    }
}
