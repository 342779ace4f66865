//! Floats with a short decimal form (`12.5`, `0.25`, `1532.0`), written without a general
//! shortest-representation algorithm.
//!
//! Latencies, prices and ratios in usage records mostly have a few decimals. serde_json's float
//! formatter costs about as much as the rest of a typed record's serialisation; this path
//! finds the same digits with a handful of multiplications and one exact check, and leaves
//! every other float to serde_json.
//!
//! Why the output is serde_json's: serde_json prints the shortest decimal that reads back as
//! the same `f64` (of equally short ones, the nearest), in plain notation below `1e16`, with
//! `.0` after an integer. Take `d` fraction digits and `s = |v| * 10^d < 2^50`:
//! - the doubles next to `v` are less than `10^-d` apart (`ulp(v) <= |v| * 2^-52`), so at
//!   most one decimal `M / 10^d` reads back as `v`;
//! - if one does, `|s - M| <= s * 2^-53`, and the computed product is within another
//!   `s * 2^-53` of `s`: within 1/4 of `M` in all, so rounding the product finds `M`;
//! - `M as f64 / 10^d == v` (both operands exact, the division correctly rounded, like
//!   parsing) says whether `M / 10^d` reads back as `v`.
//!
//! The first `d` that passes gives the fewest fraction digits, hence the fewest significant
//! digits: the shortest form. Its last digit is not zero, else `d - 1` would have passed.

use super::compact_json::Out;

/// The powers of ten tried, as fraction digits `0..=4`.
const SCALES: [f64; 5] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];
/// `2^50`: below it, rounding a scaled value finds the one decimal that can read back as it
/// (see the module doc).
const EXACT_BELOW: f64 = 1_125_899_906_842_624.0;

/// Appends `v` as serde_json writes it and returns `true`, or returns `false` without writing
/// when `v` has no short decimal form (or is zero, non-finite, too large or small, or takes
/// more than 16 characters).
pub(crate) fn write<O: Out + ?Sized>(out: &mut O, v: f64) -> bool {
    let magnitude = v.abs();
    // NaN is in no range; zero (and its sign) is left to serde_json.
    if !(1e-4..1e15).contains(&magnitude) {
        return false;
    }
    for (point, scale) in SCALES.into_iter().enumerate() {
        let scaled = magnitude * scale;
        if scaled >= EXACT_BELOW {
            return false;
        }
        // The nearest integer (the cast truncates a non-negative value; signed conversions
        // are single instructions, unsigned ones are not).
        let digits = (scaled + 0.5) as i64;
        if digits as f64 / scale == magnitude {
            // Not negative: `magnitude` is not.
            return write_digits(out, v < 0.0, digits.unsigned_abs(), point);
        }
    }
    false
}

/// `digits` with a decimal point `point` digits from the right (`.0` when `point` is 0), or
/// `false` when that takes more than 16 bytes.
///
/// The text is built in a register, most significant character in the lowest byte, and
/// stored with one 16-byte write: assembling it byte by byte on the stack and copying it
/// would read back narrow stores with a wide load, which stalls store forwarding.
fn write_digits<O: Out + ?Sized>(
    out: &mut O,
    negative: bool,
    mut digits: u64,
    point: usize,
) -> bool {
    let mut text: u128 = 0;
    let mut len = 0;
    let mut prepend = |text: &mut u128, byte: u8| {
        *text = *text << 8 | u128::from(byte);
        len += 1;
    };
    if point == 0 {
        prepend(&mut text, b'0');
        prepend(&mut text, b'.');
    } else {
        for _ in 0..point {
            prepend(&mut text, b'0' + (digits % 10) as u8);
            digits /= 10;
        }
        prepend(&mut text, b'.');
    }
    loop {
        prepend(&mut text, b'0' + (digits % 10) as u8);
        digits /= 10;
        if digits == 0 {
            break;
        }
    }
    if negative {
        prepend(&mut text, b'-');
    }
    if len > 16 {
        return false;
    }
    let end = out.len() + len;
    out.extend_from_slice(&text.to_le_bytes());
    out.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn ours(v: f64) -> Option<String> {
        let mut out = Vec::new();
        super::write(&mut out, v).then(|| String::from_utf8(out).unwrap())
    }

    fn theirs(v: f64) -> String {
        serde_json::to_string(&v).unwrap()
    }

    /// `v` either comes out as serde_json writes it or is left to serde_json.
    fn agrees(v: f64) -> Result<(), TestCaseError> {
        if let Some(text) = ours(v) {
            prop_assert_eq!(text, theirs(v), "{:e}", v);
        }
        Ok(())
    }

    #[test]
    fn short_decimals_come_out_as_serde_json_writes_them() {
        for (v, text) in [
            (12.5, "12.5"),
            (-12.5, "-12.5"),
            (3.0, "3.0"),
            (0.1, "0.1"),
            (0.25, "0.25"),
            (0.0001, "0.0001"),
            (1532.0, "1532.0"),
            (99_999_999_999_999.0, "99999999999999.0"),
            (123_456_789.125, "123456789.125"),
        ] {
            assert_eq!(ours(v).as_deref(), Some(text));
            assert_eq!(theirs(v), text);
        }
    }

    #[test]
    fn other_floats_are_left_to_serde_json() {
        for v in [
            0.0,
            -0.0,
            0.1 + 0.2,
            1.0 / 3.0,
            0.00005,
            1e15,
            1e300,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123_456_789.123_45,
            // 17 characters.
            999_999_999_999_999.0,
        ] {
            assert_eq!(ours(v), None, "{v:e}");
        }
    }

    #[test]
    fn the_neighbours_of_short_decimals_are_never_mistaken_for_them() {
        // The last ones scale past 2^50 at their first fraction digit.
        for v in [
            0.1f64,
            0.3,
            12.5,
            1e-4,
            0.0003,
            99.99,
            1e14 + 0.5,
            4.2e11,
            250_000_000_000_000.3,
            999_999_999_999_999.9,
        ] {
            for neighbour in [v.next_down(), v.next_up()] {
                agrees(neighbour).unwrap();
                agrees(-neighbour).unwrap();
            }
        }
    }

    proptest! {
        #[test]
        fn decimals_with_up_to_six_places_agree_with_serde_json(
            units in -1_000_000_000_000_000_000i64..1_000_000_000_000_000_000,
            places in 0u32..7,
        ) {
            let v = units as f64 / 10f64.powi(places as i32);
            agrees(v)?;
            agrees(v.next_up())?;
            agrees(v.next_down())?;
        }

        #[test]
        fn any_float_agrees_with_serde_json(bits in any::<u64>()) {
            agrees(f64::from_bits(bits))?;
        }
    }
}
