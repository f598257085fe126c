//! QR codes drawn as vector rectangles (crisp at any zoom, tiny in the file).

use crate::{PdfError, Result};

/// The dark parts of the QR code of `data` drawn in the square of side `size` at (`x`, `y`)
/// (top-left), with a quiet zone of 2 modules included in the square: one rectangle
/// `(x, y, width, height)` per horizontal run of dark modules.
///
/// The mask is fixed (pattern 0, "checkerboard") rather than chosen by scoring all eight, which
/// costs more than the rest of a receipt's drawing: any mask gives a valid code, and verification
/// URLs are short and dense enough that every reader copes.
pub fn dark_rects(data: &str, x: f32, y: f32, size: f32) -> Result<Vec<(f32, f32, f32, f32)>> {
    use qrcode::canvas::{Canvas, MaskPattern};
    let qr = |e: qrcode::types::QrError| PdfError::Qr(e.to_string());
    let ec_level = qrcode::EcLevel::M;
    let bits = qrcode::bits::encode_auto(data.as_bytes(), ec_level).map_err(qr)?;
    let version = bits.version();
    let (encoded, ec) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, ec_level).map_err(qr)?;
    let mut canvas = Canvas::new(version, ec_level);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&encoded, &ec);
    canvas.apply_mask(MaskPattern::Checkerboard);
    let n = version.width().max(0) as usize;
    let colors = canvas.into_colors();
    let module = size / (n as f32 + 4.0);
    let mut out = Vec::new();
    for row in 0..n {
        // Merge horizontal runs of dark modules into one rectangle each.
        let mut col = 0;
        while col < n {
            if colors.get(row * n + col) == Some(&qrcode::Color::Dark) {
                let start = col;
                while colors.get(row * n + col) == Some(&qrcode::Color::Dark) && col < n {
                    col += 1;
                }
                out.push((
                    x + (start as f32 + 2.0) * module,
                    y + (row as f32 + 2.0) * module,
                    (col - start) as f32 * module,
                    module,
                ));
            } else {
                col += 1;
            }
        }
    }
    Ok(out)
}

/// Draws the QR code of `data` on a canvas (see [`dark_rects`]).
pub fn draw_on(
    canvas: &mut crate::canvas::Canvas,
    data: &str,
    x: f32,
    y: f32,
    size: f32,
) -> Result<()> {
    canvas.rects(&dark_rects(data, x, y, size)?, (0, 0, 0));
    Ok(())
}
