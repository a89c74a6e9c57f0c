//! Subtitle formats verbatim does not read, recognised so that their files are rejected with a
//! reason that names them rather than a parse error of another format.

use std::path::Path;

/// The name of the format of a file verbatim does not read, when it is a known one.
pub fn recognise(path: &Path, text: &str) -> Option<&'static str> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let by_extension = match extension.as_deref() {
        Some("ass") | Some("ssa") => Some("Advanced SubStation Alpha (.ass/.ssa)"),
        Some("ttml") | Some("dfxp") => Some("TTML/DFXP (.ttml/.dfxp)"),
        Some("smi") | Some("sami") => Some("SAMI (.smi)"),
        Some("sbv") => Some("YouTube SubViewer (.sbv)"),
        Some("sub") => Some("MicroDVD/SubViewer (.sub)"),
        Some("lrc") => Some("LRC lyrics (.lrc)"),
        Some("scc") => Some("Scenarist closed captions (.scc)"),
        Some("stl") => Some("EBU/Spruce STL (.stl)"),
        Some("rtf") => Some("Rich Text Format (.rtf)"),
        Some("docx") => Some("Word document (.docx)"),
        Some("zip") => Some("a zip archive"),
        Some("csv") => Some("CSV"),
        _ => None,
    };
    if by_extension.is_some() {
        return by_extension;
    }
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with("[Script Info]") {
        Some("Advanced SubStation Alpha")
    } else if start.starts_with("<?xml") && start.contains("<tt") {
        Some("TTML")
    } else if start.to_ascii_uppercase().starts_with("<SAMI") {
        Some("SAMI")
    } else if start.starts_with("Scenarist_SCC") {
        Some("Scenarist closed captions")
    } else if start.starts_with("{\\rtf") {
        Some("Rich Text Format")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_formats_are_named_by_extension_or_content() {
        assert_eq!(recognise(Path::new("a.ass"), ""), Some("Advanced SubStation Alpha (.ass/.ssa)"));
        assert_eq!(recognise(Path::new("a.txt"), "[Script Info]\nTitle: x"), Some("Advanced SubStation Alpha"));
        assert_eq!(recognise(Path::new("a.txt"), "hello"), None);
    }
}
