//! Rates measured in interleaved slices: every contender (ours and its baseline) runs for a
//! short slice in turn, round after round, with the order rotated each round.
//!
//! Why: this machine's speed drifts by far more than the differences measured (the same binary
//! moved 1.7× within minutes). Measuring one contender for seconds and then the other puts the
//! drift into the ratio; slices a fraction of a second apart see the same machine, and the
//! median of the per-round ratios discards the rounds a burst of load fell into.

use std::time::Duration;

/// Rounds unless a bench says otherwise.
pub const ROUNDS: usize = 20;

/// One slice's length unless a bench says otherwise.
pub const SLICE: Duration = Duration::from_millis(500);

/// The rate of each of `contenders` per round: `rates[c][round]`. `slice(c)` runs contender
/// `c` for one slice and returns its rate. One discarded slice of each comes first (warm-up).
pub async fn interleaved_rates(
    contenders: usize,
    rounds: usize,
    mut slice: impl AsyncFnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    for contender in 0..contenders {
        slice(contender).await;
    }
    let mut rates = vec![Vec::with_capacity(rounds); contenders];
    for round in 0..rounds {
        for step in 0..contenders {
            let contender = (step + round) % contenders;
            let rate = slice(contender).await;
            rates[contender].push(rate);
        }
    }
    rates
}

/// The median of `values` (the upper middle one for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The JSON a bench binary prints for `names` (contender 0 is the baseline): per contender its
/// median `rate` and the rounds' `rates`; per other contender also its `ratios` to the baseline
/// round by round and their median `ratio`.
pub fn report(names: &[&str], rates: &[Vec<f64>]) -> serde_json::Value {
    let base = &rates[0];
    let mut out = serde_json::Map::new();
    for (index, (name, rates)) in names.iter().zip(rates).enumerate() {
        let mut entry = serde_json::Map::new();
        entry.insert("rate".into(), median(rates.clone()).into());
        entry.insert("rates".into(), rates.clone().into());
        if index > 0 {
            let ratios: Vec<f64> = rates.iter().zip(base).map(|(r, b)| r / b).collect();
            entry.insert("ratio".into(), median(ratios.clone()).into());
            entry.insert("ratios".into(), ratios.into());
        }
        out.insert((*name).to_owned(), entry.into());
    }
    out.into()
}
