//! Writes the sample receipt to the path given (default `receipt.pdf`), to look at it.
fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "receipt.pdf".into());
    match diwan_pdf::receipt::render(&diwan_pdf::receipt::sample()) {
        Ok(pdf) => {
            if let Err(e) = std::fs::write(&out, pdf) {
                eprintln!("{out}: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
