//! placeholder
use crate::pipeline::step::{Step, StepContext, StepError, StepOutput};
pub struct Knowledge;
impl Step for Knowledge {
    fn run(&self, _ctx: &StepContext) -> Result<StepOutput, StepError> { todo!() }
}
