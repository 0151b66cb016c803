//! Resource quantities (`resource.Quantity`): parsing, comparison and the canonical `String()`
//! form that Kubernetes prints in messages such as `must be less than or equal to cpu limit of 500m`.
//!
//! Values are held exactly in nano-units (i128), which covers every suffix from `n` to `E`;
//! finer fractions round up to 1n as Kubernetes does. This module does not decide what is a
//! valid resource; `pod_spec.rs` does.

use std::cmp::Ordering;

/// The decode error Kubernetes gives for a malformed quantity.
pub const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

/// Ceiling division for a positive divisor (rounds away from zero for positives, as
/// Kubernetes rounds quantities up when it drops precision).
fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d != 0 && n > 0 { q + 1 } else { q }
}

impl Quantity {
    /// Parses `500m`, `1.5Gi`, `1e3`, `+2`, `-1`.
    pub fn parse(s: &str) -> Option<Quantity> {
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().all(|c| c.is_ascii_digit())
            || !frac_part.bytes().all(|c| c.is_ascii_digit())
            || int_part.len() + frac_part.len() > 30
        {
            return None;
        }
        let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
        let frac_len = i32::try_from(frac_part.len()).ok()?;
        let (format, nanos) = match suffix {
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match suffix {
                    "Ki" => 1,
                    "Mi" => 2,
                    "Gi" => 3,
                    "Ti" => 4,
                    "Pi" => 5,
                    _ => 6,
                };
                let scaled = mantissa.checked_mul(1i128 << (10 * power))?.checked_mul(NANO)?;
                (Format::BinarySI, div_ceil(scaled, pow10(frac_len.unsigned_abs())?))
            }
            _ => {
                let (format, exp) = match suffix {
                    "" => (Format::DecimalSI, 0),
                    "n" => (Format::DecimalSI, -9),
                    "u" => (Format::DecimalSI, -6),
                    "m" => (Format::DecimalSI, -3),
                    "k" => (Format::DecimalSI, 3),
                    "M" => (Format::DecimalSI, 6),
                    "G" => (Format::DecimalSI, 9),
                    "T" => (Format::DecimalSI, 12),
                    "P" => (Format::DecimalSI, 15),
                    "E" => (Format::DecimalSI, 18),
                    other => {
                        let rest = other.strip_prefix(['e', 'E'])?;
                        let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
                        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > 3 {
                            return None;
                        }
                        (Format::DecimalExponent, rest.parse::<i32>().ok()?)
                    }
                };
                let shift = exp + 9 - frac_len;
                let nanos = if shift >= 0 {
                    mantissa.checked_mul(pow10(shift.unsigned_abs())?)?
                } else {
                    match pow10(shift.unsigned_abs()) {
                        Some(d) => div_ceil(mantissa, d),
                        None => i128::from(mantissa > 0),
                    }
                };
                (format, nanos)
            }
        };
        Some(Quantity { nanos: if negative { -nanos } else { nanos }, format })
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Whether the value is a whole number (`MilliValue() % 1000 == 0`).
    pub fn is_integer(&self) -> bool {
        self.nanos % NANO == 0
    }

    pub fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }

    /// The canonical form, as `Quantity.String()` prints it.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySI && (self.nanos.abs() < 1024 * NANO || !self.is_integer()) {
            // Kubernetes shows small or fractional binary values in decimal rather than round.
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let mut value = self.nanos / NANO;
            let mut power = 0;
            while power < 6 && value % 1024 == 0 {
                value /= 1024;
                power += 1;
            }
            return format!("{value}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power]);
        }
        // The largest exponent, a multiple of 3 from -9 to 18, that keeps the mantissa whole.
        let mut exp: i32 = -9;
        let mut mantissa = self.nanos;
        while exp < 18 && mantissa % 1000 == 0 {
            mantissa /= 1000;
            exp += 3;
        }
        let suffix = match format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            _ => match exp {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                _ => "E",
            }
            .to_string(),
        };
        format!("{mantissa}{suffix}")
    }
}

/// Reads a quantity from JSON, where it is a string or (leniently) a number.
pub fn from_value(value: &serde_json::Value) -> Option<Quantity> {
    match value {
        serde_json::Value::String(s) => Quantity::parse(s),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).map(|q| q.canonical()).unwrap_or_else(|| "ERR".to_string())
    }

    #[test]
    fn canonical_forms_match_kubernetes() {
        let cases = [
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1500", "1500"),
            ("2000", "2k"),
            ("1.5Gi", "1536Mi"),
            ("1024", "1024"),
            ("1Gi", "1Gi"),
            ("512", "512"),
            ("100Mi", "100Mi"),
            ("1e3", "1e3"),
            ("0", "0"),
            ("-1", "-1"),
            ("+2", "2"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
            ("0.1", "100m"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "abc", "1.2.3", "1x", "--1", "1Ki1", "."] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn compares_across_suffixes() {
        let a = Quantity::parse("1Gi").unwrap();
        let b = Quantity::parse("1G").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Greater);
        assert_eq!(Quantity::parse("1").unwrap().cmp(&Quantity::parse("1000m").unwrap()), Ordering::Equal);
        assert!(Quantity::parse("-1").unwrap().is_negative());
        assert!(!Quantity::parse("1.5").unwrap().is_integer());
    }
}
