//! WFDB signal storage formats (PhysioNet's signal(5)): how many bytes hold how many
//! samples, how to unpack them, and which stored value marks a missing sample.
//!
//! The byte formats (8, 16, 24, 32, 61, 80, 160, 212, 310, 311) unpack here, from a slice,
//! into the interleaved stream of stored values; the FLAC formats (508, 516, 524) are whole
//! FLAC streams, one channel per signal, decoded in `signal.rs`. Format 8 stores first
//! differences: the values unpacked here are the differences, integrated per signal later.

/// The most samples one signal file may decode to (about 2 GiB of `i32`), a guard on input size.
pub(super) const MAX_SAMPLES: u64 = 1 << 29;

/// A WFDB storage format, as numbered in headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalFormat {
    /// 8-bit first differences (each sample is the previous plus a signed byte).
    F8,
    /// 16-bit two's complement, little-endian.
    F16,
    /// 24-bit two's complement, little-endian.
    F24,
    /// 32-bit two's complement, little-endian.
    F32,
    /// 16-bit two's complement, big-endian.
    F61,
    /// 8-bit offset binary (stored byte minus 128); MIMIC-III's waveforms use it.
    F80,
    /// 16-bit offset binary, little-endian (stored word minus 32768).
    F160,
    /// Two 12-bit two's complement samples packed in three bytes.
    F212,
    /// Three 10-bit samples in two little-endian 16-bit words (bits 1-10 of each word, the
    /// third sample split over bits 11-15 of both).
    F310,
    /// Three 10-bit samples in one little-endian 32-bit word (bits 0-9, 10-19, 20-29).
    F311,
    /// FLAC with 8-bit samples, one channel per signal.
    Flac8,
    /// FLAC with 16-bit samples.
    Flac16,
    /// FLAC with 24-bit samples.
    Flac24,
    /// Any other format number (parsed, not decodable).
    Other(u16),
}

/// How a byte format packs samples: `samples` of them in each group of `bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packing {
    pub samples: u64,
    pub bytes: u64,
}

impl SignalFormat {
    pub(super) fn from_number(n: u16) -> Self {
        match n {
            8 => Self::F8,
            16 => Self::F16,
            24 => Self::F24,
            32 => Self::F32,
            61 => Self::F61,
            80 => Self::F80,
            160 => Self::F160,
            212 => Self::F212,
            310 => Self::F310,
            311 => Self::F311,
            508 => Self::Flac8,
            516 => Self::Flac16,
            524 => Self::Flac24,
            other => Self::Other(other),
        }
    }

    /// The format number as written in headers.
    pub fn number(self) -> u16 {
        match self {
            Self::F8 => 8,
            Self::F16 => 16,
            Self::F24 => 24,
            Self::F32 => 32,
            Self::F61 => 61,
            Self::F80 => 80,
            Self::F160 => 160,
            Self::F212 => 212,
            Self::F310 => 310,
            Self::F311 => 311,
            Self::Flac8 => 508,
            Self::Flac16 => 516,
            Self::Flac24 => 524,
            Self::Other(n) => n,
        }
    }

    /// Whether samples in this format can be decoded here.
    pub fn is_decodable(self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// Whether the signal file is a FLAC stream.
    pub fn is_flac(self) -> bool {
        matches!(self, Self::Flac8 | Self::Flac16 | Self::Flac24)
    }

    /// Bits of one stored sample (format 8's integrated samples are unbounded: 32).
    pub fn sample_bits(self) -> u32 {
        match self {
            Self::F80 | Self::Flac8 => 8,
            Self::F310 | Self::F311 => 10,
            Self::F212 => 12,
            Self::F16 | Self::F61 | Self::F160 | Self::Flac16 | Self::Other(_) => 16,
            Self::F24 | Self::Flac24 => 24,
            Self::F8 | Self::F32 => 32,
        }
    }

    /// The stored value that marks a missing sample: the most negative value of the sample
    /// width. Format 8 (differences) has none, nor does an undecodable format.
    pub fn invalid_value(self) -> Option<i32> {
        match self {
            Self::F8 | Self::Other(_) => None,
            other => Some(i32::MIN >> (32 - other.sample_bits())),
        }
    }

    /// The ADC resolution WFDB assumes when the header gives none.
    pub(super) fn default_resolution(self) -> u32 {
        match self {
            Self::F8 | Self::F80 | Self::Flac8 => 8,
            Self::F310 | Self::F311 => 10,
            Self::F212 => 12,
            Self::F24 | Self::Flac24 => 24,
            Self::F32 => 32,
            _ => 16,
        }
    }

    /// The bits per sample a FLAC signal file of this format must declare.
    pub(super) fn flac_bits(self) -> Option<u32> {
        match self {
            Self::Flac8 => Some(8),
            Self::Flac16 => Some(16),
            Self::Flac24 => Some(24),
            _ => None,
        }
    }

    /// The byte packing of a byte format; `None` for FLAC and unknown formats.
    pub(super) fn packing(self) -> Option<Packing> {
        let (samples, bytes) = match self {
            Self::F8 | Self::F80 => (1, 1),
            Self::F16 | Self::F61 | Self::F160 => (1, 2),
            Self::F24 => (1, 3),
            Self::F32 => (1, 4),
            Self::F212 => (2, 3),
            Self::F310 | Self::F311 => (3, 4),
            _ => return None,
        };
        Some(Packing { samples, bytes })
    }

    /// How many whole samples `len` bytes hold (a partial last group counts the samples that
    /// its bytes complete).
    pub(super) fn samples_in(self, len: u64) -> u64 {
        let Some(p) = self.packing() else { return 0 };
        let (groups, rest) = (len / p.bytes, len % p.bytes);
        let partial = match (self, rest) {
            (Self::F212, 2) | (Self::F310, 2 | 3) | (Self::F311, 2) => 1,
            (Self::F311, 3) => 2,
            _ => 0,
        };
        groups * p.samples + partial
    }

    /// Bytes needed to hold `samples` samples (a partial last group as WFDB writes it).
    pub(super) fn bytes_for(self, samples: u64) -> u64 {
        let Some(p) = self.packing() else { return 0 };
        let (groups, rest) = (samples / p.samples, samples % p.samples);
        let partial = match (self, rest) {
            (_, 0) => 0,
            (Self::F212, 1) | (Self::F310 | Self::F311, 1) => 2,
            (Self::F310, 2) => 4,
            (Self::F311, 2) => 3,
            _ => 0,
        };
        groups * p.bytes + partial
    }

    /// Unpacks the first `count` stored values of a byte format (format 8: the differences).
    /// The caller has checked that `data` holds them; a short slice yields fewer.
    pub(super) fn unpack(self, data: &[u8], count: usize) -> Vec<i32> {
        // Only the bytes that hold those samples (a file may hold more than its header asks).
        let data = &data[..data.len().min(usize::try_from(self.bytes_for(count as u64)).unwrap_or(usize::MAX))];
        let mut out = Vec::with_capacity(count);
        match self {
            Self::F8 => out.extend(data.iter().map(|&b| i32::from(b as i8))),
            Self::F80 => out.extend(data.iter().map(|&b| i32::from(b) - 128)),
            Self::F16 => out.extend(data.chunks_exact(2).map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))),
            Self::F61 => out.extend(data.chunks_exact(2).map(|b| i32::from(i16::from_be_bytes([b[0], b[1]])))),
            Self::F160 => out.extend(data.chunks_exact(2).map(|b| i32::from(u16::from_le_bytes([b[0], b[1]])) - 32768)),
            Self::F24 => out.extend(data.chunks_exact(3).map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)),
            Self::F32 => out.extend(data.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Self::F212 => unpack_212(data, count, &mut out),
            Self::F310 => unpack_310(data, count, &mut out),
            Self::F311 => unpack_311(data, count, &mut out),
            Self::Flac8 | Self::Flac16 | Self::Flac24 | Self::Other(_) => {}
        }
        out.truncate(count);
        out
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u32, bits: u32) -> i32 {
    ((v << (32 - bits)) as i32) >> (32 - bits)
}

/// Format 212: the first sample is byte 0 plus the low nibble of byte 1, the second is
/// byte 2 plus the high nibble of byte 1.
fn unpack_212(data: &[u8], count: usize, out: &mut Vec<i32>) {
    for chunk in data.chunks(3) {
        if out.len() >= count {
            break;
        }
        if chunk.len() >= 2 {
            out.push(sign_extend(u32::from(chunk[0]) | (u32::from(chunk[1] & 0x0F) << 8), 12));
        }
        if chunk.len() == 3 {
            out.push(sign_extend(u32::from(chunk[2]) | (u32::from(chunk[1] & 0xF0) << 4), 12));
        }
    }
}

/// Format 310: in each pair of little-endian words, bits 1-10 of word 0 and of word 1 are the
/// first and second samples; bits 11-15 of word 0 (low) and word 1 (high) are the third.
fn unpack_310(data: &[u8], count: usize, out: &mut Vec<i32>) {
    for chunk in data.chunks(4) {
        if out.len() >= count {
            break;
        }
        let word = |i: usize| chunk.get(2 * i..2 * i + 2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])));
        let (w0, w1) = (word(0), word(1));
        if let Some(w0) = w0 {
            out.push(sign_extend((w0 >> 1) & 0x3FF, 10));
        }
        if let (Some(w0), Some(w1)) = (w0, w1) {
            out.push(sign_extend((w1 >> 1) & 0x3FF, 10));
            out.push(sign_extend((w0 >> 11) | ((w1 >> 11) << 5), 10));
        }
    }
}

/// Format 311: each little-endian 32-bit word holds three samples in bits 0-9, 10-19 and
/// 20-29; a last group of two samples takes three bytes, of one sample two.
fn unpack_311(data: &[u8], count: usize, out: &mut Vec<i32>) {
    for chunk in data.chunks(4) {
        if out.len() >= count {
            break;
        }
        let mut bytes = [0u8; 4];
        bytes[..chunk.len()].copy_from_slice(chunk);
        let word = u32::from_le_bytes(bytes);
        let whole = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        for k in 0..whole {
            out.push(sign_extend((word >> (10 * k)) & 0x3FF, 10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_212_unpacks_and_sign_extends() {
        // Samples 0x123 and -1 (0xFFF): bytes 0x23, 0xF1, 0xFF.
        assert_eq!(SignalFormat::F212.unpack(&[0x23, 0xF1, 0xFF], 2), vec![0x123, -1]);
        // An odd final sample takes two bytes.
        assert_eq!(SignalFormat::F212.unpack(&[0x00, 0x08], 1), vec![-2048]);
    }

    #[test]
    fn invalid_values_are_the_most_negative_of_each_width() {
        let invalid = |n| SignalFormat::from_number(n).invalid_value();
        assert_eq!(
            (invalid(80), invalid(508), invalid(310), invalid(311)),
            (Some(-128), Some(-128), Some(-512), Some(-512))
        );
        assert_eq!(
            (invalid(212), invalid(16), invalid(61), invalid(160)),
            (Some(-2048), Some(-32768), Some(-32768), Some(-32768))
        );
        assert_eq!((invalid(24), invalid(524), invalid(32)), (Some(-8_388_608), Some(-8_388_608), Some(i32::MIN)));
        assert_eq!((invalid(8), invalid(0)), (None, None));
    }

    #[test]
    fn partial_groups_count_and_size_agree() {
        for format in [SignalFormat::F212, SignalFormat::F310, SignalFormat::F311, SignalFormat::F24] {
            for n in 0..12u64 {
                assert_eq!(format.samples_in(format.bytes_for(n)).min(n), n, "{format:?} {n}");
            }
        }
        // WFDB writes two trailing 310 samples in four bytes, 311 in three.
        assert_eq!((SignalFormat::F310.bytes_for(5), SignalFormat::F311.bytes_for(5)), (8, 7));
    }

    #[test]
    fn every_known_number_round_trips() {
        for n in [8, 16, 24, 32, 61, 80, 160, 212, 310, 311, 508, 516, 524, 0, 999] {
            assert_eq!(SignalFormat::from_number(n).number(), n);
        }
    }
}
