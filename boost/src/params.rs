//! Training parameters (serde, defaults, validation). Names follow XGBoost's
//! where one exists so a data scientist can read them.

use serde::{Deserialize, Serialize};

use crate::error::{BoostError, Result};
use crate::objective::Objective;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GrowPolicy {
    /// Split every node of a level before going deeper (XGBoost's default).
    #[default]
    Depthwise,
    /// Always split the leaf with the largest gain (LightGBM style), up to `max_leaves`.
    Lossguide,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub objective: Objective,
    /// Boosting rounds (trees).
    pub n_rounds: usize,
    /// Learning rate (shrinkage of every leaf).
    pub eta: f64,
    /// Deepest level a tree may reach; 0 = unlimited (only with `lossguide`).
    pub max_depth: usize,
    /// Most leaves per tree; 0 = unlimited. Required with `lossguide`.
    pub max_leaves: usize,
    pub grow_policy: GrowPolicy,
    /// L2 regularisation on leaf weights.
    pub lambda: f64,
    /// L1 regularisation on leaf weights.
    pub alpha: f64,
    /// Minimum loss reduction to make a split (min split gain).
    pub gamma: f64,
    /// Minimum hessian sum in each child.
    pub min_child_weight: f64,
    /// Fraction of rows sampled for each tree.
    pub subsample: f64,
    /// Fraction of features sampled for each tree.
    pub colsample_bytree: f64,
    /// Value bins per feature (2..=255); missing values get one more, reserved bin.
    pub max_bin: usize,
    /// Rows sampled to compute quantile cuts.
    pub bin_sample_rows: usize,
    /// Stop when the validation metric has not improved for this many rounds.
    pub early_stopping_rounds: Option<usize>,
    /// Initial prediction (probability for `binary:logistic`); `None` = label mean.
    pub base_score: Option<f64>,
    /// Decision threshold on the probability, used by confidence and metrics.
    pub threshold: f64,
    pub seed: u64,
    /// Worker threads; 0 = all cores. Results are identical for any count.
    pub n_threads: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            objective: Objective::BinaryLogistic,
            n_rounds: 100,
            eta: 0.3,
            max_depth: 6,
            max_leaves: 0,
            grow_policy: GrowPolicy::Depthwise,
            lambda: 1.0,
            alpha: 0.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            subsample: 1.0,
            colsample_bytree: 1.0,
            max_bin: 255,
            bin_sample_rows: crate::binning::DEFAULT_BIN_SAMPLE_ROWS,
            early_stopping_rounds: None,
            base_score: None,
            threshold: 0.5,
            seed: 0,
            n_threads: 0,
        }
    }
}

/// Names [`Params::set`] takes for a parameter that [`Params::validate`] reports under another name.
const ALIASES: &[(&str, &str)] = &[
    ("rounds", "n_rounds"),
    ("n_estimators", "n_rounds"),
    ("num_boost_round", "n_rounds"),
    ("depth", "max_depth"),
    ("num_leaves", "max_leaves"),
    ("reg_lambda", "lambda"),
    ("reg_alpha", "alpha"),
    ("min_split_loss", "gamma"),
];

fn bad(name: &'static str, reason: impl Into<String>) -> BoostError {
    BoostError::InvalidParam { name, reason: reason.into() }
}

impl Params {
    /// Parameter names [`Params::set`] takes (XGBoost aliases in brackets in the docs).
    pub const SETTABLE: &'static [&'static str] = &[
        "rounds", "eta", "depth", "max_leaves", "grow_policy", "min_child_weight", "subsample", "colsample_bytree",
        "lambda", "alpha", "gamma", "max_bin", "early_stopping_rounds", "threshold", "base_score", "seed", "threads",
    ];

    /// Sets one parameter from text, by the short names a command line or a
    /// pipeline file uses (`rounds=200`, `depth=6`, `eta=0.1`) or XGBoost's
    /// (`n_estimators`, `max_depth`, `learning_rate`, `reg_lambda`, `reg_alpha`,
    /// `nthread`). `early_stopping_rounds=0` turns early stopping off. Call
    /// [`Params::validate`] once all are set.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let value = value.trim();
        let number = |key: &'static str| -> Result<f64> {
            value.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(key, format!("'{value}' is not a number")))
        };
        let whole = |key: &'static str| -> Result<usize> {
            value.parse::<usize>().map_err(|_| bad(key, format!("'{value}' is not a whole number >= 0")))
        };
        match name {
            "rounds" | "n_rounds" | "n_estimators" | "num_boost_round" => self.n_rounds = whole("rounds")?,
            "eta" | "learning_rate" => self.eta = number("eta")?,
            "depth" | "max_depth" => self.max_depth = whole("max_depth")?,
            "max_leaves" | "num_leaves" => self.max_leaves = whole("max_leaves")?,
            "grow_policy" => {
                self.grow_policy = match value {
                    "depthwise" => GrowPolicy::Depthwise,
                    "lossguide" => GrowPolicy::Lossguide,
                    _ => return Err(bad("grow_policy", format!("'{value}' is not depthwise or lossguide"))),
                }
            }
            "min_child_weight" => self.min_child_weight = number("min_child_weight")?,
            "subsample" => self.subsample = number("subsample")?,
            "colsample_bytree" => self.colsample_bytree = number("colsample_bytree")?,
            "lambda" | "reg_lambda" => self.lambda = number("lambda")?,
            "alpha" | "reg_alpha" => self.alpha = number("alpha")?,
            "gamma" | "min_split_loss" => self.gamma = number("gamma")?,
            "max_bin" => self.max_bin = whole("max_bin")?,
            "early_stopping_rounds" => self.early_stopping_rounds = Some(whole("early_stopping_rounds")?).filter(|&r| r > 0),
            "threshold" => self.threshold = number("threshold")?,
            "base_score" => self.base_score = Some(number("base_score")?),
            "seed" => self.seed = value.parse().map_err(|_| bad("seed", format!("'{value}' is not a whole number >= 0")))?,
            "threads" | "nthread" | "n_threads" => self.n_threads = whole("threads")?,
            _ => {
                return Err(BoostError::InvalidParam {
                    name: "params",
                    reason: format!("unknown parameter '{name}' (known: {})", Self::SETTABLE.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// [`Params::validate`], naming a parameter as `given` spelled it to [`Params::set`]: `rounds=0` is
    /// reported as `rounds`, not as the field `n_rounds` the user never typed.
    pub fn validate_as_given(&self, given: &[&str]) -> Result<()> {
        self.validate().map_err(|e| match e {
            BoostError::InvalidParam { name, reason } => {
                let spelled = ALIASES.iter().find(|(alias, checked)| *checked == name && given.contains(alias)).map_or(name, |(alias, _)| alias);
                BoostError::InvalidParam { name: spelled, reason }
            }
            other => other,
        })
    }

    /// Check every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.n_rounds == 0 {
            return Err(bad("n_rounds", "must be at least 1"));
        }
        if !(self.eta > 0.0 && self.eta.is_finite()) {
            return Err(bad("eta", format!("{} must be > 0", self.eta)));
        }
        if self.grow_policy == GrowPolicy::Depthwise && self.max_depth == 0 {
            return Err(bad("max_depth", "0 (unlimited) needs grow_policy = lossguide"));
        }
        if self.grow_policy == GrowPolicy::Lossguide && self.max_leaves == 0 && self.max_depth == 0 {
            return Err(bad("max_leaves", "lossguide needs max_leaves or max_depth"));
        }
        if self.max_depth > 30 {
            return Err(bad("max_depth", format!("{} is above 30", self.max_depth)));
        }
        if self.max_leaves == 1 {
            return Err(bad("max_leaves", "must be 0 (unlimited) or at least 2"));
        }
        for (name, v) in [("lambda", self.lambda), ("alpha", self.alpha), ("gamma", self.gamma), ("min_child_weight", self.min_child_weight)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(bad(name, format!("{v} must be a finite number >= 0")));
            }
        }
        for (name, v) in [("subsample", self.subsample), ("colsample_bytree", self.colsample_bytree)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(name, format!("{v} is outside (0, 1]")));
            }
        }
        if !(2..=crate::binning::MAX_VALUE_BINS).contains(&self.max_bin) {
            return Err(bad("max_bin", format!("{} is outside 2..=255", self.max_bin)));
        }
        if self.bin_sample_rows == 0 {
            return Err(bad("bin_sample_rows", "must be at least 1"));
        }
        if self.early_stopping_rounds == Some(0) {
            return Err(bad("early_stopping_rounds", "must be at least 1 when set"));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(bad("threshold", format!("{} is outside (0, 1)", self.threshold)));
        }
        if let Some(b) = self.base_score {
            let ok = match self.objective {
                Objective::BinaryLogistic => b > 0.0 && b < 1.0,
                Objective::SquaredError => b.is_finite(),
            };
            if !ok {
                return Err(bad("base_score", format!("{b} is not valid for {}", self.objective.name())));
            }
        }
        Ok(())
    }
}
