//! QR codes drawn as vector rectangles (crisp at any zoom, tiny in the file).

use crate::{PdfError, Result};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Rect};
use krilla::num::NormalizedF32;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;

/// Draws the QR code of `data` in the square of side `size` at (`x`, `y`) (top-left), with a
/// quiet zone of 2 modules included in the square.
pub fn draw(surface: &mut Surface<'_>, data: &str, x: f32, y: f32, size: f32) -> Result<()> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| PdfError::Qr(e.to_string()))?;
    let n = code.width();
    let colors = code.to_colors();
    let module = size / (n as f32 + 4.0);
    let mut pb = PathBuilder::new();
    for row in 0..n {
        // Merge horizontal runs of dark modules into one rectangle each.
        let mut col = 0;
        while col < n {
            if colors[row * n + col] == qrcode::Color::Dark {
                let start = col;
                while col < n && colors[row * n + col] == qrcode::Color::Dark {
                    col += 1;
                }
                if let Some(r) = Rect::from_xywh(
                    x + (start as f32 + 2.0) * module,
                    y + (row as f32 + 2.0) * module,
                    (col - start) as f32 * module,
                    module,
                ) {
                    pb.push_rect(r);
                }
            } else {
                col += 1;
            }
        }
    }
    if let Some(path) = pb.finish() {
        surface.set_fill(Some(Fill {
            paint: rgb::Color::new(0, 0, 0).into(),
            opacity: NormalizedF32::ONE,
            rule: FillRule::NonZero,
        }));
        surface.draw_path(&path);
    }
    Ok(())
}
