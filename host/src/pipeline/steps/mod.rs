//! The native steps a pipeline names with `native = "<name>"`: trusted host code
//! (boosting, streaming transforms, reports) behind the same [`Step`] contract as
//! plugin stages.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::step::Step;

/// Every native step by the name a pipeline file uses.
pub fn registry() -> BTreeMap<&'static str, Arc<dyn Step>> {
    BTreeMap::new()
}
