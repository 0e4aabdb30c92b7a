//! Host-side bindings generated from `wit/`. Capability calls are trappable so a
//! grant violation stops the guest; `error` results map to [`HostError`].

pub mod stage {
    wasmtime::component::bindgen!({
        world: "stage",
        path: "../wit",
        imports: { default: trappable },
        trappable_error_type: {
            "engage:platform/types.error" => crate::runtime::HostError,
        },
        with: {
            "engage:platform/storage.writer": crate::capabilities::storage::host::WriterHandle,
            "engage:platform/sql.batches": crate::capabilities::sql::host::BatchesHandle,
        },
    });
}

pub mod transform {
    wasmtime::component::bindgen!({
        world: "feature-transform",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "engage:platform/log": super::stage::engage::platform::log,
        },
    });
}

/// Transforms over packed columns that may return expressions (Python guests).
pub mod columns {
    wasmtime::component::bindgen!({
        world: "column-transform",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "engage:platform/log": super::stage::engage::platform::log,
            "engage:platform/transform-types": super::transform::engage::platform::transform_types,
        },
    });
}

pub use columns::engage::platform::columns::{Column, Node, Op, Output};
pub use stage::engage::platform::{llm, log, sql, storage, types};
pub use transform::engage::platform::transform_types::{ColumnType, OutputColumn, TransformInfo};
