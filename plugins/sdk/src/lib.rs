//! The Engage plugin SDK for Rust guests.
//!
//! A feature transform (feature `transform`) implements [`transform::Transform`]
//! and calls [`export_transform!`]; a stage (feature `stage`) implements
//! [`stage::Stage`] and calls [`export_stage!`]. Data crosses the boundary as
//! Arrow IPC; [`ipc`] decodes it without copying and [`columns`] reads numeric
//! columns whatever their integer or float type.

pub mod columns;
pub mod ipc;
#[cfg(feature = "stage")]
pub mod checks;
#[cfg(feature = "stage")]
pub mod rows;
#[cfg(feature = "stage")]
pub mod stage;
#[cfg(feature = "transform")]
pub mod transform;

pub use arrow_array;
pub use arrow_schema;
