//! Engage: a weekly customer-engagement prediction platform. The host runs a
//! pipeline of sandboxed WebAssembly stages and feature transforms; they reach
//! storage, SQL and the LLM only through the capabilities granted to them.

pub mod aws;
pub mod assistant;
pub mod capabilities;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod data;
pub mod deploy;
pub mod drift;
pub mod files;
pub mod ipc;
pub mod local_host;
pub mod model;
pub mod pipeline;
pub mod plugins;
pub mod report;
pub mod runtime;
pub mod temp_files;
pub mod web;
