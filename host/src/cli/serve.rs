//! `engage serve`: the web app (runs, reports, results, user lookup, ask box).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;

use crate::web::{ServeOptions, serve};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but a loopback address needs --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Token every request must carry (?token= once, then a cookie; or Authorization: Bearer).
    #[arg(long, env = "ENGAGE_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn run(args: ServeArgs, root: &Path) -> Result<()> {
    let options = ServeOptions { addr: args.addr, token: args.token };
    crate::web::check_options(&options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("serve: starting the async runtime")?;
    runtime.block_on(serve(root.to_path_buf(), options))
}
