//! Floats as their IEEE 754 bits in files that must round-trip exactly (a shard's partial
//! result): a sum merged from a file must be the very `f64` the shard held, or a merged report
//! would differ from the one-process run in its last digit.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(x.to_bits())
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = f64::from_bits(u64::deserialize(d)?);
    if x.is_finite() {
        Ok(x)
    } else {
        Err(serde::de::Error::custom("a float that is not finite; allowed finite values"))
    }
}

/// The same for figures that later become a `Duration` or are summed over up to 4,096 shards:
/// read back only from 0 to 10^15.
pub mod bounded {
    use serde::{Deserializer, Serializer};

    const MAX: f64 = 1e15;

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        super::serialize(x, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let x = super::deserialize(d)?;
        if (0.0..MAX).contains(&x) {
            Ok(x)
        } else {
            Err(serde::de::Error::custom(format!("{x}; allowed 0 <= x < {MAX:e}")))
        }
    }
}
