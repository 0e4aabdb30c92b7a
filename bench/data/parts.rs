//! Where the generator's time goes, on one thread: the full `data generate` to
//! Parquet, the simulation alone (users drawn and stepped, rows dropped), and
//! Arrow's Parquet writer alone over the same rows, with the generator's settings
//! and with cheaper ones. All in one run, so the ratios hold on a noisy machine.
//!
//! Run with `bench/data/parts.sh` (pins the process to one core).

use std::fs::File;
use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use engage::data::generate::process::User;
use engage::data::generate::rng::Rng;
use engage::data::generate::{GenerateOptions, OutputFormat, generate, generator_properties};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

const SEED: u64 = 42;

fn main() -> Result<()> {
    let users: u64 = std::env::var("USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let scratch = tempfile::tempdir()?;

    let mut options = GenerateOptions::new(users, scratch.path().join("out"));
    options.weeks = 1;
    options.threads = 1;
    options.format = OutputFormat::Parquet;
    let t = Instant::now();
    let summary = generate(&options)?;
    let full = t.elapsed().as_secs_f64();
    let file = summary.files[0].clone();
    let full_size = std::fs::metadata(&file)?.len();

    let t = Instant::now();
    for index in 0..users {
        let mut rng = Rng::for_stream(SEED, index);
        let mut user = User::new(&mut rng);
        let row = user.step(&mut rng, None);
        black_box(user.engaged_next_week(&mut rng, &row));
        black_box(row);
    }
    let simulation = t.elapsed().as_secs_f64();

    // The generator writes one row group per 65,536-user chunk: so do these.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file)?)?.with_batch_size(65_536).build()?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().context("reading the generated file back")?;
    let schema = batches[0].schema();
    let generator = generator_properties(&schema);
    let ints = |encoding: Encoding, compression: Compression| {
        let mut props = WriterPropertiesBuilder::from(generator.clone());
        for field in schema.fields().iter().filter(|f| f.data_type() == &DataType::Int64) {
            let path = ColumnPath::from(field.name().as_str());
            props = props.set_column_encoding(path.clone(), encoding).set_column_compression(path, compression);
        }
        props.build()
    };
    let sinks: Vec<(&str, WriterProperties)> = vec![
        ("Arrow Parquet writer, the generator's settings", generator.clone()),
        (
            "  with statistics on every column (Arrow's default)",
            WriterPropertiesBuilder::from(generator.clone()).set_statistics_enabled(EnabledStatistics::Page).build(),
        ),
        ("  integers delta-packed, zstd", ints(Encoding::DELTA_BINARY_PACKED, generator.compression(&ColumnPath::from("age")))),
        ("  integers delta-packed, uncompressed", ints(Encoding::DELTA_BINARY_PACKED, Compression::UNCOMPRESSED)),
        ("  snappy throughout", WriterPropertiesBuilder::from(generator.clone()).set_compression(Compression::SNAPPY).build()),
    ];
    let mut sink_rows = Vec::new();
    for (name, props) in sinks {
        let path = scratch.path().join("sink.parquet");
        let t = Instant::now();
        let mut writer = ArrowWriter::try_new(File::create(&path)?, schema.clone(), Some(props))?;
        for batch in &batches {
            writer.write(batch)?;
            writer.flush()?;
        }
        writer.close()?;
        sink_rows.push((name, t.elapsed().as_secs_f64(), std::fs::metadata(&path)?.len()));
    }

    let rate = |seconds: f64| users as f64 / seconds;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!("generator, one thread, {users} users × 1 week (target: 1,000,000 rows/s to Parquet)");
    println!("{:<52} {:>9} {:>12} {:>9}", "part", "seconds", "rows/s", "MiB");
    println!("{:<52} {:>9.2} {:>12.0} {:>9.1}", "data generate --format parquet (all of it)", full, rate(full), mib(full_size));
    println!("{:<52} {:>9.2} {:>12.0} {:>9}", "simulation alone (rows built, then dropped)", simulation, rate(simulation), "");
    for (name, seconds, size) in sink_rows {
        println!("{name:<52} {seconds:>9.2} {:>12.0} {:>9.1}", rate(seconds), mib(size));
    }
    Ok(())
}
