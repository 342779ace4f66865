//! Compact JSON for records on the `track` hot path, byte for byte what `serde_json::to_writer`
//! writes.
//!
//! Why not `serde_json::to_writer` itself: it escapes strings one byte at a time, which is most
//! of what serialising a usage record costs (field names are strings too). This writer checks
//! a string for characters that need escaping in one vectorisable pass and copies it whole
//! when there are none — the common case for field names, model names and customer keys.
//! Everything else (numbers, strings that need escaping, non-string map keys) is delegated to
//! `serde_json`, so the output is serde_json's by construction; a test compares the two on
//! arbitrary values.

use std::io;

use bytes::BytesMut;
use serde::ser::{self, Impossible, Serialize};
use serde_json::Error;

/// Where compact JSON is appended: the thread's record chunk on the `track` path (a `BytesMut`,
/// so that a record is written once, where the queue keeps it), a `Vec` elsewhere (request
/// bodies on the worker, tests).
pub(crate) trait Out {
    fn len(&self) -> usize;
    fn push(&mut self, byte: u8);
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn reserve(&mut self, additional: usize);
    /// Appends `N` zeros (with constant-size stores: `BytesMut::resize` is a call to `memset`).
    fn extend_zeroed<const N: usize>(&mut self);
    fn truncate(&mut self, len: usize);
    fn as_mut_slice(&mut self) -> &mut [u8];
}

impl Out for Vec<u8> {
    #[inline(always)]
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
    #[inline(always)]
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    #[inline(always)]
    fn extend_zeroed<const N: usize>(&mut self) {
        Vec::extend_from_slice(self, &[0; N]);
    }
    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
    #[inline(always)]
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
}

impl Out for BytesMut {
    #[inline(always)]
    fn len(&self) -> usize {
        BytesMut::len(self)
    }
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        BytesMut::extend_from_slice(self, &[byte]);
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        BytesMut::extend_from_slice(self, bytes);
    }
    #[inline(always)]
    fn reserve(&mut self, additional: usize) {
        BytesMut::reserve(self, additional);
    }
    #[inline(always)]
    fn extend_zeroed<const N: usize>(&mut self) {
        BytesMut::extend_from_slice(self, &[0; N]);
    }
    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        BytesMut::truncate(self, len);
    }
    #[inline(always)]
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
}

/// An [`Out`] as an `io::Write`, for what is handed to serde_json (strings to escape, floats
/// without a short decimal form). Writing into memory cannot fail.
struct IoOut<'o, O: ?Sized>(&'o mut O);

impl<O: Out + ?Sized> io::Write for IoOut<'_, O> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends `value` as compact JSON to `out`, exactly as `serde_json::to_writer` would.
pub(crate) fn write<T: Serialize + ?Sized, O: Out + ?Sized>(
    out: &mut O,
    value: &T,
) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

/// Appends `s` as a JSON string.
#[inline]
pub(crate) fn write_str<O: Out + ?Sized>(out: &mut O, s: &str) {
    if !write_short(out, s.as_bytes()) {
        write_long(out, s);
    }
}

/// Appends `"key":`, after a comma unless it is the first of its object.
#[inline(always)]
fn write_key<O: Out + ?Sized>(out: &mut O, first: bool, key: &str) {
    if !write_short_key(out, first, key.as_bytes()) {
        if !first {
            out.push(b',');
        }
        write_long(out, key);
        out.push(b':');
    }
}

/// [`write_key`] for a struct's field name, a literal once [`SerializeStruct::serialize_field`]
/// is inlined: the slot below is then a constant, and the key one fixed-size append with one
/// length update, where [`write_in_slot`] updates the length twice and checks the slot's
/// bounds. Measured on the owned record through `Serialize` (callgrind 2,561 -> 2,485
/// instructions per `track_with`; scratch program, fastest of 10 rounds, four alternating
/// runs: 0.283–0.286 µs against 0.298–0.318).
///
/// [`SerializeStruct::serialize_field`]: ser::SerializeStruct::serialize_field
#[inline(always)]
fn write_literal_key<O: Out + ?Sized>(out: &mut O, first: bool, key: &'static str) {
    let bytes = key.as_bytes();
    let len = bytes.len();
    if !is_short_and_plain(bytes) {
        return write_key(out, first, key);
    }
    let mut slot = [0u8; SLOT];
    slot[0] = b',';
    let open = usize::from(!first);
    slot[open] = b'"';
    slot[open + 1..open + 1 + len].copy_from_slice(bytes);
    slot[open + 1 + len] = b'"';
    slot[open + 2 + len] = b':';
    out.extend_from_slice(&slot[..open + 3 + len]);
}

/// A string longer than [`SHORT`] bytes, or one with characters to escape (those are written
/// by serde_json). Kept out of line so that the short paths stay small enough to inline.
#[inline(never)]
fn write_long<O: Out + ?Sized>(out: &mut O, s: &str) {
    if needs_no_escape(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into memory cannot fail.
        let _ = ser::Serializer::serialize_str(&mut serde_json::Serializer::new(IoOut(out)), s);
    }
}

/// The longest string [`write_short`] and [`write_short_key`] take.
const SHORT: usize = 16;

/// Whether `s` is at most [`SHORT`] bytes with nothing to escape.
///
/// Most strings of a record are short: field names, model names, customer keys, context keys
/// and values. For them a byte loop costs more than the string itself, so the check uses two
/// fixed-size loads that overlap to cover any length.
#[inline(always)]
fn is_short_and_plain(s: &[u8]) -> bool {
    let len = s.len();
    match len {
        8..=SHORT => {
            special_bytes(u64::from_le_bytes(word::<8>(s, 0)))
                | special_bytes(u64::from_le_bytes(word::<8>(s, len - 8)))
                == 0
        }
        4..8 => {
            let both = u64::from(u32::from_le_bytes(word::<4>(s, 0)))
                | u64::from(u32::from_le_bytes(word::<4>(s, len - 4))) << 32;
            special_bytes(both) == 0
        }
        1..4 => {
            // Three reads cover one to three bytes: `a` in every byte of the probe, then `b`
            // and `c` in the second and third.
            let (a, b, c) = (s[0], s[len / 2], s[len - 1]);
            let spread = |byte: u8| u64::from(byte) * 0x0101_0101_0101_0101;
            special_bytes(spread(a) ^ (u64::from(a ^ b) << 8) ^ (u64::from(a ^ c) << 16)) == 0
        }
        0 => true,
        _ => false,
    }
}

/// Appends `s` quoted and returns `true` when [`is_short_and_plain`]; otherwise writes
/// nothing and returns `false`.
#[inline(always)]
fn write_short<O: Out + ?Sized>(out: &mut O, s: &[u8]) -> bool {
    write_in_slot(out, false, s, false)
}

/// Appends `"key":` (after a comma unless `first`) and returns `true` when the key
/// [`is_short_and_plain`]; otherwise writes nothing and returns `false`.
#[inline(always)]
fn write_short_key<O: Out + ?Sized>(out: &mut O, first: bool, key: &[u8]) -> bool {
    write_in_slot(out, !first, key, true)
}

/// Bytes [`write_in_slot`] opens at the end of `out`: a comma, a short string in its quotes
/// and a colon, rounded up.
const SLOT: usize = 24;

/// `s` quoted, after a comma if `comma` and before a colon if `colon`, when it
/// [`is_short_and_plain`]; otherwise nothing is written and the result is `false`.
///
/// `out` grows once by a zeroed [`SLOT`]; the comma, the quotes, the check's two loads and the
/// colon are stored into it at offsets known to be in bounds (a comma that is not due is
/// overwritten by the quote), and the unused end is cut off. Pushing the pieces instead costs
/// a length update each, and every length update is a store that the next piece's capacity
/// check loads back (a byte store may alias the buffer's header, so the length cannot stay in
/// a register): a chain of store-to-load latencies. Measured on the owned record through
/// `Serialize` (scratch program, fastest of 10 rounds, four alternating runs): 0.274–0.282 µs
/// against 0.285–0.293 with pushes for values.
///
/// (When records were serialised into a scratch buffer and then copied into their chunk, the
/// slot was slower than pushes for values: the copy read the slot's narrow stores back with
/// wide loads, which stalls store forwarding. Records are now written where they are kept.)
#[inline(always)]
fn write_in_slot<O: Out + ?Sized>(out: &mut O, comma: bool, s: &[u8], colon: bool) -> bool {
    if !is_short_and_plain(s) {
        return false;
    }
    let len = s.len();
    let start = out.len();
    out.extend_zeroed::<SLOT>();
    let Some(slot) = out
        .as_mut_slice()
        .get_mut(start..)
        .and_then(|tail| tail.first_chunk_mut::<SLOT>())
    else {
        // Not reached: `out` was just grown by `SLOT`.
        out.truncate(start);
        return false;
    };
    let open = usize::from(comma);
    slot[0] = b',';
    slot[open] = b'"';
    let text = open + 1;
    match len {
        8..=SHORT => {
            slot[text..text + 8].copy_from_slice(&word::<8>(s, 0));
            slot[text + len - 8..text + len].copy_from_slice(&word::<8>(s, len - 8));
        }
        4..8 => {
            slot[text..text + 4].copy_from_slice(&word::<4>(s, 0));
            slot[text + len - 4..text + len].copy_from_slice(&word::<4>(s, len - 4));
        }
        1..4 => {
            slot[text] = s[0];
            slot[text + len / 2] = s[len / 2];
            slot[text + len - 1] = s[len - 1];
        }
        _ => {}
    }
    slot[text + len] = b'"';
    slot[text + len + 1] = b':';
    out.truncate(start + text + len + 1 + usize::from(colon));
    true
}

/// The `N` bytes of `s` from `at` (in bounds by the caller's length check).
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    let mut word = [0; N];
    word.copy_from_slice(&s[at..at + N]);
    word
}

/// Non-zero when one of the eight bytes of `w` is a control character, a quote or a
/// backslash (without branches: each test sets the high bit of a byte it finds).
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` below `n` (exact for n <= 128: bytes >= 0x80 never
    // count, and a borrow only marks bytes above one that already counts).
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w;
    let equal = |w: u64, b: u8| below(w ^ (ONES * u64::from(b)), 1);
    (below(w, 0x20) | equal(w, b'"') | equal(w, b'\\')) & HIGHS
}

/// No control character, quote or backslash: checked eight bytes at a time (a byte-by-byte
/// loop with an early exit does not vectorise and costs most of a record's serialisation).
fn needs_no_escape(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (words, tail) = bytes.as_chunks::<8>();
    if words.is_empty() {
        return tail.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
    }
    // The tail is checked as the last eight bytes, overlapping the previous word.
    let (_, last) = bytes.split_at(bytes.len() - 8);
    let last_clean =
        <[u8; 8]>::try_from(last).is_ok_and(|w| special_bytes(u64::from_le_bytes(w)) == 0);
    words
        .iter()
        .all(|&w| special_bytes(u64::from_le_bytes(w)) == 0)
        && (tail.is_empty() || last_clean)
}

/// The token `serde_json::value::RawValue` serialises under: its text is written as is.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

struct Writer<'a, O: ?Sized> {
    out: &'a mut O,
}

impl<O: Out + ?Sized> Writer<'_, O> {
    /// serde_json's serializer over the same buffer, for what this writer does not speed up.
    fn json(&mut self) -> serde_json::Serializer<IoOut<'_, O>> {
        serde_json::Serializer::new(IoOut(&mut *self.out))
    }
}

/// A sequence, map or struct being written: whether a comma is due, and how it closes.
struct Compound<'w, 'a, O: ?Sized> {
    writer: &'w mut Writer<'a, O>,
    first: bool,
    /// Closing bytes: `]`, `}`, or `]}` / `}}` for enum variants.
    close: &'static [u8],
    /// A `RawValue`: its one field is JSON text, written verbatim.
    raw: bool,
}

impl<O: Out + ?Sized> Compound<'_, '_, O> {
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.writer.out.push(b',');
        }
    }

    fn finish(self) -> Result<(), Error> {
        self.writer.out.extend_from_slice(self.close);
        Ok(())
    }
}

macro_rules! delegate {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method(self, v: $ty) -> Result<(), Error> {
                ser::Serializer::$method(&mut self.json(), v)
            }
        )*
    };
}

/// Integers are written with `itoa`, as serde_json writes them, but straight into the buffer:
/// going through serde_json's serializer adds its `io::Write` plumbing to every integer field.
macro_rules! integers {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method(self, v: $ty) -> Result<(), Error> {
                self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                Ok(())
            }
        )*
    };
}

impl<'w, 'a, O: Out + ?Sized> ser::Serializer for &'w mut Writer<'a, O> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a, O>;
    type SerializeTuple = Compound<'w, 'a, O>;
    type SerializeTupleStruct = Compound<'w, 'a, O>;
    type SerializeTupleVariant = Compound<'w, 'a, O>;
    type SerializeMap = Compound<'w, 'a, O>;
    type SerializeStruct = Compound<'w, 'a, O>;
    type SerializeStructVariant = Compound<'w, 'a, O>;

    delegate!(serialize_f32(f32), serialize_bytes(&[u8]));

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true".as_slice() } else { b"false" });
        Ok(())
    }

    integers!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
    );

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if super::short_decimal::write(self.out, v) {
            return Ok(());
        }
        ser::Serializer::serialize_f64(&mut self.json(), v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a, O>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            writer: self,
            first: true,
            close: b"]",
            raw: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a, O>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a, O>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a, O>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            writer: self,
            first: true,
            close: b"]}",
            raw: false,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a, O>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            writer: self,
            first: true,
            close: b"}",
            raw: false,
        })
    }

    #[inline(always)]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a, O>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound {
                writer: self,
                first: true,
                close: b"",
                raw: true,
            });
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a, O>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            writer: self,
            first: true,
            close: b"}}",
            raw: false,
        })
    }
}

impl<O: Out + ?Sized> ser::SerializeSeq for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeTuple for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeTupleStruct for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeTupleVariant for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeMap for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let first = std::mem::replace(&mut self.first, false);
        let out = &mut *self.writer.out;
        match key.serialize(StrKey {
            out: &mut *out,
            first,
        }) {
            Ok(()) => Ok(()),
            Err(NotAStr) => {
                if !first {
                    out.push(b',');
                }
                write_other_key(out, key)?;
                out.push(b':');
                Ok(())
            }
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeStruct for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    // Inlined into the struct's `Serialize` (serde_derive passes each key as a literal), so
    // the key's length check, escape check and copy fold into constant stores, as with
    // `#[usage(write_fields)]` (see `write_literal_key`). With `serialize_struct` and `end`
    // inlined too: 3,162 -> 2,807 instructions per typed `track_with` of the benchmark record
    // (callgrind), criterion median 0.35 -> 0.31 us.
    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if self.raw {
            return value.serialize(RawText {
                out: &mut *self.writer.out,
            });
        }
        write_literal_key(self.writer.out, self.first, key);
        self.first = false;
        value.serialize(&mut *self.writer)
    }

    #[inline(always)]
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl<O: Out + ?Sized> ser::SerializeStructVariant for Compound<'_, '_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// A map key that is not a string (integers, bools, chars, …): written as serde_json writes
/// it, by letting serde_json write a one-entry map and keeping its key. Rare, so the
/// temporary buffer does not matter.
fn write_other_key<T: Serialize + ?Sized, O: Out + ?Sized>(
    out: &mut O,
    key: &T,
) -> Result<(), Error> {
    struct OneEntry<'k, K: ?Sized>(&'k K);
    impl<K: Serialize + ?Sized> Serialize for OneEntry<'_, K> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &())?;
            map.end()
        }
    }
    let text = serde_json::to_vec(&OneEntry(key))?;
    // `{KEY:null}`
    let key_text = text
        .get(1..text.len().saturating_sub(b":null}".len()))
        .unwrap_or_default();
    out.extend_from_slice(key_text);
    Ok(())
}

/// Not a string key: the caller falls back to serde_json's key rules.
#[derive(Debug)]
struct NotAStr;

impl std::fmt::Display for NotAStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string key")
    }
}

impl std::error::Error for NotAStr {}

impl ser::Error for NotAStr {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        NotAStr
    }
}

/// Writes a key that serialises as a string (directly or through a newtype) with its comma
/// and colon; refuses everything else without writing anything.
struct StrKey<'o, O: ?Sized> {
    out: &'o mut O,
    /// The object's first key: no comma before it.
    first: bool,
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<(), NotAStr> {
                Err(NotAStr)
            }
        )*
    };
}

impl<O: Out + ?Sized> ser::Serializer for StrKey<'_, O> {
    type Ok = ();
    type Error = NotAStr;
    type SerializeSeq = Impossible<(), NotAStr>;
    type SerializeTuple = Impossible<(), NotAStr>;
    type SerializeTupleStruct = Impossible<(), NotAStr>;
    type SerializeTupleVariant = Impossible<(), NotAStr>;
    type SerializeMap = Impossible<(), NotAStr>;
    type SerializeStruct = Impossible<(), NotAStr>;
    type SerializeStructVariant = Impossible<(), NotAStr>;

    fn serialize_str(self, v: &str) -> Result<(), NotAStr> {
        write_key(self.out, self.first, v);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), NotAStr> {
        value.serialize(self)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), NotAStr> {
        Err(NotAStr)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAStr> {
        Err(NotAStr)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotAStr> {
        Err(NotAStr)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAStr> {
        Err(NotAStr)
    }
}

/// The text of a `RawValue`, written verbatim (it is already JSON).
struct RawText<'o, O: ?Sized> {
    out: &'o mut O,
}

impl<O: Out + ?Sized> ser::Serializer for RawText<'_, O> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }

    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(raw_error())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(raw_error())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(raw_error())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(raw_error())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(raw_error())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(raw_error())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(raw_error())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(raw_error())
    }
}

fn raw_error() -> Error {
    ser::Error::custom("a RawValue must serialise as its JSON text")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn ours<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        write(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn theirs<T: Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(i32),
        Tuple(i32, String),
        Struct { side: f64, label: Option<String> },
    }

    #[derive(serde::Serialize)]
    struct Record<'a> {
        tokens: u64,
        model: &'a str,
        #[serde(rename = "quo\"ted")]
        quoted: char,
        latency: Option<f32>,
        nothing: (),
        tags: Vec<&'a str>,
        by_id: BTreeMap<u32, bool>,
        by_flag: BTreeMap<bool, i8>,
        by_char: BTreeMap<char, i128>,
        shapes: Vec<Shape>,
        pair: (u8, i16),
        bytes: &'a [u8],
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
    }

    #[test]
    fn every_serde_shape_comes_out_as_serde_json_writes_it() {
        let record = Record {
            tokens: u64::MAX,
            model: "gpt-4o\n\"mini\"\u{7f}é",
            quoted: '\u{1}',
            latency: Some(1.5e-7),
            nothing: (),
            tags: vec!["a", "", "\\"],
            by_id: BTreeMap::from([(7, true), (0, false)]),
            by_flag: BTreeMap::from([(true, -1)]),
            by_char: BTreeMap::from([('k', i128::MIN)]),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(-3),
                Shape::Tuple(1, "x".into()),
                Shape::Struct {
                    side: f64::NAN,
                    label: None,
                },
            ],
            pair: (255, -32768),
            bytes: &[0, 255],
            extra: BTreeMap::from([("z".to_owned(), json!({"n": [1, 2.5, null]}))]),
        };
        assert_eq!(ours(&record), theirs(&record));
    }

    #[test]
    fn raw_values_are_copied_verbatim() {
        let raw = serde_json::value::RawValue::from_string(r#"{"b": [1, 2]}"#.to_owned()).unwrap();
        let value = BTreeMap::from([("raw", &raw)]);
        assert_eq!(ours(&value), theirs(&value));
        assert_eq!(ours(&value), r#"{"raw":{"b": [1, 2]}}"#);
    }

    #[test]
    fn map_keys_serde_json_refuses_are_refused_here_too() {
        let map = BTreeMap::from([(vec![1], 1)]);
        let mut out = Vec::new();
        let ours = write(&mut out, &map).unwrap_err().to_string();
        let theirs = serde_json::to_string(&map).unwrap_err().to_string();
        assert_eq!(ours, theirs);
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[ -~\\\\\"\\n\\t\\u{0}-\\u{1f}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn the_escape_check_finds_every_special_byte_at_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    let text = String::from_utf8(text).unwrap();
                    assert!(!needs_no_escape(&text), "{text:?}");
                    assert_eq!(ours(&text), theirs(&text));
                }
                let mut text = vec![b'a'; len];
                text[at] = 0x20;
                assert!(needs_no_escape(std::str::from_utf8(&text).unwrap()));
            }
        }
        assert!(needs_no_escape("prix €, 日本語, emoji 🚀 and \u{7f}"));
        for short in ["é", "日", "é\u{7f}", "🚀", "ab€"] {
            assert!(needs_no_escape(short), "{short:?}");
        }
    }

    #[test]
    fn short_strings_are_quoted_whole_or_left_to_serde_json() {
        let short = |text: &[u8]| {
            let mut out = b"[".to_vec();
            write_short(&mut out, text).then_some(out)
        };
        for len in 0..=SHORT {
            // Neighbours differ, so that a byte written to the wrong place shows.
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i as u8 % 7)).collect();
            let mut expected = b"[\"".to_vec();
            expected.extend_from_slice(&text);
            expected.push(b'"');
            assert_eq!(short(&text), Some(expected), "length {len}");
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\'] {
                    let mut text = text.clone();
                    text[at] = special;
                    assert_eq!(short(&text), None, "{len} {at} {special}");
                }
            }
        }
        for text in ["é", "日", "é\u{7f}", "🚀", "ab€", "prix 12 €", "日本語のモ"] {
            assert_eq!(ours(&text), theirs(&text));
            assert!(short(text.as_bytes()).is_some(), "{text:?}");
        }
        assert_eq!(short(&[b'a'; SHORT + 1]), None);
        assert_eq!(ours(&"日本語のモデル"), theirs(&"日本語のモデル"));
    }

    #[test]
    fn short_keys_come_with_their_comma_and_colon_or_are_left_alone() {
        let key = |first: bool, text: &[u8]| {
            let mut out = b"{".to_vec();
            write_short_key(&mut out, first, text).then_some(out)
        };
        for len in 0..=SHORT {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i as u8 % 7)).collect();
            for first in [true, false] {
                let mut expected = if first {
                    b"{\"".to_vec()
                } else {
                    b"{,\"".to_vec()
                };
                expected.extend_from_slice(&text);
                expected.extend_from_slice(b"\":");
                assert_eq!(
                    key(first, &text),
                    Some(expected),
                    "length {len}, first {first}"
                );
                for at in 0..len {
                    let mut text = text.clone();
                    text[at] = b'"';
                    assert_eq!(key(first, &text), None, "{len} {at}");
                }
            }
        }
        assert_eq!(key(false, &[b'a'; SHORT + 1]), None);
        // Long and escaped keys, after a comma, through `write_key`'s fallback.
        let map = BTreeMap::from([("a", 1), ("quo\"te", 2), ("a key longer than sixteen", 3)]);
        assert_eq!(ours(&map), theirs(&map));
    }

    #[test]
    fn every_number_type_comes_out_as_serde_json_writes_it() {
        let numbers = (
            (
                i8::MIN,
                i8::MAX,
                i16::MIN,
                i32::MIN,
                i32::MAX,
                i64::MIN,
                i64::MAX,
                0i64,
            ),
            (
                u8::MAX,
                u16::MAX,
                u32::MAX,
                u64::MAX,
                0u64,
                i128::MAX,
                u128::MAX,
            ),
            (
                f32::MIN_POSITIVE,
                -1.5f32,
                3.0f32,
                f32::NAN,
                f32::INFINITY,
                f32::MAX,
            ),
            (
                f64::MIN_POSITIVE,
                -0.0f64,
                12.5f64,
                1e21f64,
                1e-7f64,
                f64::NEG_INFINITY,
            ),
            (true, false),
        );
        assert_eq!(ours(&numbers), theirs(&numbers));
    }

    proptest! {
        #[test]
        fn arbitrary_json_values_match_serde_json(value in arbitrary_json()) {
            prop_assert_eq!(ours(&value), theirs(&value));
        }
    }
}
