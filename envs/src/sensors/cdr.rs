//! A small CDR (OMG Common Data Representation) reader and writer, enough for the ROS 2 messages
//! in [`ros2`](super::ros2).
//!
//! A serialized message starts with a 4-byte encapsulation header: a 2-byte representation
//! identifier (`00 00` CDR big endian, `00 01` CDR little endian; `00 10`/`00 11` plain XCDR2
//! big/little endian are read too) and 2 option bytes (ignored). Primitives are aligned to their
//! size *relative to the start of the payload* (the byte after the header), at most 8 bytes for
//! CDR and 4 for XCDR2. Strings are a `u32` length that counts a terminating NUL, then the bytes;
//! sequences a `u32` element count, then the elements.
//!
//! Decoding never panics: every read is bounds checked and every error names the field path
//! (e.g. `transforms[2].header.frame_id`) and the payload offset.

use std::fmt;

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdrProblem {
    /// The message is shorter than its 4-byte encapsulation header.
    NoHeader {
        /// The message length.
        len: usize,
    },
    /// The representation identifier is not one of the supported ones.
    UnsupportedEncapsulation {
        /// The two identifier bytes.
        id: [u8; 2],
    },
    /// The payload ends before the field does.
    Truncated {
        /// Bytes needed from the offset.
        needed: usize,
        /// Bytes left from the offset.
        available: usize,
    },
    /// A string's bytes are not UTF-8 or it lacks its terminating NUL.
    BadString,
    /// A sequence claims more elements than the remaining bytes could hold.
    SequenceTooLong {
        /// The claimed length.
        len: u32,
        /// Bytes left.
        available: usize,
    },
    /// A `builtin_interfaces/Time` with `nanosec` ≥ 1e9.
    NanosecOutOfRange {
        /// The value.
        nanosec: u32,
    },
}

impl fmt::Display for CdrProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdrProblem::NoHeader { len } => {
                write!(f, "message of {len} bytes has no 4-byte encapsulation header")
            }
            CdrProblem::UnsupportedEncapsulation { id } => {
                write!(f, "unsupported encapsulation {:02x} {:02x}", id[0], id[1])
            }
            CdrProblem::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            CdrProblem::BadString => f.write_str("string is not NUL-terminated UTF-8"),
            CdrProblem::SequenceTooLong { len, available } => {
                write!(f, "sequence of {len} elements cannot fit in the {available} bytes left")
            }
            CdrProblem::NanosecOutOfRange { nanosec } => {
                write!(f, "nanosec {nanosec} is not below 1e9")
            }
        }
    }
}

/// A CDR decoding error: the field path, the payload offset and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field} at payload byte {offset}: {problem}")]
pub struct CdrError {
    /// The field path, e.g. `pose.pose.orientation.w` or `transforms[2].child_frame_id`.
    pub field: String,
    /// Offset from the start of the payload (after the 4-byte header).
    pub offset: usize,
    /// What went wrong.
    pub problem: CdrProblem,
}

/// Byte order of a CDR payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endianness {
    /// Little endian (what ROS 2 writes on x86 and ARM).
    Little,
    /// Big endian.
    Big,
}

#[derive(Debug, Clone, Copy)]
enum Segment {
    Name(&'static str),
    Index(usize),
}

/// Reads primitives from a CDR message, tracking the field path for errors.
#[derive(Debug)]
pub struct CdrReader<'a> {
    payload: &'a [u8],
    pos: usize,
    endianness: Endianness,
    max_align: usize,
    path: Vec<Segment>,
}

impl<'a> CdrReader<'a> {
    /// Starts reading a whole serialized message (header included).
    pub fn new(message: &'a [u8]) -> Result<Self, CdrError> {
        let err = |problem| CdrError { field: "encapsulation".into(), offset: 0, problem };
        let Some((header, payload)) = message.split_first_chunk::<4>() else {
            return Err(err(CdrProblem::NoHeader { len: message.len() }));
        };
        let (endianness, max_align) = match [header[0], header[1]] {
            [0x00, 0x00] => (Endianness::Big, 8),
            [0x00, 0x01] => (Endianness::Little, 8),
            [0x00, 0x10] => (Endianness::Big, 4),
            [0x00, 0x11] => (Endianness::Little, 4),
            id => return Err(err(CdrProblem::UnsupportedEncapsulation { id })),
        };
        Ok(CdrReader { payload, pos: 0, endianness, max_align, path: Vec::new() })
    }

    /// The payload's byte order.
    pub fn endianness(&self) -> Endianness {
        self.endianness
    }

    /// Bytes of the payload not yet read.
    pub fn remaining(&self) -> usize {
        self.payload.len().saturating_sub(self.pos)
    }

    fn error(&self, field: &str, offset: usize, problem: CdrProblem) -> CdrError {
        let mut path = String::new();
        for segment in &self.path {
            match segment {
                Segment::Name(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        if !field.is_empty() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(field);
        }
        CdrError { field: path, offset, problem }
    }

    /// Reads a nested structure named `name` (for error paths).
    pub fn nested<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, CdrError>,
    ) -> Result<T, CdrError> {
        self.path.push(Segment::Name(name));
        let result = f(self);
        self.path.pop();
        result
    }

    /// Reads element `index` of a sequence (for error paths).
    pub fn element<T>(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut Self) -> Result<T, CdrError>,
    ) -> Result<T, CdrError> {
        self.path.push(Segment::Index(index));
        let result = f(self);
        self.path.pop();
        result
    }

    fn align(&mut self, size: usize) {
        let a = size.min(self.max_align);
        let rem = self.pos % a;
        if rem != 0 {
            self.pos = self.pos.saturating_add(a - rem);
        }
    }

    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N], CdrError> {
        self.align(N);
        let available = self.remaining();
        match self.payload.get(self.pos..).and_then(|rest| rest.first_chunk::<N>()) {
            Some(bytes) => {
                self.pos += N;
                Ok(*bytes)
            }
            None => Err(self.error(field, self.pos, CdrProblem::Truncated { needed: N, available })),
        }
    }

    /// Reads a `uint32`.
    pub fn read_u32(&mut self, field: &str) -> Result<u32, CdrError> {
        let b = self.take::<4>(field)?;
        Ok(match self.endianness {
            Endianness::Little => u32::from_le_bytes(b),
            Endianness::Big => u32::from_be_bytes(b),
        })
    }

    /// Reads an `int32`.
    pub fn read_i32(&mut self, field: &str) -> Result<i32, CdrError> {
        let b = self.take::<4>(field)?;
        Ok(match self.endianness {
            Endianness::Little => i32::from_le_bytes(b),
            Endianness::Big => i32::from_be_bytes(b),
        })
    }

    /// Reads a `float64`.
    pub fn read_f64(&mut self, field: &str) -> Result<f64, CdrError> {
        let b = self.take::<8>(field)?;
        Ok(match self.endianness {
            Endianness::Little => f64::from_le_bytes(b),
            Endianness::Big => f64::from_be_bytes(b),
        })
    }

    /// Reads a fixed-size `float64[N]`.
    pub fn read_f64_array<const N: usize>(&mut self, field: &str) -> Result<[f64; N], CdrError> {
        let mut out = [0.0; N];
        for value in &mut out {
            *value = self.read_f64(field)?;
        }
        Ok(out)
    }

    /// Reads a `string` (a length of 0 is taken as the empty string).
    pub fn read_string(&mut self, field: &str) -> Result<String, CdrError> {
        let len = self.read_u32(field)? as usize;
        if len == 0 {
            return Ok(String::new());
        }
        let start = self.pos;
        let available = self.remaining();
        let Some(bytes) = self.payload.get(start..).and_then(|rest| rest.get(..len)) else {
            return Err(self.error(field, start, CdrProblem::Truncated { needed: len, available }));
        };
        let text = match bytes.split_last() {
            Some((0, text)) => std::str::from_utf8(text).ok(),
            _ => None,
        };
        let Some(text) = text else {
            return Err(self.error(field, start, CdrProblem::BadString));
        };
        self.pos += len;
        Ok(text.to_owned())
    }

    /// Reads a sequence length, checking that `len` elements of at least `min_element_size`
    /// bytes can fit in what is left (so that a corrupt length cannot make a huge allocation).
    pub fn read_sequence_len(&mut self, field: &str, min_element_size: usize) -> Result<usize, CdrError> {
        let len = self.read_u32(field)?;
        let available = self.remaining();
        if (len as usize).saturating_mul(min_element_size.max(1)) > available {
            return Err(self.error(field, self.pos, CdrProblem::SequenceTooLong { len, available }));
        }
        Ok(len as usize)
    }

    /// An error about `field` at the current offset (for checks done by message decoders).
    pub fn invalid(&self, field: &str, problem: CdrProblem) -> CdrError {
        self.error(field, self.pos, problem)
    }
}

/// Writes primitives in CDR with the 4-byte encapsulation header (CDR, not XCDR2).
#[derive(Debug, Clone)]
pub struct CdrWriter {
    bytes: Vec<u8>,
    endianness: Endianness,
}

impl CdrWriter {
    /// Starts a message in the given byte order.
    pub fn new(endianness: Endianness) -> Self {
        let id = match endianness {
            Endianness::Big => 0x00,
            Endianness::Little => 0x01,
        };
        CdrWriter { bytes: vec![0x00, id, 0x00, 0x00], endianness }
    }

    fn align(&mut self, size: usize) {
        while !(self.bytes.len() - 4).is_multiple_of(size) {
            self.bytes.push(0);
        }
    }

    /// Writes a `uint32`.
    pub fn write_u32(&mut self, v: u32) {
        self.align(4);
        match self.endianness {
            Endianness::Little => self.bytes.extend_from_slice(&v.to_le_bytes()),
            Endianness::Big => self.bytes.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes an `int32`.
    pub fn write_i32(&mut self, v: i32) {
        self.align(4);
        match self.endianness {
            Endianness::Little => self.bytes.extend_from_slice(&v.to_le_bytes()),
            Endianness::Big => self.bytes.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes a `float64`.
    pub fn write_f64(&mut self, v: f64) {
        self.align(8);
        match self.endianness {
            Endianness::Little => self.bytes.extend_from_slice(&v.to_le_bytes()),
            Endianness::Big => self.bytes.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// Writes `float64` values one after the other.
    pub fn write_f64s(&mut self, values: &[f64]) {
        for &v in values {
            self.write_f64(v);
        }
    }

    /// Writes a `string` (length counting the terminating NUL). Strings longer than `u32::MAX`
    /// bytes are cut (ROS strings never are).
    pub fn write_string(&mut self, s: &str) {
        let bytes = &s.as_bytes()[..s.len().min(u32::MAX as usize - 1)];
        self.write_u32(bytes.len() as u32 + 1);
        self.bytes.extend_from_slice(bytes);
        self.bytes.push(0);
    }

    /// The serialized message.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}
