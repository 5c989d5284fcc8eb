//! The straightforward implementation of the pass: one thread, naive dot
//! products, a full sort of every query's negatives. It is the baseline the
//! benchmark measures against and the oracle the tests compare with; it
//! shares only the hand-off to the analyses (`Context::fold`) with the fast
//! path, not the ranking or the similarity computation.

use super::pass::{Context, Totals};
use super::plugin::DynAnalysis;
use super::{AnalysisInput, Params};
use crate::difficulty::easier;
use anyhow::Result;

pub fn run<'a>(
    input: &'a AnalysisInput,
    params: &'a Params,
    analyses: &'a [&'a dyn DynAnalysis],
) -> Result<Totals<'a>> {
    let ctx = Context::new(input, params, analyses)?;
    let (q, n) = (&input.queries.z, &input.negatives.z);
    let mut total = ctx.start();
    let mut scores = vec![0f32; n.rows()];
    let (mut order, mut pairs) = (Vec::new(), Vec::new());
    for qi in 0..q.rows() {
        let qrow = q.row(qi);
        for (j, s) in scores.iter_mut().enumerate() {
            *s = qrow.iter().zip(n.row(j)).map(|(a, b)| a * b).sum();
        }
        order.extend(ctx.candidates(qi));
        order.sort_by(|&a, &b| {
            easier(
                scores[a as usize],
                a as usize,
                scores[b as usize],
                b as usize,
            )
        });
        ctx.fold(qi, &scores, &mut order, &mut pairs, &mut total);
    }
    Ok(ctx.totals(total))
}
