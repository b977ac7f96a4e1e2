//! [`Ensemble`]: several reward models trained on bootstrap resamples, with their disagreement
//! for active query selection (as in PEBBLE / B-Pref: ask about the pairs the members disagree
//! on most).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::data::{PreferenceError, PreferencePair, Segment, invalid};
use super::model::{RewardModel, TrainConfig, TrainSummary};

/// An ensemble of reward models. Its score and reward are the members' means; its
/// [`RewardModel::fit`] trains member `i` on a bootstrap resample of the pairs (drawn with a
/// `Pcg64` seeded `config.seed + i`), with `config.seed + i` as its own seed.
#[derive(Debug, Clone)]
pub struct Ensemble<M> {
    members: Vec<M>,
    bootstrap: bool,
}

impl<M: RewardModel> Ensemble<M> {
    /// An ensemble of at least one member, all with the same number of features.
    pub fn new(members: Vec<M>) -> Result<Self, PreferenceError> {
        let Some(first) = members.first() else { return Err(invalid("ensemble", "no members")) };
        let k = first.n_features();
        if members.iter().any(|m| m.n_features() != k) {
            return Err(invalid("ensemble", "members read different numbers of features"));
        }
        Ok(Ensemble { members, bootstrap: true })
    }
    /// Train every member on all pairs instead of a bootstrap resample (diversity then comes from
    /// the members' initialisations and seeds only).
    pub fn without_bootstrap(mut self) -> Self {
        self.bootstrap = false;
        self
    }
    /// The members.
    pub fn members(&self) -> &[M] {
        &self.members
    }

    /// The members' preference probabilities `P_i(left ≻ right)`.
    pub fn member_probs(&self, left: &Segment, right: &Segment) -> Result<Vec<f64>, PreferenceError> {
        self.members.iter().map(|m| m.prob(left, right)).collect()
    }

    /// Disagreement: the standard deviation (population) of the members' probabilities.
    pub fn disagreement(&self, left: &Segment, right: &Segment) -> Result<f64, PreferenceError> {
        let p = self.member_probs(left, right)?;
        let n = p.len() as f64;
        let mean = p.iter().sum::<f64>() / n;
        Ok((p.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt())
    }

    /// The indices of the `n` candidate pairs with the highest disagreement, most disagreed
    /// first (ties: lower index first).
    pub fn select_queries(
        &self,
        candidates: &[(Segment, Segment)],
        n: usize,
    ) -> Result<Vec<usize>, PreferenceError> {
        let mut scored = candidates
            .iter()
            .enumerate()
            .map(|(i, (l, r))| Ok((i, self.disagreement(l, r)?)))
            .collect::<Result<Vec<_>, PreferenceError>>()?;
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored.into_iter().take(n).map(|(i, _)| i).collect())
    }
}

impl<M: RewardModel> RewardModel for Ensemble<M> {
    fn n_features(&self) -> usize {
        self.members[0].n_features()
    }
    fn score(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        let mut total = 0.0;
        for m in &self.members {
            total += m.score(seg)?;
        }
        Ok(total / self.members.len() as f64)
    }
    fn step_reward(&self, state: usize, action: usize, features: &[f64]) -> f64 {
        self.members.iter().map(|m| m.step_reward(state, action, features)).sum::<f64>()
            / self.members.len() as f64
    }
    /// Trains each member (see the type docs); the summary's losses are the members' means.
    fn fit(
        &mut self,
        pairs: &[PreferencePair],
        config: &TrainConfig,
    ) -> Result<TrainSummary, PreferenceError> {
        if pairs.is_empty() {
            return Err(invalid("training data", "no pairs"));
        }
        let mut sum = TrainSummary { epochs: config.epochs, best_loss: 0.0, best_epoch: 0, final_loss: 0.0 };
        let k = self.members.len() as f64;
        for (i, m) in self.members.iter_mut().enumerate() {
            let seed = config.seed.wrapping_add(i as u64);
            let cfg = TrainConfig { seed, ..*config };
            let s = if self.bootstrap {
                let mut rng = Pcg64::seed_from_u64(seed);
                let sample: Vec<PreferencePair> =
                    (0..pairs.len()).map(|_| pairs[rng.random_range(0..pairs.len())].clone()).collect();
                m.fit(&sample, &cfg)?
            } else {
                m.fit(pairs, &cfg)?
            };
            sum.best_loss += s.best_loss / k;
            sum.final_loss += s.final_loss / k;
            sum.best_epoch = sum.best_epoch.max(s.best_epoch);
        }
        Ok(sum)
    }
}
