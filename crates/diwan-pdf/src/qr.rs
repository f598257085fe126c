//! QR codes drawn as vector rectangles (crisp at any zoom, tiny in the file).

use crate::{PdfError, Result};

/// The dark modules of the QR code of `data`: one `(column, row, length)` per horizontal run,
/// row 0 at the top, in a grid of `width` modules (quiet zone not included).
///
/// The mask is fixed (pattern 0, "checkerboard") rather than chosen by scoring all eight, which
/// costs more than the rest of a receipt's drawing: any mask gives a valid code, and verification
/// URLs are short and dense enough that every reader copes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub width: usize,
    pub runs: Vec<(u16, u16, u16)>,
}

/// The QR code of `data` at error correction level M (see [`Modules`]).
pub fn modules(data: &str) -> Result<Modules> {
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
    let width = version.width().max(0) as usize;
    let colors = canvas.into_colors();
    let mut runs = Vec::new();
    for (row, line) in colors.chunks(width.max(1)).enumerate() {
        // Merge horizontal runs of dark modules into one rectangle each.
        let mut col = 0;
        while col < line.len() {
            if line[col] == qrcode::Color::Dark {
                let start = col;
                while col < line.len() && line[col] == qrcode::Color::Dark {
                    col += 1;
                }
                // A QR code is at most 177 modules wide.
                runs.push((start as u16, row as u16, (col - start) as u16));
            } else {
                col += 1;
            }
        }
    }
    Ok(Modules { width, runs })
}

/// Draws the QR code of `data` in the square of side `size` whose top-left corner is at
/// (`x`, `y`), a quiet zone of 2 modules included (see [`modules`]).
pub fn draw_on(
    canvas: &mut crate::canvas::Canvas,
    data: &str,
    x: f32,
    y: f32,
    size: f32,
) -> Result<()> {
    let m = modules(data)?;
    // A quiet zone of 2 modules, inside the square.
    let module = size / (m.width as f32 + 4.0);
    canvas.module_runs(
        x + 2.0 * module,
        y + 2.0 * module,
        module,
        &m.runs,
        (0, 0, 0),
    );
    Ok(())
}
