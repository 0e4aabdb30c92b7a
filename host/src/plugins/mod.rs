//! Plugin packaging: manifests (`plugin.toml`), the content-addressed registry in
//! the `plugins` bucket and version resolution, the checks on what a transform
//! returns, and the author's kit (scaffold, build, fixtures).

pub mod build;
pub mod expr;
pub mod fixtures;
pub mod manifest;
pub mod packed;
pub mod registry;
pub mod republish;
pub mod resolve;
pub mod scaffold;
pub mod schema_check;
pub mod stage_fixtures;
