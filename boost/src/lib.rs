//! Engage's native gradient boosting: histogram-based trees for binary
//! classification (logistic loss) and regression (squared error), trained
//! straight from Arrow record batches and saved as XGBoost JSON models.
//!
//! The small surface the pipeline calls:
//! - [`Params`]: hyperparameters (serde, defaults, [`Params::validate`]).
//! - [`train_batches`] / [`train_batches_with_features`] (from Arrow) or
//!   [`train`] (from a [`FeatureMatrix`], which [`compute_cuts`] +
//!   [`FeatureMatrixBuilder`] can build from a stream of batches) → [`TrainedModel`] with the
//!   [`Model`], per-round validation history and early-stopping outcome.
//! - [`Model::predict_batch`] → [`Predictions`] (probability + confidence),
//!   [`Model::predict_stream`] over many batches.
//! - [`Model::save_xgboost_json`] / [`Model::load_xgboost_json`].
//! - [`Model::importance`] (gain, cover, weight), [`metrics::evaluate`].
//! - [`Model::contributions`] → [`Contributions`] (exact TreeSHAP per row),
//!   [`Contributions::top_reasons`], [`Contributions::importance`] (mean |SHAP|).
//! - [`baseline::LogisticBaseline`] to compare against a linear model.

pub mod baseline;
pub mod binning;
mod column;
pub mod error;
mod grow;
mod histogram;
pub mod importance;
pub mod metrics;
mod model;
mod model_json;
pub mod objective;
pub mod params;
mod path_attribution;
pub mod predict;
mod rng;
pub mod shap;
pub mod train;
pub mod tree;

pub use binning::{FeatureCuts, FeatureMatrix, FeatureMatrixBuilder, compute_cuts};
pub use error::{BoostError, Result};
pub use importance::FeatureImportance;
pub use metrics::{Metrics, evaluate};
pub use model::Model;
pub use objective::Objective;
pub use params::{GrowPolicy, Params};
pub use predict::Predictions;
pub use shap::{Contributions, FeatureReference, Level, Reason, ShapImportance, ShapSummary};
pub use train::{EvalRecord, TrainedModel, train, train_batches, train_batches_with_features};
