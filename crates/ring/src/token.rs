//! Tokens on the Murmur3 ring and the ranges between them.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A position on Cassandra's Murmur3 ring: a signed 64-bit integer, ordered as a signed integer.
///
/// The string form is the decimal integer (`"-9223372036854775808"`), as Cassandra writes tokens
/// in `system.local`, `system.peers` and `nodetool ring`, and as drivers parse them.
///
/// [`Token::MIN`] is the ring's minimum: no key ever hashes to it (the partitioner maps a hash of
/// `i64::MIN` to [`Token::MAX`]), so a range `(MIN, t]` holds every key token up to `t`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Token(i64);

impl Token {
    /// The minimum token (`Long.MIN_VALUE`), Cassandra's `Murmur3Partitioner.MINIMUM`.
    pub const MIN: Token = Token(i64::MIN);
    /// The maximum token (`Long.MAX_VALUE`).
    pub const MAX: Token = Token(i64::MAX);

    /// The token with this value.
    pub const fn new(value: i64) -> Self {
        Token(value)
    }

    /// The token's value.
    pub const fn value(self) -> i64 {
        self.0
    }

    /// Number of ring positions in the range `(self, next]`, walking clockwise (upwards, wrapping
    /// from `MAX` to `MIN`). `(t, t]` is the whole ring: 2^64 positions.
    pub fn distance_to(self, next: Token) -> u128 {
        match next.0.wrapping_sub(self.0) as u64 {
            0 => 1u128 << 64,
            d => u128::from(d),
        }
    }

    /// The fraction of the ring in `(self, next]`, in `(0, 1]`: Cassandra's `LongToken.size`,
    /// where `t.size(t) == 1`.
    pub fn size_to(self, next: Token) -> f64 {
        self.distance_to(next) as f64 / 18_446_744_073_709_551_616.0
    }

    /// The token halfway along `(self, right]`, wrapping past `MAX` when `right <= self`, with
    /// exactly the arithmetic of Cassandra's `Murmur3Partitioner.midpoint` (so that both pick
    /// the same split points): `(l + r) >> 1` when `l < r`, else `(MAX - MIN + l + r) >> 1`,
    /// brought back into range by `MIN + (m - MAX)` when it passes `MAX`. That formula counts the
    /// ring as `2^64 - 1` tokens, so for a wrapping range at most 2 tokens wide the result is
    /// `self`, outside the range; every wider range contains its midpoint.
    pub fn midpoint(self, right: Token) -> Token {
        let (l, r) = (i128::from(self.0), i128::from(right.0));
        let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
        let m = if l < r {
            (l + r) >> 1
        } else {
            let m = (max - min + l + r) >> 1;
            if m > max { min + (m - max) } else { m }
        };
        // Every branch lands in [MIN, MAX].
        Token(i64::try_from(m).unwrap_or(i64::MAX))
    }

    /// The token `steps` positions clockwise of this one, wrapping from `MAX` to `MIN`.
    pub fn wrapping_add(self, steps: u64) -> Token {
        Token(self.0.wrapping_add(steps as i64))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Token {
    type Err = Error;

    /// Parses Cassandra's string form: a decimal `i64` (`Long.parseLong`: optional sign, no
    /// spaces).
    fn from_str(s: &str) -> Result<Self, Error> {
        s.parse::<i64>()
            .map(Token)
            .map_err(|_| Error::InvalidToken {
                input: s.to_owned(),
            })
    }
}

impl From<i64> for Token {
    fn from(value: i64) -> Self {
        Token(value)
    }
}

impl From<Token> for i64 {
    fn from(token: Token) -> Self {
        token.0
    }
}

/// A range of the ring `(left, right]`, open on the left and closed on the right, as Cassandra's
/// `Range<Token>`. When `left >= right` the range wraps around past `MAX` to `MIN`; `(t, t]` is
/// the whole ring.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenRange {
    /// Exclusive start.
    pub left: Token,
    /// Inclusive end.
    pub right: Token,
}

impl TokenRange {
    /// The range `(left, right]`.
    pub const fn new(left: Token, right: Token) -> Self {
        TokenRange { left, right }
    }

    /// Whether the range wraps past the end of the ring (`left >= right`), as Cassandra's
    /// `Range.isWrapAround`.
    pub fn is_wrap_around(&self) -> bool {
        self.left >= self.right
    }

    /// Whether `token` lies in `(left, right]`, as Cassandra's `Range.contains`.
    pub fn contains(&self, token: Token) -> bool {
        if self.is_wrap_around() {
            token > self.left || token <= self.right
        } else {
            token > self.left && token <= self.right
        }
    }

    /// The fraction of the ring the range covers, in `(0, 1]`.
    pub fn size(&self) -> f64 {
        self.left.size_to(self.right)
    }

    /// Number of ring positions in the range (2^64 for the whole ring).
    pub fn width(&self) -> u128 {
        self.left.distance_to(self.right)
    }

    /// Splits a wrapping range at the ring's minimum into at most two non-wrapping ranges, as
    /// Cassandra's `Range.unwrap`: `(l, r]` with `l >= r` becomes `(l, MIN]` and `(MIN, r]`,
    /// where a right bound of `MIN` means "to the end of the ring".
    pub fn unwrap(&self) -> (TokenRange, Option<TokenRange>) {
        if !self.is_wrap_around() || self.right == Token::MIN {
            (*self, None)
        } else {
            (
                TokenRange::new(self.left, Token::MIN),
                Some(TokenRange::new(Token::MIN, self.right)),
            )
        }
    }
}

impl fmt::Display for TokenRange {
    /// Cassandra's `Range.toString`: `(left,right]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{}]", self.left, self.right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_string_form_is_the_decimal_value_and_round_trips() {
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            let t = Token::new(v);
            assert_eq!(t.to_string(), v.to_string());
            assert_eq!(t.to_string().parse::<Token>().unwrap(), t);
        }
        assert_eq!(Token::MIN.to_string(), "-9223372036854775808");
    }

    #[test]
    fn malformed_token_strings_are_rejected() {
        for bad in ["", " 1", "1.5", "9223372036854775808", "abc", "0x10"] {
            assert!(
                matches!(bad.parse::<Token>(), Err(Error::InvalidToken { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tokens_order_as_signed_integers() {
        assert!(Token::MIN < Token::new(-1));
        assert!(Token::new(-1) < Token::new(0));
        assert!(Token::new(0) < Token::MAX);
    }

    #[test]
    fn distance_wraps_and_a_token_to_itself_is_the_whole_ring() {
        assert_eq!(Token::new(0).distance_to(Token::new(10)), 10);
        assert_eq!(Token::MAX.distance_to(Token::MIN), 1);
        assert_eq!(Token::new(5).distance_to(Token::new(5)), 1u128 << 64);
        assert_eq!(
            Token::new(10).distance_to(Token::new(0)),
            (1u128 << 64) - 10
        );
        assert_eq!(Token::new(7).size_to(Token::new(7)), 1.0);
    }

    #[test]
    fn midpoint_matches_cassandra_including_the_wrapping_case() {
        assert_eq!(Token::new(0).midpoint(Token::new(10)), Token::new(5));
        assert_eq!(Token::new(-10).midpoint(Token::new(10)), Token::new(0));
        assert_eq!(Token::new(-3).midpoint(Token::new(0)), Token::new(-2));
        // Wrapping, values worked out by hand from Cassandra's BigInteger formula.
        assert_eq!(
            Token::new(i64::MAX - 10).midpoint(Token::new(i64::MIN + 10)),
            Token::MAX
        );
        assert_eq!(
            Token::new(i64::MAX - 10).midpoint(Token::new(i64::MIN + 14)),
            Token::new(i64::MIN + 2)
        );
        assert_eq!(Token::MIN.midpoint(Token::MIN), Token::new(-1));
        assert_eq!(
            Token::new(10).midpoint(Token::new(0)),
            Token::new(i64::MIN + 5)
        );
    }

    #[test]
    fn midpoint_of_a_two_wide_wrapping_range_is_its_left_bound_as_in_cassandra() {
        // Found by the token_ranges property test (seed 4): Cassandra's formula
        // (MAX - MIN + l + r) >> 1 gives MAX - 1 for (MAX - 1, MIN]; we keep its arithmetic.
        assert_eq!(
            Token::new(i64::MAX - 1).midpoint(Token::MIN),
            Token::new(i64::MAX - 1)
        );
        assert_eq!(Token::MAX.midpoint(Token::MIN), Token::MAX);
    }

    #[test]
    fn range_contains_follows_open_left_closed_right_and_wraps() {
        let r = TokenRange::new(Token::new(0), Token::new(10));
        assert!(!r.contains(Token::new(0)));
        assert!(r.contains(Token::new(1)));
        assert!(r.contains(Token::new(10)));
        assert!(!r.contains(Token::new(11)));

        let w = TokenRange::new(Token::new(10), Token::new(0));
        assert!(w.is_wrap_around());
        assert!(w.contains(Token::MAX));
        assert!(w.contains(Token::MIN));
        assert!(w.contains(Token::new(0)));
        assert!(!w.contains(Token::new(5)));
        assert!(!w.contains(Token::new(10)));

        let whole = TokenRange::new(Token::new(3), Token::new(3));
        for t in [Token::MIN, Token::new(3), Token::new(4), Token::MAX] {
            assert!(whole.contains(t));
        }
    }

    #[test]
    fn unwrap_splits_a_wrapping_range_at_the_minimum() {
        let w = TokenRange::new(Token::new(10), Token::new(0));
        let (a, b) = w.unwrap();
        assert_eq!(a, TokenRange::new(Token::new(10), Token::MIN));
        assert_eq!(b, Some(TokenRange::new(Token::MIN, Token::new(0))));
        let plain = TokenRange::new(Token::new(0), Token::new(10));
        assert_eq!(plain.unwrap(), (plain, None));
        assert_eq!(w.to_string(), "(10,0]");
    }
}
