//! The synthetic generator: deterministic bytes, conformance to the contract
//! (ingest accepts every row), persistent users, realistic shapes, and a label
//! that boosting learns better than a linear model, but not perfectly.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use engage::data::generate::{GenerateOptions, GenerateSummary, OutputFormat, generate};
use engage::data::ingest::{IngestOptions, ingest};
use engage::local_host::LocalHost;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn run(users: u64, weeks: u32, seed: u64, format: OutputFormat, out: &Path) -> GenerateSummary {
    let mut options = GenerateOptions::new(users, out);
    options.weeks = weeks;
    options.seed = seed;
    options.format = format;
    generate(&options).unwrap()
}

fn read_week(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn bytes_of(summary: &GenerateSummary) -> Vec<Vec<u8>> {
    summary.files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for format in [OutputFormat::Parquet, OutputFormat::Csv] {
        let a = run(3000, 3, 7, format, &dir.path().join("a"));
        let b = run(3000, 3, 7, format, &dir.path().join("b"));
        let c = run(3000, 3, 8, format, &dir.path().join("c"));
        assert_eq!(a.files.len(), 3);
        assert_eq!(bytes_of(&a), bytes_of(&b), "{format:?}: same seed, same bytes");
        assert_ne!(bytes_of(&a), bytes_of(&c), "{format:?}: another seed, other data");
    }
}

#[test]
fn the_bytes_do_not_depend_on_the_thread_count() {
    // More users than one chunk, so threads really split the work.
    let users = engage::data::generate::CHUNK_USERS as u64 + 4_500;
    let dir = tempfile::tempdir().unwrap();
    for format in [OutputFormat::Parquet, OutputFormat::Csv] {
        let outputs: Vec<Vec<Vec<u8>>> = [1, 2, 3]
            .into_iter()
            .map(|threads| {
                let mut options = GenerateOptions::new(users, dir.path().join(format!("{format:?}_{threads}")));
                options.weeks = 2;
                options.format = format;
                options.threads = threads;
                bytes_of(&generate(&options).unwrap())
            })
            .collect();
        assert_eq!(outputs[0], outputs[1], "{format:?}: 1 vs 2 threads");
        assert_eq!(outputs[0], outputs[2], "{format:?}: 1 vs 3 threads");
    }
    // Parquet row groups follow the chunks.
    let file = std::fs::File::open(dir.path().join("Parquet_1/users_2026-11-22.parquet")).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [engage::data::generate::CHUNK_USERS as i64, 4_500]);
}

#[test]
fn progress_counts_every_row_as_each_chunk_lands() {
    for threads in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut options = GenerateOptions::new(70_000, dir.path());
        options.weeks = 2;
        options.threads = threads;
        let seen = reports.clone();
        options.progress = engage::data::RowProgress::new(move |rows| seen.lock().unwrap().push(rows));
        let summary = generate(&options).unwrap();
        let reports = reports.lock().unwrap().clone();
        // Two chunks (65,536 users and the rest) in each of two weeks.
        assert_eq!(reports.iter().sum::<u64>(), summary.rows, "{threads} threads: {reports:?}");
        assert_eq!(reports.len(), 4, "{threads} threads: {reports:?}");
    }
}

#[test]
fn a_week_file_that_cannot_be_written_stops_the_run_before_it_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    // The newest week's file name is taken by a folder.
    std::fs::create_dir(dir.path().join("users_2026-11-22.parquet")).unwrap();
    let mut options = GenerateOptions::new(1000, dir.path());
    options.weeks = 2;
    let error = generate(&options).unwrap_err().to_string();
    assert!(error.contains("users_2026-11-22.parquet: is a folder"), "{error}");
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec!["users_2026-11-22.parquet"], "no other week and no partial file");
}

#[test]
fn files_are_weekly_sundays_and_the_newest_has_no_label() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(2000, 3, 1, OutputFormat::Parquet, dir.path());
    let names: Vec<String> = summary.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["users_2026-11-08.parquet", "users_2026-11-15.parquet", "users_2026-11-22.parquet"]);
    let weeks: Vec<RecordBatch> = summary.files.iter().map(|f| read_week(f)).collect();
    for (i, week) in weeks.iter().enumerate() {
        assert_eq!(week.num_rows(), 2000);
        assert_eq!(week.num_columns(), 75);
        let label = week.column_by_name("engaged_next_7d").unwrap();
        if i + 1 < weeks.len() {
            assert_eq!(label.null_count(), 0, "training weeks carry the label");
        } else {
            assert_eq!(label.null_count(), 2000, "the newest week is the one to score");
        }
    }
    // Users persist: the same ids every week, and their tenure moves on by 7 days.
    let ids = |b: &RecordBatch| b.column_by_name("user_id").unwrap().as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&weeks[0]), ids(&weeks[2]));
    let tenure = |b: &RecordBatch| b.column_by_name("tenure_days").unwrap().as_primitive::<Int64Type>().value(17);
    assert_eq!(tenure(&weeks[1]) - tenure(&weeks[0]), 7);
}

#[test]
fn row_groups_carry_the_key_ranges_a_reader_prunes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Two 65,536-user chunks: two row groups.
    let summary = run(70_000, 1, 3, OutputFormat::Parquet, dir.path());
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&summary.files[0]).unwrap()).unwrap();
    let metadata = reader.metadata().clone();
    assert_eq!(metadata.num_row_groups(), 2);
    let groups = metadata.row_groups();
    let column = |group: usize, name: &str| groups[group].columns().iter().find(|c| c.column_path().string() == name).unwrap();
    let range = |group: usize| match column(group, "user_id").statistics() {
        Some(parquet::file::statistics::Statistics::ByteArray(s)) => {
            let text = |b: Option<&parquet::data_type::ByteArray>| String::from_utf8(b.unwrap().data().to_vec()).unwrap();
            (text(s.min_opt()), text(s.max_opt()))
        }
        other => panic!("user_id statistics: {other:?}"),
    };
    let (first, second) = (range(0), range(1));
    assert!(first.0 < first.1 && first.1 < second.0 && second.0 < second.1, "{first:?} then {second:?}");
    assert!(column(0, "snapshot_date").statistics().is_some());
    // Independent users span every feature's range in every group: no statistics to write.
    assert!(column(0, "sessions_7d").statistics().is_none());
}

#[test]
fn parquet_and_csv_of_one_seed_hold_the_same_rows() {
    // Two row groups, so the second chunk's pages are checked too.
    let users = engage::data::generate::CHUNK_USERS as u64 + 1_500;
    let dir = tempfile::tempdir().unwrap();
    let parquet = run(users, 2, 11, OutputFormat::Parquet, &dir.path().join("p"));
    let csv = run(users, 2, 11, OutputFormat::Csv, &dir.path().join("c"));
    for (parquet_file, csv_file) in parquet.files.iter().zip(&csv.files) {
        let from_parquet = read_week(parquet_file);
        let reader = arrow::csv::ReaderBuilder::new(from_parquet.schema())
            .with_header(true)
            .with_batch_size(8192)
            .build(std::fs::File::open(csv_file).unwrap())
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let from_csv = arrow::compute::concat_batches(&from_parquet.schema(), &batches).unwrap();
        assert_eq!(from_parquet.num_rows(), users as usize);
        for (field, (a, b)) in from_parquet.schema().fields().iter().zip(from_parquet.columns().iter().zip(from_csv.columns())) {
            assert_eq!(a.as_ref(), b.as_ref(), "{}: column {}", parquet_file.display(), field.name());
        }
    }
}

/// The generator encodes its own Parquet pages: a reader that shares no code
/// with the parquet crate (Arrow C++, through pyarrow) must read the same rows
/// as the CSV of the same seed.
#[test]
fn another_parquet_implementation_reads_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let users = engage::data::generate::CHUNK_USERS as u64 + 700;
    let parquet = run(users, 2, 4, OutputFormat::Parquet, &dir.path().join("p"));
    let csv = run(users, 2, 4, OutputFormat::Csv, &dir.path().join("c"));
    let python = std::env::var("ENGAGE_PYTHON")
        .unwrap_or_else(|_| panic!("set ENGAGE_PYTHON to a Python with pyarrow (pip install -r tests/requirements.txt; scripts/test.sh does both)"));
    // Country codes include Namibia's "NA": only an empty field is missing.
    let script = r#"
import sys, pyarrow.parquet as pq, pyarrow.csv as pc
for parquet, csv in zip(sys.argv[1::2], sys.argv[2::2]):
    table = pq.read_table(parquet)
    options = pc.ConvertOptions(column_types=table.schema, strings_can_be_null=True, null_values=[""])
    expected = pc.read_csv(csv, convert_options=options).select(table.schema.names).cast(table.schema)
    differ = [name for name in table.schema.names if not table[name].equals(expected[name])]
    print(parquet, table.num_rows, pq.ParquetFile(parquet).metadata.num_row_groups, "differ:", differ)
"#;
    let mut command = std::process::Command::new(&python);
    command.arg("-c").arg(script);
    for (p, c) in parquet.files.iter().zip(&csv.files) {
        command.arg(p).arg(c);
    }
    let output = command.output().unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "pyarrow failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        assert!(line.ends_with(&format!(" {users} 2 differ: []")), "{line}");
    }
}

#[test]
fn every_generated_row_passes_ingest_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for (format, table) in [(OutputFormat::Csv, "gen_csv"), (OutputFormat::Parquet, "gen_parquet")] {
        let out = dir.path().join(table);
        run(3000, 2, 3, format, &out);
        let host = LocalHost::open(&dir.path().join("root")).unwrap();
        let report = ingest(host.storage.as_ref(), host.catalog.as_ref(), &out, &IngestOptions::new(table)).unwrap();
        assert!(report.balances());
        assert_eq!((report.rows_read, report.rows_accepted, report.rows_quarantined), (6000, 6000, 0), "{report}");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }
}

fn f64_column(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = cast(batch.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
    column.as_primitive::<Float64Type>().iter().collect()
}

fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q) as usize]
}

#[test]
fn distributions_look_like_real_users() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(20_000, 2, 11, OutputFormat::Parquet, dir.path());
    let week = read_week(&summary.files[0]);
    let present = |name: &str| f64_column(&week, name).into_iter().flatten().collect::<Vec<f64>>();

    // Heavy tails: the top of sessions and revenue is far above the median.
    let sessions = present("sessions_30d");
    assert!(quantile(sessions.clone(), 0.99) > 5.0 * quantile(sessions.clone(), 0.5).max(1.0), "sessions tail");
    let revenue: Vec<f64> = present("revenue_90d").into_iter().filter(|v| *v > 0.0).collect();
    assert!(quantile(revenue.clone(), 0.99) > 8.0 * quantile(revenue, 0.5), "revenue tail");
    let week_sessions = present("sessions_7d");
    let inactive = week_sessions.iter().filter(|v| **v == 0.0).count() as f64 / week_sessions.len() as f64;
    assert!((0.05..0.5).contains(&inactive), "some users were inactive this week: {inactive}");

    // Correlated windows: 7 ≤ 30 ≤ 90 days, always, and strongly correlated.
    let (s7, s30, s90) = (present("sessions_7d"), present("sessions_30d"), present("sessions_90d"));
    assert!(s7.iter().zip(&s30).zip(&s90).all(|((a, b), c)| a <= b && b <= c));
    let corr = {
        let n = s7.len() as f64;
        let (ma, mb) = (s7.iter().sum::<f64>() / n, s30.iter().sum::<f64>() / n);
        let cov: f64 = s7.iter().zip(&s30).map(|(a, b)| (a - ma) * (b - mb)).sum();
        let va: f64 = s7.iter().map(|a| (a - ma).powi(2)).sum();
        let vb: f64 = s30.iter().map(|b| (b - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    assert!(corr > 0.7, "sessions_7d and sessions_30d correlate: {corr}");

    // Missing values where they make sense.
    for (name, low, high) in [("age", 0.03, 0.1), ("nps_score", 0.6, 0.8), ("region", 0.03, 0.08), ("avg_ticket_resolution_hours", 0.5, 0.95)] {
        let column = week.column_by_name(name).unwrap();
        let share = column.null_count() as f64 / week.num_rows() as f64;
        assert!((low..high).contains(&share), "{name}: {share} missing");
    }

    // Categorical skew: the commonest plan and country dominate.
    let count = |name: &str, value: &str| {
        week.column_by_name(name).unwrap().as_string::<i32>().iter().filter(|v| *v == Some(value)).count() as f64 / week.num_rows() as f64
    };
    assert!(count("plan", "free") > 0.45 && count("plan", "enterprise") < 0.1);
    assert!(count("country", "US") > 0.25);
    let countries: HashSet<&str> = week.column_by_name("country").unwrap().as_string::<i32>().iter().flatten().collect();
    assert!(countries.len() > 100, "a long tail of countries");

    let positive = f64_column(&week, "engaged_next_7d").into_iter().flatten().sum::<f64>() / week.num_rows() as f64;
    assert!((0.2..0.6).contains(&positive), "label base rate {positive}");
}

/// The weekly model's 14 features (plugins/engagement-features), computed here.
fn model_features(batch: &RecordBatch) -> RecordBatch {
    let col = |name: &str| f64_column(batch, name);
    let zero = |v: Option<f64>| v.unwrap_or(0.0);
    let n = batch.num_rows();
    let (s7, s30) = (col("sessions_7d"), col("sessions_30d"));
    let ratio = |a: &[Option<f64>], b: &[Option<f64>]| -> Vec<f64> {
        (0..n).map(|i| if zero(b[i]) > 0.0 { zero(a[i]) / zero(b[i]) } else { 0.0 }).collect()
    };
    let map = |a: Vec<Option<f64>>, f: &dyn Fn(f64) -> f64| -> Vec<f64> { a.into_iter().map(|v| f(zero(v))).collect() };
    let decay = |a: Vec<Option<f64>>, scale: f64| -> Vec<f64> { a.into_iter().map(|d| d.map_or(0.0, |d| (-d.max(0.0) / scale).exp())).collect() };
    let sum3 = |a: &str, b: &str, c: &str| -> Vec<Option<f64>> {
        let (a, b, c) = (col(a), col(b), col(c));
        (0..n).map(|i| Some(zero(a[i]) + zero(b[i]) + zero(c[i]))).collect()
    };
    let trend: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (zero(s7[i]) / 7.0, zero(s30[i]) / 30.0);
            if b > 0.0 { (a / b).min(5.0) } else if a > 0.0 { 5.0 } else { 0.0 }
        })
        .collect();
    let friction: Vec<Option<f64>> = {
        let (a, b) = (col("support_tickets_90d"), col("complaints_90d"));
        (0..n).map(|i| Some(zero(a[i]) + zero(b[i]))).collect()
    };
    let features: Vec<(&str, Vec<f64>)> = vec![
        ("sessions_per_day_7d", map(s7.clone(), &|v| v / 7.0)),
        ("session_trend", trend),
        ("active_day_share_7d", map(col("active_days_7d"), &|v| v / 7.0)),
        ("active_day_share_30d", map(col("active_days_30d"), &|v| v / 30.0)),
        ("session_recency", decay(col("days_since_last_session"), 7.0)),
        ("log_session_minutes", map(col("avg_session_minutes_30d"), &f64::ln_1p)),
        ("core_actions_per_session_7d", ratio(&col("core_actions_7d"), &s7)),
        ("log_content_actions_30d", map(sum3("items_saved_30d", "shares_30d", "comments_30d"), &f64::ln_1p)),
        ("feature_breadth_30d", map(col("features_used_distinct_30d"), &|v| v)),
        ("email_open_rate_30d", ratio(&col("email_opens_30d"), &col("emails_sent_30d"))),
        ("push_open_rate_30d", ratio(&col("push_opens_30d"), &col("push_sent_30d"))),
        ("purchase_recency", decay(col("days_since_last_purchase"), 30.0)),
        ("log_revenue_90d", map(col("revenue_90d"), &f64::ln_1p)),
        ("support_friction_90d", map(friction, &f64::ln_1p)),
    ];
    let mut fields: Vec<Field> = features.iter().map(|(name, _)| Field::new(*name, DataType::Float64, false)).collect();
    fields.push(Field::new("label", DataType::Float64, false));
    let mut arrays: Vec<Arc<dyn Array>> = features.into_iter().map(|(_, v)| Arc::new(Float64Array::from(v)) as Arc<dyn Array>).collect();
    arrays.push(Arc::new(Float64Array::from(map(col("engaged_next_7d"), &|v| v))));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

#[test]
fn last_weeks_label_predicts_this_weeks_better_with_boosting_than_linear() {
    let dir = tempfile::tempdir().unwrap();
    // Weeks 1-2 train, week 3 tests (as the weekly run does); week 4 is the scoring week.
    let summary = run(30_000, 4, 5, OutputFormat::Parquet, dir.path());
    let train: Vec<RecordBatch> = summary.files[..2].iter().map(|f| model_features(&read_week(f))).collect();
    let test = model_features(&read_week(&summary.files[2]));
    let names: Vec<String> = train[0].schema().fields().iter().map(|f| f.name().clone()).filter(|n| n != "label").collect();

    let params = engage_boost::Params { n_rounds: 150, eta: 0.1, max_depth: 5, seed: 1, ..Default::default() };
    let gbm = engage_boost::train_batches_with_features(&train, "label", &names, None, &params).unwrap();
    let gbm_probs = gbm.model.predict_batch(&test).unwrap().probability;
    let linear = engage_boost::baseline::LogisticBaseline::fit(&train, "label", &names).unwrap();
    let linear_probs = linear.predict_batch(&test).unwrap();

    let labels: Vec<f32> = test.column_by_name("label").unwrap().as_primitive::<Float64Type>().values().iter().map(|v| *v as f32).collect();
    let gbm_auc = engage_boost::metrics::auc(&labels, &gbm_probs).unwrap();
    let linear_auc = engage_boost::metrics::auc(&labels, &linear_probs).unwrap();
    eprintln!("test AUC: boosting {gbm_auc:.4}, logistic {linear_auc:.4}");
    assert!(gbm_auc > linear_auc + 0.02, "boosting {gbm_auc:.4} should beat logistic {linear_auc:.4} clearly");
    assert!(gbm_auc > 0.75, "the label is learnable: {gbm_auc:.4}");
    assert!(gbm_auc < 0.95, "the label is noisy: {gbm_auc:.4}");
}
