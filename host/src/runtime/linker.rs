//! One linker per world: the capability interfaces that world names, plus WASI
//! p2, which guests import just to start (Rust's std: stdio, environment, exit,
//! random; a componentize-py guest also the file system, clocks and sockets).
//! Linking an interface grants nothing: the context a guest runs with
//! ([`GuestState`]) has no preopened directory, no environment variable, no
//! argument, and refuses every socket (`tests/sandbox.rs` tries each).

use anyhow::Result;
use wasmtime::Engine;
use wasmtime::component::Linker;

use super::bindings::{llm, log, sql, storage};
use super::state::GuestState;
use crate::capabilities::llm::host::HasLlm;
use crate::capabilities::log::host::HasLog;
use crate::capabilities::sql::host::HasSql;
use crate::capabilities::storage::host::HasStorage;

fn wasi_linker(engine: &Engine) -> Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Ok(linker)
}

pub fn stage_linker(engine: &Engine) -> Result<Linker<GuestState>> {
    let mut linker = wasi_linker(engine)?;
    storage::add_to_linker::<GuestState, HasStorage>(&mut linker, |s| &mut s.storage)?;
    sql::add_to_linker::<GuestState, HasSql>(&mut linker, |s| &mut s.sql)?;
    llm::add_to_linker::<GuestState, HasLlm>(&mut linker, |s| &mut s.llm)?;
    log::add_to_linker::<GuestState, HasLog>(&mut linker, |s| &mut s.log)?;
    Ok(linker)
}

pub fn transform_linker(engine: &Engine) -> Result<Linker<GuestState>> {
    let mut linker = wasi_linker(engine)?;
    log::add_to_linker::<GuestState, HasLog>(&mut linker, |s| &mut s.log)?;
    Ok(linker)
}
