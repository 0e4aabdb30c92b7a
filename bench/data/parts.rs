//! Where the generator's time goes, on one thread: the full `data generate` to
//! Parquet, the simulation alone (users drawn and stepped, rows dropped), and,
//! for reference, Arrow's Parquet writer alone over the same rows with the
//! settings the generator used before it encoded its own pages (and cheaper
//! ones). All in one run, each part timed `REPEAT` times (default 3) and its
//! fastest kept, so the ratios hold on a noisy machine.
//!
//! Run with `bench/data/parts.sh` (pins the process to one core).

use std::fs::File;
use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use engage::data::generate::process::User;
use engage::data::generate::rng::Rng;
use engage::data::generate::{GenerateOptions, OutputFormat, generate};
use engage::data::schema;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

const SEED: u64 = 42;

/// The generator's settings while it wrote through Arrow's Parquet writer:
/// zstd(1); integers BYTE_STREAM_SPLIT; the date DELTA_BINARY_PACKED; `user_id`
/// DELTA_BYTE_ARRAY; categoricals dictionary; floats PLAIN; key statistics only.
fn arrow_settings(schema: &SchemaRef) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None);
    for key in [schema::USER_ID, schema::SNAPSHOT_DATE] {
        props = props.set_column_statistics_enabled(ColumnPath::from(key), EnabledStatistics::Chunk);
    }
    for field in schema.fields() {
        let path = ColumnPath::from(field.name().as_str());
        props = match field.data_type() {
            DataType::Int64 => props.set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT),
            DataType::Date32 => props.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
            DataType::Utf8 if field.name() == schema::USER_ID => props.set_column_encoding(path, Encoding::DELTA_BYTE_ARRAY),
            DataType::Utf8 => props.set_column_dictionary_enabled(path, true),
            _ => props,
        };
    }
    props.build()
}

fn main() -> Result<()> {
    let users: u64 = std::env::var("USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let scratch = tempfile::tempdir()?;

    let mut options = GenerateOptions::new(users, scratch.path().join("out"));
    options.weeks = 1;
    options.threads = 1;
    options.format = OutputFormat::Parquet;
    let repeat: usize = std::env::var("REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let fastest = |mut part: Box<dyn FnMut() -> Result<()> + '_>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..repeat {
            let t = Instant::now();
            part()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let full = fastest(Box::new(|| generate(&options).map(drop)))?;
    let file = options.out_dir.join(engage::data::generate::snapshot_file_name(options.last_snapshot, OutputFormat::Parquet));
    let full_size = std::fs::metadata(&file)?.len();

    let simulation = fastest(Box::new(|| {
        for index in 0..users {
            let mut rng = Rng::for_stream(SEED, index);
            let mut user = User::new(&mut rng);
            let row = user.step(&mut rng, None);
            black_box(user.engaged_next_week(&mut rng, &row));
            black_box(row);
        }
        Ok(())
    }))?;

    let rate = |seconds: f64| users as f64 / seconds;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!("generator, one thread, {users} users × 1 week (target: 1,000,000 rows/s to Parquet)");
    println!("{:<52} {:>9} {:>12} {:>9}", "part", "seconds", "rows/s", "MiB");
    println!("{:<52} {:>9.2} {:>12.0} {:>9.1}", "data generate --format parquet (all of it)", full, rate(full), mib(full_size));
    println!("{:<52} {:>9.2} {:>12.0} {:>9}", "simulation alone (rows built, then dropped)", simulation, rate(simulation), "");
    // GENERATOR_ONLY=1: just these two, for comparing generator builds quickly.
    if std::env::var_os("GENERATOR_ONLY").is_some() {
        return Ok(());
    }

    // The generator writes one row group per 65,536-user chunk: so do these.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file)?)?.with_batch_size(65_536).build()?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().context("reading the generated file back")?;
    let schema = batches[0].schema();
    let generator = arrow_settings(&schema);
    let ints = |encoding: Encoding, compression: Compression| {
        let mut props = WriterPropertiesBuilder::from(generator.clone());
        for field in schema.fields().iter().filter(|f| f.data_type() == &DataType::Int64) {
            let path = ColumnPath::from(field.name().as_str());
            props = props.set_column_encoding(path.clone(), encoding).set_column_compression(path, compression);
        }
        props.build()
    };
    let sinks: Vec<(&str, WriterProperties)> = vec![
        ("Arrow Parquet writer alone, the earlier settings", generator.clone()),
        ("  integers delta-packed, uncompressed", ints(Encoding::DELTA_BINARY_PACKED, Compression::UNCOMPRESSED)),
    ];
    let mut sink_rows = Vec::new();
    for (name, props) in sinks {
        let path = scratch.path().join("sink.parquet");
        let seconds = fastest(Box::new(|| {
            let mut writer = ArrowWriter::try_new(File::create(&path)?, schema.clone(), Some(props.clone()))?;
            for batch in &batches {
                writer.write(batch)?;
                writer.flush()?;
            }
            writer.close()?;
            Ok(())
        }))?;
        sink_rows.push((name, seconds, std::fs::metadata(&path)?.len()));
    }

    for (name, seconds, size) in sink_rows {
        println!("{name:<52} {seconds:>9.2} {:>12.0} {:>9.1}", rate(seconds), mib(size));
    }
    Ok(())
}
