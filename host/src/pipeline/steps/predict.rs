//! placeholder
use crate::pipeline::step::{Step, StepContext, StepError, StepOutput};
pub struct Predict;
impl Step for Predict {
    fn run(&self, _ctx: &StepContext) -> Result<StepOutput, StepError> { todo!() }
}
