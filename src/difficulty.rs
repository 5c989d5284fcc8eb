//! The one definition of negative difficulty, ranks and bands (docs/DESIGN.md §2).
//!
//! Both the trainer and the analyses select negatives through this module, so
//! that "hardest 5 %" means the same set everywhere:
//!
//! * the difficulty of negative `j` for a query is its score `s_j = q·n_j`;
//! * the rank `k_j ∈ 0..M` orders the M negatives of one query by score
//!   ascending, ties broken by the lower negative index first (0 = easiest);
//! * a band `[lo, hi)` in percent holds the negatives with
//!   `floor(lo·M/100) ≤ k_j < floor(hi·M/100)`.
//!
//! Band edges are kept as exact decimals (millionths of a percent) rather than
//! `f64`, because `floor(lo·M/100)` is discontinuous: `99.9` or `4.35` stored
//! as binary floats can land one rank off when `lo·M/100` is an integer.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

/// Percent edges parsed from text carry at most 6 decimal places.
const MICRO: u64 = 1_000_000;
const HUNDRED_PERCENT: u64 = 100 * MICRO;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// An exact fraction of the negatives, `num/den` in `[0, 1]`, kept reduced
/// so that equal edges compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Fraction {
    num: u64,
    den: u64,
}

impl Fraction {
    fn new(num: u64, den: u64) -> Fraction {
        let g = gcd(num, den).max(1);
        Fraction {
            num: num / g,
            den: den / g,
        }
    }

    fn less_than(self, other: Fraction) -> bool {
        (self.num as u128) * (other.den as u128) < (other.num as u128) * (self.den as u128)
    }

    /// `floor(self · m)` in exact integer arithmetic.
    fn floor_times(self, m: usize) -> usize {
        (self.num as u128 * m as u128 / self.den as u128) as usize
    }

    fn percent(self) -> f64 {
        100.0 * self.num as f64 / self.den as f64
    }
}

/// Orders (score, index) pairs the way ranks do: by score, then by index.
///
/// `-0.0` and `+0.0` are the same score (so they tie and fall back to the
/// index); NaN never reaches here from validated inputs, and `total_cmp`
/// keeps the order total if it does.
#[inline]
pub fn easier(a_score: f32, a_index: usize, b_score: f32, b_index: usize) -> Ordering {
    canonical(a_score)
        .total_cmp(&canonical(b_score))
        .then(a_index.cmp(&b_index))
}

#[inline]
fn canonical(s: f32) -> f32 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// Ranks of one query's negatives: `ranks[j] = k_j` (0 = easiest).
pub fn ranks(scores: &[f32]) -> Vec<u32> {
    let order = order_easiest_first(scores);
    let mut ranks = vec![0u32; scores.len()];
    for (k, &j) in order.iter().enumerate() {
        ranks[j as usize] = k as u32;
    }
    ranks
}

/// Negative indices sorted from easiest to hardest (a full sort; use
/// [`BandThresholds`] when only band membership is needed).
pub fn order_easiest_first(scores: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        easier(
            scores[a as usize],
            a as usize,
            scores[b as usize],
            b as usize,
        )
    });
    order
}

/// A difficulty band `[lo, hi)` in percent of one query's negatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Band {
    lo: Fraction,
    hi: Fraction,
}

impl Band {
    /// A band from percentages; they are rounded to 1e-6 percent.
    pub fn new(lo: f64, hi: f64) -> Result<Band, String> {
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(format!("band edges must be finite, got ({lo}, {hi})"));
        }
        if lo < 0.0 || hi > 100.0 {
            return Err(format!("band edges must lie in [0, 100], got ({lo}, {hi})"));
        }
        Band::from_micro(
            (lo * MICRO as f64).round() as u64,
            (hi * MICRO as f64).round() as u64,
        )
    }

    /// A band from exact edges in millionths of a percent.
    pub fn from_micro(lo_micro: u64, hi_micro: u64) -> Result<Band, String> {
        Band::from_fractions(
            Fraction::new(lo_micro, HUNDRED_PERCENT),
            Fraction::new(hi_micro, HUNDRED_PERCENT),
        )
    }

    fn from_fractions(lo: Fraction, hi: Fraction) -> Result<Band, String> {
        if hi.num > hi.den {
            return Err(format!("band upper edge {} exceeds 100", hi.percent()));
        }
        if !lo.less_than(hi) {
            return Err(format!(
                "band needs lo < hi, got ({}, {})",
                lo.percent(),
                hi.percent()
            ));
        }
        Ok(Band { lo, hi })
    }

    /// Bin `b` of `bins` equal percentile bins: `[100·b/B, 100·(b+1)/B)`, exact.
    pub fn bin(b: usize, bins: usize) -> Result<Band, String> {
        if bins == 0 || b >= bins {
            return Err(format!("bin {b} out of range for {bins} bins"));
        }
        Band::from_fractions(
            Fraction::new(b as u64, bins as u64),
            Fraction::new(b as u64 + 1, bins as u64),
        )
    }

    /// Lower edge in percent.
    pub fn lo(&self) -> f64 {
        self.lo.percent()
    }

    /// Upper edge in percent.
    pub fn hi(&self) -> f64 {
        self.hi.percent()
    }

    /// The ranks `floor(lo·M/100) .. floor(hi·M/100)` this band holds among M negatives.
    pub fn rank_range(&self, m: usize) -> Range<usize> {
        self.lo.floor_times(m)..self.hi.floor_times(m)
    }
}

/// Formats a percentage with up to 6 decimals and no trailing zeros.
fn fmt_percent(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "band({},{})",
            fmt_percent(self.lo()),
            fmt_percent(self.hi())
        )
    }
}

/// The (score, index) keys that bound a band for one query: a negative is in
/// the band iff `lower ≤ key < upper` in [`easier`] order. Found with
/// selection (O(M) per edge) instead of a full sort.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandThresholds {
    /// [`rank_key`] of the negative at rank `floor(lo·M/100)`; `None` = below everything.
    lower: Option<u64>,
    /// [`rank_key`] of the negative at rank `floor(hi·M/100)`; `None` = above everything.
    upper: Option<u64>,
}

/// (score, index) packed into one integer whose order is exactly
/// [`easier`]'s: the score's bits mapped as `f32::total_cmp` orders them
/// (after −0 → +0) in the high half, the index in the low half. Selecting
/// on these keys compares integers instead of chasing indices into the
/// scores, several times faster for a 65 536-negative row.
#[inline]
pub fn rank_key(score: f32, index: usize) -> u64 {
    let bits = canonical(score).to_bits() as i32;
    // total_cmp's transform: flip the magnitude bits of negatives...
    let ordered = bits ^ ((((bits >> 31) as u32) >> 1) as i32);
    // ...then shift the signed order to unsigned.
    let unsigned = (ordered as u32) ^ 0x8000_0000;
    (u64::from(unsigned) << 32) | index as u64
}

impl BandThresholds {
    /// Thresholds of `band` for one query's `scores` (at most 2³² of them).
    /// `scratch` is reused between calls to avoid allocation.
    pub fn find(band: Band, scores: &[f32], scratch: &mut Vec<u64>) -> BandThresholds {
        let m = scores.len();
        let range = band.rank_range(m);
        let lower_rank = (range.start > 0).then_some(range.start);
        let upper_rank = (range.end < m).then_some(range.end);
        if lower_rank.is_none() && upper_rank.is_none() {
            return BandThresholds {
                lower: None,
                upper: None,
            };
        }
        scratch.clear();
        scratch.extend(scores.iter().enumerate().map(|(j, &s)| rank_key(s, j)));
        let lower = lower_rank.map(|r| *scratch.select_nth_unstable(r).1);
        let upper = upper_rank.map(|r| match lower_rank {
            // Everything after the lower edge is already at or above it.
            Some(lo) if r > lo => *scratch[lo + 1..].select_nth_unstable(r - lo - 1).1,
            _ => *scratch.select_nth_unstable(r).1,
        });
        BandThresholds { lower, upper }
    }

    /// Whether negative `j` with score `s` lies in the band.
    #[inline]
    pub fn contains(&self, s: f32, j: usize) -> bool {
        self.contains_key(rank_key(s, j))
    }

    /// Whether the negative with this [`rank_key`] lies in the band.
    #[inline]
    pub fn contains_key(&self, key: u64) -> bool {
        self.lower.is_none_or(|l| key >= l) && self.upper.is_none_or(|u| key < u)
    }
}

/// A set of negatives, as written in `--keep`/`--drop` and analysis flags.
///
/// Grammar (whitespace ignored; `!` binds tighter than `&`, `&` than `|`):
/// ```text
/// expr    := and ('|' and)*
/// and     := unary ('&' unary)*
/// unary   := '!' unary | primary
/// primary := 'band' '(' number ',' number ')' | 'same_class' | 'all' | '(' expr ')'
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NegativeSet {
    All,
    Band(Band),
    SameClass,
    Not(Box<NegativeSet>),
    And(Box<NegativeSet>, Box<NegativeSet>),
    Or(Box<NegativeSet>, Box<NegativeSet>),
}

impl fmt::Display for NegativeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parenthesise exactly where the grammar's precedence and left
        // associativity would otherwise regroup the operands, so the text
        // re-parses to the same tree.
        let wrap = |e: &NegativeSet, f: &mut fmt::Formatter<'_>, when: bool| {
            if when {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        let is_or = |e: &NegativeSet| matches!(e, NegativeSet::Or(..));
        let is_binary = |e: &NegativeSet| matches!(e, NegativeSet::Or(..) | NegativeSet::And(..));
        match self {
            NegativeSet::All => write!(f, "all"),
            NegativeSet::Band(b) => write!(f, "{b}"),
            NegativeSet::SameClass => write!(f, "same_class"),
            NegativeSet::Not(e) => {
                write!(f, "!")?;
                wrap(e, f, is_binary(e))
            }
            NegativeSet::And(a, b) => {
                wrap(a, f, is_or(a))?;
                write!(f, " & ")?;
                wrap(b, f, is_binary(b))
            }
            NegativeSet::Or(a, b) => {
                write!(f, "{a} | ")?;
                wrap(b, f, is_or(b))
            }
        }
    }
}

/// A parse error with the 1-based column it refers to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}\n  {source_text}\n  {caret}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
    source_text: String,
    caret: String,
}

impl std::str::FromStr for NegativeSet {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NegativeSet::parse(s)
    }
}

impl NegativeSet {
    /// Parses an expression such as `band(99.9,100) & !same_class`.
    pub fn parse(text: &str) -> Result<NegativeSet, ParseError> {
        let mut p = Parser {
            text,
            chars: text.char_indices().collect(),
            pos: 0,
            depth: 0,
            operators: 0,
        };
        let expr = p.expr()?;
        p.skip_ws();
        if p.pos < p.chars.len() {
            return Err(p.error(format!("unexpected '{}'", p.chars[p.pos].1)));
        }
        Ok(expr)
    }

    /// Whether the expression needs the negatives' labels.
    pub fn uses_labels(&self) -> bool {
        match self {
            NegativeSet::SameClass => true,
            NegativeSet::All | NegativeSet::Band(_) => false,
            NegativeSet::Not(e) => e.uses_labels(),
            NegativeSet::And(a, b) | NegativeSet::Or(a, b) => a.uses_labels() || b.uses_labels(),
        }
    }

    /// Whether the negative at rank `k` of `m` (0 = easiest) is in the set,
    /// given whether it shares the query's class.
    pub fn contains_rank(&self, k: usize, m: usize, same_class: bool) -> bool {
        match self {
            NegativeSet::All => true,
            NegativeSet::SameClass => same_class,
            NegativeSet::Band(b) => b.rank_range(m).contains(&k),
            NegativeSet::Not(e) => !e.contains_rank(k, m, same_class),
            NegativeSet::And(a, b) => {
                a.contains_rank(k, m, same_class) && b.contains_rank(k, m, same_class)
            }
            NegativeSet::Or(a, b) => {
                a.contains_rank(k, m, same_class) || b.contains_rank(k, m, same_class)
            }
        }
    }

    /// Whether the set holds no negative of any query with `m` negatives,
    /// whatever the scores and labels (e.g. `!all`, `band(0,0.5)` of 100,
    /// `same_class & !same_class`).
    pub fn always_empty(&self, m: usize) -> bool {
        !(0..m).any(|k| self.contains_rank(k, m, false) || self.contains_rank(k, m, true))
    }

    /// Whether the set holds every negative of every query with `m` negatives.
    pub fn always_everything(&self, m: usize) -> bool {
        (0..m).all(|k| self.contains_rank(k, m, false) && self.contains_rank(k, m, true))
    }

    /// The set a fraction `f` of the way from `self` to `to`: every band's
    /// edges moved linearly (to 1e-6 percent), everything else kept. The
    /// two must have the same shape — the same tree, bands in the same
    /// places — which is what a schedule of band edges means; `f` = 0
    /// gives `self` exactly.
    pub fn towards(&self, to: &NegativeSet, f: f64) -> Result<NegativeSet, String> {
        use NegativeSet as S;
        let pair = |a: &NegativeSet, b: &NegativeSet| a.towards(b, f).map(Box::new);
        Ok(match (self, to) {
            _ if f == 0.0 && self.same_shape(to) => self.clone(),
            (S::All, S::All) => S::All,
            (S::SameClass, S::SameClass) => S::SameClass,
            (S::Band(a), S::Band(b)) => {
                let at = |x: f64, y: f64| x + f * (y - x);
                S::Band(Band::new(at(a.lo(), b.lo()), at(a.hi(), b.hi()))?)
            }
            (S::Not(a), S::Not(b)) => S::Not(pair(a, b)?),
            (S::And(a1, a2), S::And(b1, b2)) => S::And(pair(a1, b1)?, pair(a2, b2)?),
            (S::Or(a1, a2), S::Or(b1, b2)) => S::Or(pair(a1, b1)?, pair(a2, b2)?),
            _ => {
                return Err(format!(
                    "'{self}' and '{to}' differ in shape: a schedule moves band edges, so both need the same operators with bands in the same places"
                ))
            }
        })
    }

    /// Whether `other` is this tree with (maybe) other band edges.
    fn same_shape(&self, other: &NegativeSet) -> bool {
        use NegativeSet as S;
        match (self, other) {
            (S::All, S::All) | (S::SameClass, S::SameClass) | (S::Band(_), S::Band(_)) => true,
            (S::Not(a), S::Not(b)) => a.same_shape(b),
            (S::And(a1, a2), S::And(b1, b2)) | (S::Or(a1, a2), S::Or(b1, b2)) => {
                a1.same_shape(b1) && a2.same_shape(b2)
            }
            _ => false,
        }
    }

    /// The distinct bands the expression mentions, in first-use order.
    pub fn bands(&self) -> Vec<Band> {
        let mut out = Vec::new();
        self.collect_bands(&mut out);
        out
    }

    fn collect_bands(&self, out: &mut Vec<Band>) {
        match self {
            NegativeSet::Band(b) => {
                if !out.contains(b) {
                    out.push(*b)
                }
            }
            NegativeSet::All | NegativeSet::SameClass => {}
            NegativeSet::Not(e) => e.collect_bands(out),
            NegativeSet::And(a, b) | NegativeSet::Or(a, b) => {
                a.collect_bands(out);
                b.collect_bands(out);
            }
        }
    }
}

/// Deepest nesting of parentheses and `!` an expression may have. Every
/// walk over the tree is recursive, so an unbounded depth (a hostile
/// `((((…` or `!!!!…`) would overflow the stack; real filters nest 2–3 deep.
pub const MAX_DEPTH: usize = 64;
/// Most `&` / `|` operators an expression may have (each adds a level to the
/// tree's left spine, which the recursive walks also descend).
pub const MAX_OPERATORS: usize = 256;

struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    /// Current nesting of parentheses and `!`.
    depth: usize,
    /// `&` and `|` read so far.
    operators: usize,
}

impl Parser<'_> {
    fn error(&self, message: String) -> ParseError {
        let column = self.pos + 1;
        ParseError {
            column,
            message,
            source_text: self.text.to_string(),
            caret: format!("{}^", " ".repeat(self.pos)),
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].1.is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(self.error(format!("expected '{c}', found '{x}'"))),
            None => Err(self.error(format!("expected '{c}', found end of expression"))),
        }
    }

    /// Enters one level of nesting, failing past [`MAX_DEPTH`].
    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "the expression nests deeper than {MAX_DEPTH} levels of parentheses and '!'"
            )));
        }
        Ok(())
    }

    /// Counts one `&` or `|`, failing past [`MAX_OPERATORS`].
    fn operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error(format!(
                "the expression has more than {MAX_OPERATORS} '&' and '|' operators"
            )));
        }
        self.pos += 1;
        Ok(())
    }

    fn expr(&mut self) -> Result<NegativeSet, ParseError> {
        let mut left = self.and()?;
        while self.peek() == Some('|') {
            self.operator()?;
            let right = self.and()?;
            left = NegativeSet::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<NegativeSet, ParseError> {
        let mut left = self.unary()?;
        while self.peek() == Some('&') {
            self.operator()?;
            let right = self.unary()?;
            left = NegativeSet::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<NegativeSet, ParseError> {
        if self.peek() == Some('!') {
            self.nest()?;
            self.pos += 1;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(NegativeSet::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<NegativeSet, ParseError> {
        match self.peek() {
            Some('(') => {
                self.nest()?;
                self.pos += 1;
                let e = self.expr()?;
                self.expect(')')?;
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                let word = self.word();
                match word.as_str() {
                    "band" => self.band_args(start),
                    "same_class" => Ok(NegativeSet::SameClass),
                    "all" => Ok(NegativeSet::All),
                    _ => {
                        self.pos = start;
                        Err(self.error(format!(
                            "unknown name '{word}' (expected band(lo,hi), same_class or all)"
                        )))
                    }
                }
            }
            Some(c) => Err(self.error(format!(
                "expected band(lo,hi), same_class, all, '!' or '(', found '{c}'"
            ))),
            None => Err(self.error("expected a negative set, found end of expression".into())),
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(&(_, c)) = self.chars.get(self.pos) {
            if c.is_ascii_alphanumeric() || c == '_' {
                w.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        w
    }

    fn band_args(&mut self, start: usize) -> Result<NegativeSet, ParseError> {
        self.expect('(')?;
        let lo = self.percent()?;
        self.expect(',')?;
        let hi = self.percent()?;
        self.expect(')')?;
        Band::from_micro(lo, hi)
            .map(NegativeSet::Band)
            .map_err(|m| {
                self.pos = start;
                self.error(m)
            })
    }

    /// A decimal percentage with at most 6 fractional digits, parsed exactly.
    fn percent(&mut self) -> Result<u64, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let mut int: u64 = 0;
        let mut frac: u64 = 0;
        let mut frac_digits = 0u32;
        let mut seen_digit = false;
        let mut seen_dot = false;
        while let Some(&(_, c)) = self.chars.get(self.pos) {
            if let Some(d) = c.to_digit(10) {
                seen_digit = true;
                if seen_dot {
                    if frac_digits == 6 {
                        return Err(self.error("at most 6 decimal places are supported".into()));
                    }
                    frac = frac * 10 + d as u64;
                    frac_digits += 1;
                } else {
                    int = int.saturating_mul(10).saturating_add(d as u64);
                }
            } else if c == '.' && !seen_dot {
                seen_dot = true;
            } else {
                break;
            }
            self.pos += 1;
        }
        if !seen_digit {
            self.pos = start;
            return Err(self.error("expected a percentage between 0 and 100".into()));
        }
        let value = int
            .saturating_mul(MICRO)
            .saturating_add(frac * 10u64.pow(6 - frac_digits));
        if value > HUNDRED_PERCENT {
            self.pos = start;
            return Err(self.error("percentage above 100".into()));
        }
        Ok(value)
    }
}

/// A compiled negative set, ready to select per query.
#[derive(Clone, Debug)]
pub struct Selector {
    expr: NegativeSet,
    bands: Vec<Band>,
}

impl Selector {
    pub fn new(expr: NegativeSet) -> Selector {
        let bands = expr.bands();
        Selector { expr, bands }
    }

    pub fn expr(&self) -> &NegativeSet {
        &self.expr
    }

    /// Whether each of one query's negatives is in the set.
    ///
    /// `labels` are the negatives' labels and `query_label` the query's; they
    /// are required when the expression uses `same_class`.
    pub fn select(
        &self,
        scores: &[f32],
        labels: Option<&[i64]>,
        query_label: Option<i64>,
        scratch: &mut Vec<u64>,
    ) -> Result<Vec<bool>, String> {
        let mut out = vec![false; scores.len()];
        self.select_into(scores, labels, query_label, scratch, &mut out)?;
        Ok(out)
    }

    /// [`Selector::select`] writing into `out` (one flag per score), for
    /// callers that fill a larger [queries, negatives] mask row by row.
    pub fn select_into(
        &self,
        scores: &[f32],
        labels: Option<&[i64]>,
        query_label: Option<i64>,
        scratch: &mut Vec<u64>,
        out: &mut [bool],
    ) -> Result<(), String> {
        if out.len() != scores.len() {
            return Err(format!(
                "{} flags for {} negatives",
                out.len(),
                scores.len()
            ));
        }
        let same = match (self.expr.uses_labels(), labels, query_label) {
            (false, _, _) => None,
            (true, Some(l), Some(q)) => {
                if l.len() != scores.len() {
                    return Err(format!("{} labels for {} negatives", l.len(), scores.len()));
                }
                Some((l, q))
            }
            (true, _, _) => {
                return Err(format!(
                    "'{}' needs labels for the query and its negatives",
                    self.expr
                ))
            }
        };
        let thresholds: Vec<BandThresholds> = self
            .bands
            .iter()
            .map(|&b| BandThresholds::find(b, scores, scratch))
            .collect();
        self.fill(&self.expr, scores, &thresholds, same, out);
        Ok(())
    }

    /// Membership of every negative in `e`, written into `out`: one tight
    /// loop per node of the expression rather than a tree walk per negative.
    fn fill(
        &self,
        e: &NegativeSet,
        scores: &[f32],
        thresholds: &[BandThresholds],
        same: Option<(&[i64], i64)>,
        out: &mut [bool],
    ) {
        match e {
            NegativeSet::All => out.fill(true),
            NegativeSet::SameClass => match same {
                Some((labels, q)) => {
                    for (o, &l) in out.iter_mut().zip(labels) {
                        *o = l == q;
                    }
                }
                None => out.fill(false),
            },
            NegativeSet::Band(b) => {
                let t = self
                    .bands
                    .iter()
                    .position(|x| x == b)
                    .map_or(EVERYTHING, |i| thresholds[i]);
                for (j, (o, &s)) in out.iter_mut().zip(scores).enumerate() {
                    *o = t.contains_key(rank_key(s, j));
                }
            }
            NegativeSet::Not(a) => {
                self.fill(a, scores, thresholds, same, out);
                out.iter_mut().for_each(|o| *o = !*o);
            }
            NegativeSet::And(a, b) | NegativeSet::Or(a, b) => {
                self.fill(a, scores, thresholds, same, out);
                let mut other = vec![false; out.len()];
                self.fill(b, scores, thresholds, same, &mut other);
                let and = matches!(e, NegativeSet::And(..));
                for (o, x) in out.iter_mut().zip(other) {
                    *o = if and { *o && x } else { *o || x };
                }
            }
        }
    }
}

/// Thresholds that hold every negative (never used: every band of an
/// expression is in its `bands()` list).
const EVERYTHING: BandThresholds = BandThresholds {
    lower: None,
    upper: None,
};

/// Which negatives a query uses: all, only a set, or all but a set
/// (a run's `keep` / `drop`).
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Use every negative (the baseline).
    None,
    /// Use only the negatives in the set.
    Keep(NegativeSet),
    /// Use every negative except those in the set.
    Drop(NegativeSet),
}

impl Filter {
    /// The negatives to drop, as an expression (None: drop nothing).
    pub fn drop_set(&self) -> Option<NegativeSet> {
        match self {
            Filter::None => None,
            Filter::Keep(e) => Some(NegativeSet::Not(Box::new(e.clone()))),
            Filter::Drop(e) => Some(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_moves_band_edges_and_nothing_else() {
        let from = NegativeSet::parse("band(0,90) & !same_class").unwrap();
        let to = NegativeSet::parse("band(90,99) & !same_class").unwrap();
        assert_eq!(from.towards(&to, 0.0).unwrap(), from);
        assert_eq!(from.towards(&to, 1.0).unwrap(), to);
        assert_eq!(
            from.towards(&to, 0.5).unwrap().to_string(),
            "band(45,94.5) & !same_class"
        );
        assert_eq!(
            from.towards(&to, 1.0 / 3.0).unwrap().to_string(),
            "band(30,93) & !same_class"
        );
        for other in [
            "band(90,99)",
            "band(90,99) | !same_class",
            "band(90,99) & same_class",
        ] {
            let e = from
                .towards(&NegativeSet::parse(other).unwrap(), 0.5)
                .unwrap_err();
            assert!(e.contains("differ in shape"), "{other}: {e}");
            let e = from
                .towards(&NegativeSet::parse(other).unwrap(), 0.0)
                .unwrap_err();
            assert!(e.contains("differ in shape"), "{other} at 0: {e}");
        }
    }

    #[test]
    fn hardest_five_percent_of_65536_holds_3277() {
        let b = Band::new(95.0, 100.0).unwrap();
        // floor(95·65536/100) = floor(62259.2) = 62259; 65536 − 62259 = 3277.
        assert_eq!(b.rank_range(65536), 62259..65536);
        assert_eq!(b.rank_range(65536).len(), 3277);
    }

    #[test]
    fn decimal_edges_are_exact() {
        // 4.35 is 4.3499999… as f64; 4.35·2000/100 = 87 exactly.
        let b = NegativeSet::parse("band(4.35,100)").unwrap();
        assert_eq!(
            b,
            NegativeSet::Band(Band::from_micro(4_350_000, 100_000_000).unwrap())
        );
        if let NegativeSet::Band(b) = b {
            assert_eq!(b.rank_range(2000).start, 87);
        }
        // hardest 0.1 % of 65536: floor(99.9·65536/100) = floor(65470.464) = 65470.
        assert_eq!(
            Band::new(99.9, 100.0).unwrap().rank_range(65536),
            65470..65536
        );
    }

    #[test]
    fn ties_break_by_lower_index_first() {
        let scores = [0.5, 0.1, 0.5, 0.1, -0.0, 0.0];
        // ascending: idx4 (-0) and idx5 (+0) tie → 4,5; then 0.1 → 1,3; then 0.5 → 0,2
        assert_eq!(order_easiest_first(&scores), vec![4, 5, 1, 3, 0, 2]);
        assert_eq!(ranks(&scores), vec![4, 2, 5, 3, 0, 1]);
    }

    #[test]
    fn parse_errors_point_at_the_column() {
        let e = NegativeSet::parse("band(95,100) & !same_clas").unwrap_err();
        assert_eq!(e.column, 17);
        let e = NegativeSet::parse("band(95 100)").unwrap_err();
        assert_eq!(e.column, 9);
        assert!(e.to_string().contains("expected ','"), "{e}");
        let e = NegativeSet::parse("band(100,95)").unwrap_err();
        assert_eq!(e.column, 1);
        let e = NegativeSet::parse("band(95,100) |").unwrap_err();
        assert_eq!(e.column, 15);
        let e = NegativeSet::parse("band(95,100.5)").unwrap_err();
        assert_eq!(e.column, 9);
    }

    #[test]
    fn precedence_not_and_or() {
        let e = NegativeSet::parse("!same_class & band(0,5) | band(95,100)").unwrap();
        let expected = NegativeSet::Or(
            Box::new(NegativeSet::And(
                Box::new(NegativeSet::Not(Box::new(NegativeSet::SameClass))),
                Box::new(NegativeSet::Band(Band::new(0.0, 5.0).unwrap())),
            )),
            Box::new(NegativeSet::Band(Band::new(95.0, 100.0).unwrap())),
        );
        assert_eq!(e, expected);
        assert_eq!(NegativeSet::parse(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn bins_partition_percent_range() {
        for bins in [1usize, 3, 7, 20, 100] {
            let mut prev = 0.0;
            for b in 0..bins {
                let band = Band::bin(b, bins).unwrap();
                assert_eq!(band.lo(), prev);
                prev = band.hi();
            }
            assert_eq!(prev, 100.0);
        }
    }
}
