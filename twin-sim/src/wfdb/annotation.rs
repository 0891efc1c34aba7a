//! MIT-format annotation files (`.atr` and friends): a stream of little-endian 16-bit words,
//! each a 6-bit code and a 10-bit value, with the pseudo-codes SKIP, NUM, SUB, CHN and AUX.

use super::error::{AnnotationProblem, WfdbError};

const SKIP: u16 = 59;
const NUM: u16 = 60;
const SUB: u16 = 61;
const CHN: u16 = 62;
const AUX: u16 = 63;

/// An annotation code (`anntyp` in WFDB), 0 to 49 in files; see [`AnnotationCode::mnemonic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnnotationCode(pub u8);

/// Mnemonics of the standard codes 0 to 41 (PhysioNet's ecgcodes); `""` where unassigned.
const MNEMONICS: [&str; 42] = [
    "", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "~", "", "|", "", "s", "T", "*", "D", "\"",
    "=", "p", "B", "^", "t", "+", "u", "?", "!", "[", "]", "e", "n", "@", "x", "f", "(", ")", "r",
];

impl AnnotationCode {
    pub const NORMAL: Self = Self(1);
    pub const PVC: Self = Self(5);
    pub const APC: Self = Self(8);
    pub const NOISE: Self = Self(14);
    pub const RHYTHM: Self = Self(28);

    /// Whether the code labels a beat (a QRS complex), as WFDB's `isqrs` table says:
    /// N L R a V F J A S E j / Q B ? e n x f r.
    pub fn is_beat(self) -> bool {
        matches!(self.0, 1..=13 | 25 | 30 | 34 | 35 | 37 | 38 | 41)
    }

    /// The one-character label used by PhysioNet tools, or `"[code]"` for an unassigned code.
    pub fn mnemonic(self) -> String {
        match MNEMONICS.get(usize::from(self.0)) {
            Some(m) if !m.is_empty() => (*m).to_owned(),
            _ => format!("[{}]", self.0),
        }
    }
}

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Sample number (in frames of the record) the annotation points at.
    pub sample: u64,
    pub code: AnnotationCode,
    /// `subtyp`, the raw 10-bit value of a SUB word (0 when absent).
    pub subtype: u16,
    /// `chan`, carried over from the previous annotation unless a CHN word changes it.
    pub channel: u16,
    /// `num`, carried over from the previous annotation unless a NUM word changes it.
    pub num: u16,
    /// Bytes of an AUX word (for example rhythm labels such as `(N`), trailing NULs removed.
    pub aux: Option<Vec<u8>>,
}

impl Annotation {
    /// The auxiliary bytes as text (lossy), if any.
    pub fn aux_text(&self) -> Option<String> {
        self.aux.as_ref().map(|a| String::from_utf8_lossy(a).into_owned())
    }
}

/// Parses an MIT-format annotation file. `file` names it in error messages. The file may end
/// with the end-of-file word (0) or simply stop after a whole annotation.
pub fn parse_annotations(file: &str, bytes: &[u8]) -> Result<Vec<Annotation>, WfdbError> {
    let err = |offset: usize, problem: AnnotationProblem| WfdbError::Annotation {
        file: file.to_owned(),
        offset: offset as u64,
        problem,
    };
    let word_at = |pos: usize| -> Option<u16> { bytes.get(pos..pos + 2).map(|b| u16::from_le_bytes([b[0], b[1]])) };
    let mut out: Vec<Annotation> = Vec::new();
    let mut time: u64 = 0;
    let (mut channel, mut num) = (0u16, 0u16);
    let mut pos = 0usize;
    while pos < bytes.len() {
        let at = pos;
        let word = word_at(pos).ok_or_else(|| err(at, AnnotationProblem::Truncated { what: "annotation word" }))?;
        pos += 2;
        let (code, value) = (word >> 10, word & 0x3FF);
        match code {
            0 if value == 0 => break,
            SKIP => {
                let (Some(high), Some(low)) = (word_at(pos), word_at(pos + 2)) else {
                    return Err(err(at, AnnotationProblem::Truncated { what: "SKIP interval" }));
                };
                pos += 4;
                let interval = ((u32::from(high) << 16) | u32::from(low)) as i32;
                time = time
                    .checked_add_signed(i64::from(interval))
                    .ok_or_else(|| err(at, AnnotationProblem::TimeOverflow))?;
            }
            NUM => {
                num = value;
                if let Some(last) = out.last_mut() {
                    last.num = value;
                }
            }
            SUB => {
                if let Some(last) = out.last_mut() {
                    last.subtype = value;
                }
            }
            CHN => {
                channel = value;
                if let Some(last) = out.last_mut() {
                    last.channel = value;
                }
            }
            AUX => {
                let len = usize::from(value);
                let text = bytes
                    .get(pos..pos + len)
                    .ok_or_else(|| err(at, AnnotationProblem::Truncated { what: "AUX string" }))?;
                pos += len + len % 2;
                if let Some(last) = out.last_mut() {
                    let end = text.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    last.aux = Some(text[..end].to_vec());
                }
            }
            _ => {
                time = time.checked_add(u64::from(value)).ok_or_else(|| err(at, AnnotationProblem::TimeOverflow))?;
                out.push(Annotation {
                    sample: time,
                    code: AnnotationCode(code as u8),
                    subtype: 0,
                    channel,
                    num,
                    aux: None,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(code: u16, value: u16) -> [u8; 2] {
        ((code << 10) | value).to_le_bytes()
    }

    #[test]
    fn pseudo_annotations_modify_the_preceding_annotation() {
        let mut bytes = Vec::new();
        bytes.extend(word(1, 100));
        bytes.extend(word(SUB, 3));
        bytes.extend(word(CHN, 1));
        bytes.extend(word(NUM, 7));
        bytes.extend(word(AUX, 3));
        bytes.extend(b"(N\0\0");
        bytes.extend(word(SKIP, 0));
        bytes.extend(1u16.to_le_bytes()); // High half of the interval.
        bytes.extend(0u16.to_le_bytes()); // Low half.
        bytes.extend(word(5, 4));
        bytes.extend(word(0, 0));
        bytes.extend(word(1, 1)); // After the end word: ignored.
        let anns = parse_annotations("t.atr", &bytes).unwrap();
        assert_eq!(anns.len(), 2);
        assert_eq!(anns[0].sample, 100);
        assert_eq!((anns[0].subtype, anns[0].channel, anns[0].num), (3, 1, 7));
        assert_eq!(anns[0].aux_text().as_deref(), Some("(N"));
        assert_eq!(anns[1].sample, 100 + 65536 + 4);
        assert_eq!((anns[1].code, anns[1].subtype, anns[1].channel, anns[1].num), (AnnotationCode::PVC, 0, 1, 7));
    }

    #[test]
    fn truncation_names_the_offset() {
        let mut bytes = Vec::new();
        bytes.extend(word(1, 10));
        bytes.extend(word(AUX, 8));
        bytes.extend(b"ab");
        let e = parse_annotations("t.atr", &bytes).unwrap_err();
        assert!(matches!(e, WfdbError::Annotation { offset: 2, .. }), "{e}");
        assert!(e.to_string().starts_with("t.atr: byte 2:"));
        assert!(parse_annotations("t.atr", &[1]).is_err());
    }

    #[test]
    fn beat_codes() {
        for c in ["N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "B", "?", "e", "n", "x", "f", "r"] {
            let code = (0..50).map(AnnotationCode).find(|k| k.mnemonic() == c).unwrap();
            assert!(code.is_beat(), "{c}");
        }
        assert!(!AnnotationCode::RHYTHM.is_beat());
        assert!(!AnnotationCode::NOISE.is_beat());
        assert_eq!(AnnotationCode(15).mnemonic(), "[15]");
    }
}
