//! Stages: a `run` entry point with access to the capabilities the pipeline grants.
//!
//! ```ignore
//! use engage_plugin_sdk::stage::*;
//! struct Hello;
//! impl Stage for Hello {
//!     fn run(ctx: &Context) -> Result<serde_json::Value, String> {
//!         log::log(log::Level::Info, &format!("hello from {}", ctx.stage));
//!         Ok(serde_json::json!({ "greeted": 1 }))
//!     }
//! }
//! export_stage!(Hello);
//! ```

use arrow_array::RecordBatch;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "stage",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_stage",
        default_bindings_module: "engage_plugin_sdk::stage::bindings",
    });
}

pub use bindings::engage::platform::{llm, log, sql, storage, types};
pub use serde_json;

/// What the host tells a stage about its run.
pub struct Context {
    pub run_id: String,
    pub stage: String,
    pub params: serde_json::Value,
}

impl Context {
    /// The parameters deserialized into your own type.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.params.clone()).map_err(|e| format!("stage '{}': bad params: {e}", self.stage))
    }
}

pub trait Stage {
    /// Does the stage's work and returns a JSON summary for the run history.
    fn run(ctx: &Context) -> Result<serde_json::Value, String>;
}

/// Runs a query and decodes its Arrow result.
pub fn query(statement: &str) -> Result<Vec<RecordBatch>, String> {
    let bytes = sql::query(statement).map_err(|e| e.to_string())?;
    Ok(crate::ipc::decode(bytes)?.1)
}

/// Every key under `prefix`, following pagination.
pub fn list_all(bucket: &str, prefix: &str) -> Result<Vec<types::ObjectInfo>, String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = storage::list(bucket, prefix, token.as_deref(), 1000).map_err(|e| e.to_string())?;
        out.extend(page.objects);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(out),
        }
    }
}

/// The body of the exported `run`; used by [`export_stage!`].
#[doc(hidden)]
pub fn run<S: Stage>(context: bindings::engage::platform::stage_types::StageContext) -> Result<String, String> {
    let params = if context.params.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(&context.params).map_err(|e| format!("stage params are not JSON: {e}"))?
    };
    let ctx = Context { run_id: context.run_id, stage: context.stage, params };
    S::run(&ctx).map(|summary| summary.to_string())
}

/// Exports a type implementing [`Stage`] as the plugin's `stage` world.
#[macro_export]
macro_rules! export_stage {
    ($t:ty) => {
        struct __EngageStageExport;
        impl $crate::stage::bindings::Guest for __EngageStageExport {
            fn run(
                context: $crate::stage::bindings::engage::platform::stage_types::StageContext,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::stage::run::<$t>(context)
            }
        }
        $crate::stage::bindings::__export_stage!(__EngageStageExport with_types_in $crate::stage::bindings);
    };
}
