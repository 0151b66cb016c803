//! Protobuf wire-format reader: splits a message into `(field number, value)` pairs.
//!
//! Owns only the byte-level encoding (varints, fixed-width values, length-delimited payloads)
//! and its validation. It knows nothing about Kubernetes types; `decode.rs` gives the values a
//! meaning. Every read is bounds-checked, so malformed input yields a [`ProtobufError`] and
//! never a panic or an allocation larger than the input.

use super::ProtobufError;

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, embedded messages, map entries and packed repeated scalars.
    Len(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The protobuf wire type number, for error messages.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Len(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// The largest field number protobuf allows.
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Iterates over the fields of one serialized message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// True once every byte was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads a base-128 varint (at most 10 bytes, at most 64 bits).
    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for index in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::Truncated("a varint"));
            };
            self.pos += 1;
            // The 10th byte may only hold the 64th bit.
            if index == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow)
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], ProtobufError> {
        let end =
            self.pos.checked_add(len).filter(|end| *end <= self.buf.len()).ok_or(ProtobufError::Truncated(what))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Reads the next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtobufError> {
        if self.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(ProtobufError::InvalidFieldNumber(number));
        }
        // Checked just above: the number fits in 29 bits.
        let number = number as u32;
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8, "a 64-bit value")?;
                let mut array = [0u8; 8];
                array.copy_from_slice(bytes);
                WireValue::Fixed64(u64::from_le_bytes(array))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| ProtobufError::Truncated("a length-delimited field"))?;
                WireValue::Len(self.take(len, "a length-delimited field")?)
            }
            5 => {
                let bytes = self.take(4, "a 32-bit value")?;
                let mut array = [0u8; 4];
                array.copy_from_slice(bytes);
                WireValue::Fixed32(u32::from_le_bytes(array))
            }
            other => return Err(ProtobufError::UnsupportedWireType(other as u8)),
        };
        Ok(Some((number, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(Reader::new(&[0x00]).varint(), Ok(0));
        assert_eq!(Reader::new(&[0x96, 0x01]).varint(), Ok(150));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&overflow).varint(), Err(ProtobufError::VarintOverflow));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(ProtobufError::VarintOverflow));
        assert_eq!(Reader::new(&[0x96]).varint(), Err(ProtobufError::Truncated("a varint")));
    }

    #[test]
    fn fields_of_every_wire_type() {
        let bytes = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, // 2: fixed64 1
            0x1a, 0x02, b'h', b'i', // 3: "hi"
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.next_field(), Ok(Some((1, WireValue::Varint(150)))));
        assert_eq!(reader.next_field(), Ok(Some((2, WireValue::Fixed64(1)))));
        assert_eq!(reader.next_field(), Ok(Some((3, WireValue::Len(b"hi")))));
        assert_eq!(reader.next_field(), Ok(Some((4, WireValue::Fixed32(2)))));
        assert_eq!(reader.next_field(), Ok(None));
    }

    #[test]
    fn malformed_fields() {
        let err = |bytes: &[u8]| Reader::new(bytes).next_field().unwrap_err();
        assert_eq!(err(&[0x0a, 0x05, b'a']), ProtobufError::Truncated("a length-delimited field"));
        assert_eq!(err(&[0x09, 1, 2]), ProtobufError::Truncated("a 64-bit value"));
        assert_eq!(err(&[0x0d, 1]), ProtobufError::Truncated("a 32-bit value"));
        assert_eq!(err(&[0x0b]), ProtobufError::UnsupportedWireType(3));
        assert_eq!(err(&[0x0c]), ProtobufError::UnsupportedWireType(4));
        assert_eq!(err(&[0x0e]), ProtobufError::UnsupportedWireType(6));
        assert_eq!(err(&[0x00]), ProtobufError::InvalidFieldNumber(0));
        // A length of 2^63 must not overflow the position arithmetic.
        let huge = [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(err(&huge), ProtobufError::Truncated("a length-delimited field"));
    }
}
