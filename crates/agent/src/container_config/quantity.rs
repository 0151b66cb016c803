//! Just enough of `resource.Quantity` for the node: parse `500m`, `1.5Gi`, `1e3` and read it as
//! `Value()` or `MilliValue()`, both rounded up as Kubernetes rounds.
//!
//! (The `api` crate has a full implementation behind its validation module; it is private, so
//! this small reader keeps the agent independent of validation internals.)

/// A parsed quantity, exactly, in nano-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity {
    nanos: i128,
}

const NANO: i128 = 1_000_000_000;

fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d != 0 && (n > 0) == (d > 0) { q + 1 } else { q }
}

impl Quantity {
    pub fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let split =
            text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|c| c.is_ascii_digit())
            || !frac_part.bytes().all(|c| c.is_ascii_digit())
            || int_part.len() + frac_part.len() > 30
        {
            return None;
        }
        let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
        let frac_len = u32::try_from(frac_part.len()).ok()?;
        let binary = |power: u32| -> Option<i128> {
            let scaled = mantissa.checked_mul(1i128 << (10 * power))?.checked_mul(NANO)?;
            Some(div_ceil(scaled, 10i128.checked_pow(frac_len)?))
        };
        let nanos = match suffix {
            "Ki" => binary(1)?,
            "Mi" => binary(2)?,
            "Gi" => binary(3)?,
            "Ti" => binary(4)?,
            "Pi" => binary(5)?,
            "Ei" => binary(6)?,
            _ => {
                let exp: i32 = match suffix {
                    "" => 0,
                    "n" => -9,
                    "u" => -6,
                    "m" => -3,
                    "k" => 3,
                    "M" => 6,
                    "G" => 9,
                    "T" => 12,
                    "P" => 15,
                    "E" => 18,
                    other => {
                        let rest = other.strip_prefix(['e', 'E'])?;
                        let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
                        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                            return None;
                        }
                        rest.parse().ok()?
                    }
                };
                let shift = exp + 9 - i32::try_from(frac_len).ok()?;
                if shift >= 0 {
                    mantissa.checked_mul(10i128.checked_pow(shift.unsigned_abs())?)?
                } else {
                    match 10i128.checked_pow(shift.unsigned_abs()) {
                        Some(d) => div_ceil(mantissa, d),
                        None => i128::from(mantissa > 0),
                    }
                }
            }
        };
        Some(Quantity { nanos: if negative { -nanos } else { nanos } })
    }

    /// `Value()`: whole units, rounded up.
    pub fn value(&self) -> i64 {
        saturate(div_ceil(self.nanos, NANO))
    }

    /// `MilliValue()`: thousandths, rounded up.
    pub fn milli_value(&self) -> i64 {
        saturate(div_ceil(self.nanos, NANO / 1000))
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn from_value(value: i64) -> Quantity {
        Quantity { nanos: i128::from(value) * NANO }
    }

    pub fn from_milli(milli: i64) -> Quantity {
        Quantity { nanos: i128::from(milli) * (NANO / 1000) }
    }
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}
