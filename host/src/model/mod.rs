//! Models on any table: `engage model train|predict|eval|explain` work here,
//! the CLI (`cli/model.rs`) only parses and prints.
//!
//! - [`frame`]: a catalog table or a Parquet/CSV file as one Arrow batch.
//! - [`encoding`]: which columns are features, how text columns become
//!   numbers (categories ordered by their smoothed label rate), the 0/1 label check.
//! - [`bundle`]: the model file — XGBoost JSON whose learner attributes also
//!   carry the encoding, the logistic baseline and the reference values.
//! - [`fit`]: the split (`--valid-frac` or `--time-split`), boosting and the baseline.
//! - [`evaluate`]: AUC, log loss, average precision, calibration, lift and gain by decile.
//! - [`explain`]: TreeSHAP contributions, top reasons per row, importance by mean |SHAP|.

pub mod bundle;
pub mod encoding;
pub mod evaluate;
pub mod explain;
pub mod fit;
pub mod frame;

pub use bundle::ModelBundle;
pub use frame::load;
