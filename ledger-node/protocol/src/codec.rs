//! The one canonical binary encoding: fixed-width big-endian integers, length-prefixed
//! bytes and lists with hard caps, no `usize` on the wire. Decoding untrusted bytes never
//! panics and never allocates more than the input could justify.

use thiserror::Error;

/// Largest byte string any field may hold (a wrapped key, a name, a justification).
pub const MAX_BYTES: u32 = 64 * 1024;
/// Largest number of items in any list field.
pub const MAX_ITEMS: u32 = 4096;
/// Largest encoded signed transaction the node or a client will decode.
pub const MAX_TX_BYTES: usize = 256 * 1024;
/// Largest complete value (a block is the largest) `Decode::from_canonical_bytes` accepts.
/// Whatever makes blocks must keep them within this and `MAX_ITEMS` (see `block::BlockBudget`).
pub const MAX_VALUE_BYTES: usize = MAX_TX_BYTES * 64;

/// Why bytes could not be decoded. Offsets are byte positions in the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ends early at byte {offset}: needed {needed} more byte(s)")]
    UnexpectedEnd { offset: usize, needed: usize },
    #[error("length {len} at byte {offset} exceeds the limit of {max}")]
    TooLong { offset: usize, len: u64, max: u64 },
    #[error("unknown {what} tag {tag} at byte {offset}")]
    UnknownTag { what: &'static str, tag: u8, offset: usize },
    #[error("invalid {what} at byte {offset}")]
    Invalid { what: &'static str, offset: usize },
    #[error("{extra} unexpected trailing byte(s) after the value")]
    TrailingBytes { extra: usize },
    #[error("unsupported encoding version {0}")]
    UnsupportedVersion(u8),
}

/// Appends canonical bytes.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    /// Fixed-size bytes, written without a length.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Variable-size bytes with a u32 length prefix. Callers keep lengths within `MAX_BYTES`;
    /// the decoder rejects anything longer.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.raw(v)
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn list<T: Encode>(&mut self, items: &[T]) -> &mut Self {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            item.encode(self);
        }
        self
    }
    pub fn option<T: Encode>(&mut self, v: &Option<T>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                x.encode(self);
                self
            }
        }
    }
}

/// Reads canonical bytes from an untrusted slice.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }
    pub fn offset(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd { offset: self.pos, needed: n - self.remaining() });
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.raw(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.raw(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid { what: "boolean", offset: at }),
        }
    }
    fn len(&mut self, max: u32) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::TooLong { offset: at, len: u64::from(len), max: u64::from(max) });
        }
        Ok(len as usize)
    }
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.len(MAX_BYTES)?;
        Ok(self.raw(n)?.to_vec())
    }
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let b = self.bytes()?;
        String::from_utf8(b).map_err(|_| DecodeError::Invalid { what: "UTF-8 text", offset: at })
    }
    pub fn list<T: Decode>(&mut self) -> Result<Vec<T>, DecodeError> {
        let n = self.len(MAX_ITEMS)?;
        // Every item takes at least one byte, so the input bounds the allocation.
        let mut out = Vec::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            out.push(T::decode(self)?);
        }
        Ok(out)
    }
    pub fn option<T: Decode>(&mut self) -> Result<Option<T>, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(self)?)),
            tag => Err(DecodeError::UnknownTag { what: "option", tag, offset: at }),
        }
    }
}

/// A value with a canonical byte form.
pub trait Encode {
    fn encode(&self, w: &mut Writer);
    fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// A value that can be read back from its canonical byte form.
pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Decodes a complete value, rejecting trailing bytes and oversized input.
    fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(DecodeError::TooLong { offset: 0, len: bytes.len() as u64, max: MAX_VALUE_BYTES as u64 });
        }
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        w.str(self);
    }
}
/// A boxed value is encoded as the value.
impl<T: Encode> Encode for Box<T> {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}
impl<T: Decode> Decode for Box<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode(r).map(Box::new)
    }
}
impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.string()
    }
}
impl Encode for u64 {
    fn encode(&self, w: &mut Writer) {
        w.u64(*self);
    }
}
impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = Reader::new(&bytes).bytes().unwrap_err();
        assert!(matches!(err, DecodeError::TooLong { offset: 0, .. }));
    }

    #[test]
    fn truncated_input_names_the_offset() {
        let err = Reader::new(&[0, 0, 0]).u64().unwrap_err();
        assert_eq!(err, DecodeError::UnexpectedEnd { offset: 0, needed: 5 });
    }
}
