//! From a file's bytes to text: transparent decompression (gzip, zstd), then character decoding.
//!
//! UTF-8 (with or without a byte order mark) is used as it is. UTF-16 is recognised by its BOM,
//! or without one by the pattern of zero bytes in ASCII-heavy text. Anything else that is not
//! valid UTF-8 is a legacy encoding, detected with `chardetng` (or forced by the caller), so text
//! is never silently turned into mojibake: the encoding used is reported with the result.

use std::borrow::Cow;
use std::io::Read;

pub use encoding_rs::Encoding;
use encoding_rs::{UTF_8, UTF_16BE, UTF_16LE};

use crate::FormatError;

/// Text decoded from a file, with how it was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The text, without a byte order mark.
    pub text: Cow<'a, str>,
    /// The name of the encoding used (WHATWG label, e.g. `UTF-8`, `UTF-16LE`, `windows-1250`).
    pub encoding: &'static str,
    /// Whether the encoding was guessed (no BOM, not UTF-8) rather than known.
    pub guessed: bool,
}

/// The compression of a file, recognised by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The compression of `bytes`, if any.
    pub fn detect(bytes: &[u8]) -> Option<Compression> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// The file-name suffix that marks this compression.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }
}

/// Decompresses `bytes` if they are gzip or zstd, reading at most `limit` bytes of output.
pub fn decompress(bytes: &[u8], limit: u64) -> Result<Cow<'_, [u8]>, FormatError> {
    let Some(compression) = Compression::detect(bytes) else { return Ok(Cow::Borrowed(bytes)) };
    let mut out = Vec::new();
    let result = match compression {
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(bytes).take(limit.saturating_add(1)).read_to_end(&mut out)
        }
        Compression::Zstd => match zstd::stream::read::Decoder::new(bytes) {
            Ok(decoder) => decoder.take(limit.saturating_add(1)).read_to_end(&mut out),
            Err(e) => Err(e),
        },
    };
    let name = compression.extension();
    result.map_err(|e| FormatError::whole_file(format!("corrupt {name} data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(FormatError::whole_file(format!(
            "decompresses to more than {limit} bytes, the limit per file at this memory limit"
        )));
    }
    Ok(Cow::Owned(out))
}

/// Looks up an encoding by its WHATWG label (`utf-8`, `utf-16le`, `windows-1250`, `big5`, `gb2312`, …).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// Decodes `bytes` to text: with `forced` if given, else by BOM, UTF-8 validity, UTF-16 shape or detection.
pub fn decode<'a>(bytes: &'a [u8], forced: Option<&'static Encoding>) -> Decoded<'a> {
    if let Some(encoding) = forced {
        let (bom_free, _) = strip_bom(bytes).unwrap_or((bytes, encoding));
        return with(encoding, bom_free, false);
    }
    if let Some((rest, encoding)) = strip_bom(bytes) {
        return with(encoding, rest, false);
    }
    // Checked before UTF-8: UTF-16 of ASCII text is also valid UTF-8 (full of NUL characters).
    if let Some(encoding) = utf16_without_bom(bytes) {
        return with(encoding, bytes, true);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Decoded { text: Cow::Borrowed(text), encoding: UTF_8.name(), guessed: false };
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    with(detector.guess(None, true), bytes, true)
}

fn with<'a>(encoding: &'static Encoding, bytes: &'a [u8], guessed: bool) -> Decoded<'a> {
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Decoded { text, encoding: encoding.name(), guessed }
}

fn strip_bom(bytes: &[u8]) -> Option<(&[u8], &'static Encoding)> {
    let (encoding, length) = Encoding::for_bom(bytes)?;
    Some((&bytes[length..], encoding))
}

/// UTF-16 without a BOM: in mostly-ASCII text every other byte is zero.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let zeros_at = |offset: usize| sample.iter().skip(offset).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (zeros_at(0), zeros_at(1));
    if odd * 10 >= pairs * 7 && even * 10 < pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 7 && odd * 10 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// `text` with CRLF and lone CR line breaks turned into LF (borrowed when there are none).
pub fn normalise_newlines(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        let plain = decode("café".as_bytes(), None);
        assert_eq!((plain.text.as_ref(), plain.encoding, plain.guessed), ("café", "UTF-8", false));
        assert!(matches!(plain.text, Cow::Borrowed(_)));
        assert_eq!(decode("\u{feff}café".as_bytes(), None).text, "café");
    }

    #[test]
    fn utf16_with_bom_and_without() {
        let le: Vec<u8> = [0xff, 0xfe].into_iter().chain("1\nhé".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&le, None).text, "1\nhé");
        let be: Vec<u8> = [0xfe, 0xff].into_iter().chain("1\nhé".encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert_eq!(decode(&be, None).encoding, "UTF-16BE");
        let bare: Vec<u8> = "00:00:01,000 --> 00:00:02,000\nhello".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let decoded = decode(&bare, None);
        assert_eq!((decoded.encoding, decoded.guessed), ("UTF-16LE", true));
        assert!(decoded.text.starts_with("00:00:01,000"));
    }

    #[test]
    fn legacy_encodings_are_detected_or_forced() {
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1250.encode("Příliš žluťoučký kůň úpěl ďábelské ódy. Dobrý den, jak se máte?");
        let decoded = decode(&bytes, None);
        assert_eq!(decoded.encoding, "windows-1250");
        assert!(decoded.text.starts_with("Příliš žluťoučký"));
        let forced = decode(&bytes, encoding_for_label("iso-8859-2"));
        assert_eq!(forced.encoding, "ISO-8859-2");
    }

    #[test]
    fn gzip_and_zstd_are_decompressed_within_a_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"[1, 2, 3]").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(&gz, 1000).unwrap().as_ref(), b"[1, 2, 3]");
        let zst = zstd::encode_all(&b"WEBVTT\n"[..], 3).unwrap();
        assert_eq!(decompress(&zst, 1000).unwrap().as_ref(), b"WEBVTT\n");
        assert!(decompress(&zst, 3).unwrap_err().reason.contains("more than 3 bytes"));
        assert!(decompress(&gz[..8], 1000).unwrap_err().reason.contains("corrupt gz data"));
        assert!(matches!(decompress(b"plain", 10).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn newlines_are_normalised() {
        assert_eq!(normalise_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert!(matches!(normalise_newlines("a\nb"), Cow::Borrowed(_)));
    }
}
