//! `engage plugin ...`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use clap::Subcommand;

use crate::capabilities::storage::LocalStorage;
use crate::files::{ParquetFileWriter, read_batches};
use crate::runtime::{Capabilities, GuestLimits, Runtime, RuntimeConfig};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Runs a feature-transform plugin over a Parquet or CSV file and reports rows and time.
    Test {
        /// The plugin component (.wasm).
        component: PathBuf,
        /// Input rows: .parquet, .csv or .csv.gz with a header row.
        #[arg(long)]
        input: PathBuf,
        /// Write the output (key columns plus the plugin's columns) to this Parquet file.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Rows per batch handed to the plugin.
        #[arg(long, default_value_t = 65_536)]
        batch_rows: usize,
        /// Linear-memory limit for the plugin, in MiB.
        #[arg(long, default_value_t = 1024)]
        memory_mib: usize,
        /// Time limit per batch, in seconds.
        #[arg(long, default_value_t = 600.0)]
        timeout_s: f64,
    },
    /// Compiles every plugin component in a folder for this engine into the component cache,
    /// so later runs (and container tasks) load them without compiling.
    Precompile {
        /// The folder of `<name>.wasm` components.
        #[arg(long, value_name = "DIR", env = "ENGAGE_PLUGIN_DIR")]
        plugins: PathBuf,
        /// The cache to fill: default $ENGAGE_CACHE_DIR, else ~/.cache/engage/components.
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// Columns copied from the input beside the plugin's output, so rows can be matched.
const KEY_COLUMNS: [&str; 2] = ["user_id", "snapshot_date"];

pub fn run(command: PluginCommand, root: &Path) -> Result<()> {
    match command {
        PluginCommand::Test { component, input, output, batch_rows, memory_mib, timeout_s } => {
            let limits = GuestLimits {
                memory_bytes: memory_mib << 20,
                timeout: std::time::Duration::try_from_secs_f64(timeout_s).context("--timeout-s")?,
                ..GuestLimits::default()
            };
            test_transform(&component, &input, output.as_deref(), batch_rows.max(1), limits, root)
        }
        PluginCommand::Precompile { plugins, cache_dir } => {
            let cache_dir = cache_dir.or_else(crate::runtime::default_cache_dir).context("no cache folder: pass --cache-dir")?;
            let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache_dir.clone()), pooling: true })?;
            for (name, compiled) in runtime.precompile_dir(&plugins)? {
                println!("{name}: {}", if compiled { "compiled" } else { "already in the cache" });
            }
            println!("cache: {}", cache_dir.display());
            Ok(())
        }
    }
}

fn test_transform(
    component: &Path,
    input: &Path,
    output: Option<&Path>,
    batch_rows: usize,
    limits: GuestLimits,
    root: &Path,
) -> Result<()> {
    let started = Instant::now();
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let plugin = runtime.load_file(component)?;
    let caps = Capabilities::storage_only(Arc::new(LocalStorage::new(root)?));
    let mut instance = runtime.transform_instance(&plugin, "plugin-test", "transform", limits, &caps)?;
    let loaded = started.elapsed();

    let (schema, batches) = read_batches(input, batch_rows)?;
    let keys: Vec<usize> = KEY_COLUMNS.iter().filter_map(|k| schema.index_of(k).ok()).collect();
    let out_schema: SchemaRef = Arc::new(Schema::new(
        keys.iter()
            .map(|&i| schema.field(i).clone())
            .chain(instance.output_schema().fields().iter().map(|f| f.as_ref().clone()))
            .collect::<Vec<_>>(),
    ));
    let mut writer = output.map(|path| ParquetFileWriter::create(path, out_schema.clone())).transpose()?;

    let (mut rows_in, mut rows_out, mut batches_n) = (0usize, 0usize, 0usize);
    let mut in_guest = std::time::Duration::ZERO;
    for batch in batches {
        let batch = batch?;
        let t = Instant::now();
        let features = instance.transform(&batch)?;
        in_guest += t.elapsed();
        rows_in += batch.num_rows();
        rows_out += features.num_rows();
        batches_n += 1;
        if let Some(writer) = writer.as_mut() {
            let columns = keys.iter().map(|&i| batch.column(i).clone()).chain(features.columns().iter().cloned());
            writer.write(&RecordBatch::try_new(out_schema.clone(), columns.collect())?)?;
        }
    }
    if let Some(writer) = writer {
        writer.finish()?;
    }
    let total = started.elapsed();
    let info = instance.info();
    println!("plugin      {} {} ({})", info.name, info.version, &plugin.hash[..12]);
    println!("reads       {} columns: {}", info.inputs.len(), info.inputs.join(", "));
    println!("writes      {} columns: {}", info.outputs.len(), info.outputs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    println!("rows in     {rows_in}");
    println!("rows out    {rows_out}");
    println!("batches     {batches_n}");
    println!("load        {:.1} ms (compiled: {})", loaded.as_secs_f64() * 1e3, runtime.cache_stats().compiled > 0);
    println!(
        "transform   {:.1} ms ({:.0} rows/s in the plugin)",
        in_guest.as_secs_f64() * 1e3,
        rows_in as f64 / in_guest.as_secs_f64().max(1e-9)
    );
    println!("total       {:.1} ms", total.as_secs_f64() * 1e3);
    if let Some(path) = output {
        println!("output      {}", path.display());
    }
    Ok(())
}
