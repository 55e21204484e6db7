//! Money: integer minor units plus an ISO 4217 currency. Never a float; arithmetic is checked.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Why a money value or a money operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not three uppercase ASCII letters.
    #[error("currency must be three uppercase letters (iso 4217)")]
    InvalidCurrency,
    /// The two operands carry different currencies.
    #[error("mixed currencies: {left} and {right}")]
    MixedCurrencies {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("amount overflow")]
    Overflow,
}

/// An ISO 4217 alphabetic currency code, such as `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Digits after the decimal point of its minor unit (ISO 4217): 0 for the yen, the won
    /// and the others without a minor unit, 3 for the dinars of Bahrain, Iraq, Jordan, Kuwait,
    /// Libya and Tunisia and the rial of Oman, 2 for every other code.
    pub fn minor_digits(self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            _ => 2,
        }
    }

    /// The euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// The US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// The pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parses a code of exactly three uppercase ASCII letters.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(MoneyError::InvalidCurrency),
        }
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// An amount in the minor unit of its currency (cents for EUR), serialized as
/// `{"amount": 1234, "currency": "EUR"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units; may be negative as the result of a subtraction.
    #[serde(rename = "amount")]
    pub amount_minor: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// The amount as a person reads it, in major units: `49.98 EUR`, `1200 JPY`, `-0.50 EUR`.
    pub fn shown(&self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let minor = self.amount_minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{minor} {}", self.currency);
        }
        let unit = 10u64.pow(digits);
        let width = digits as usize;
        format!(
            "{sign}{}.{:0width$} {}",
            minor / unit,
            minor % unit,
            self.currency
        )
    }

    /// The largest amount an order's total or a payment may be: 10^15 minor units (ten
    /// trillion euros), so that sums over many of them (a year's daily sales) stay far from
    /// overflowing.
    pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

    /// Builds an amount of `amount_minor` minor units of `currency`.
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// True when the amount is above zero.
    pub const fn is_positive(&self) -> bool {
        self.amount_minor > 0
    }

    /// True when the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.amount_minor == 0
    }

    /// Adds `other`, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Subtracts `other`, refusing mixed currencies and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount_minor
            .checked_sub(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Multiplies by a whole quantity, refusing overflow.
    pub fn checked_mul(self, factor: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount_minor
            .checked_mul(i64::from(factor))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Sums `items` in `currency`, refusing mixed currencies and overflow.
    pub fn checked_sum(
        currency: Currency,
        items: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::MixedCurrencies {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.amount_minor, self.currency)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn amounts_are_shown_in_major_units_with_their_currency_digits() {
        let shown = |amount: i64, code: &str| {
            super::Money::new(
                amount,
                super::Currency::parse(code).unwrap_or(super::Currency::EUR),
            )
            .shown()
        };
        assert_eq!(shown(4_998, "EUR"), "49.98 EUR");
        assert_eq!(shown(5, "USD"), "0.05 USD");
        assert_eq!(shown(-50, "EUR"), "-0.50 EUR");
        assert_eq!(shown(1_200, "JPY"), "1200 JPY");
        assert_eq!(shown(12_345, "KWD"), "12.345 KWD");
        assert_eq!(shown(i64::MIN, "EUR"), "-92233720368547758.08 EUR");
    }

    use serde_json::json;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn a_currency_is_three_uppercase_letters() {
        assert_eq!(Currency::parse("EUR"), Ok(Currency::EUR));
        for bad in ["eur", "EU", "EURO", "", "E1R", "ÉUR"] {
            assert_eq!(
                Currency::parse(bad),
                Err(MoneyError::InvalidCurrency),
                "{bad}"
            );
        }
    }

    #[test]
    fn adding_and_subtracting_the_same_currency_works() {
        assert_eq!(eur(1_000).checked_add(eur(234)), Ok(eur(1_234)));
        assert_eq!(eur(1_000).checked_sub(eur(1_234)), Ok(eur(-234)));
        assert_eq!(eur(250).checked_mul(3), Ok(eur(750)));
        assert_eq!(
            Money::checked_sum(Currency::EUR, [eur(1), eur(2)]),
            Ok(eur(3))
        );
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let usd = Money::new(100, Currency::USD);
        let mixed = MoneyError::MixedCurrencies {
            left: Currency::EUR,
            right: Currency::USD,
        };
        assert_eq!(eur(100).checked_add(usd), Err(mixed.clone()));
        assert_eq!(eur(100).checked_sub(usd), Err(mixed));
        assert!(Money::checked_sum(Currency::EUR, [eur(1), usd]).is_err());
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).checked_sub(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn money_serializes_as_amount_and_currency() {
        let value = serde_json::to_value(eur(1_234)).unwrap();
        assert_eq!(value, json!({"amount": 1234, "currency": "EUR"}));
        let back: Money = serde_json::from_value(value).unwrap();
        assert_eq!(back, eur(1_234));
    }

    #[test]
    fn deserializing_money_validates_the_currency_and_refuses_floats() {
        assert!(serde_json::from_value::<Money>(json!({"amount": 1, "currency": "eur"})).is_err());
        assert!(
            serde_json::from_value::<Money>(json!({"amount": 1.5, "currency": "EUR"})).is_err()
        );
    }
}
