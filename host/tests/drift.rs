//! Week over week drift (`engage::drift`) on tables written here: a synthetic
//! shift of one feature is flagged (and only it), realized AUC comes from the
//! labels of the previous scoring week, segments migrate as scored.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use engage::capabilities::sql::athena::types::athena_type;
use engage::catalog::{Column, TableDef, TableFormat};
use engage::drift::{Labels, RunTables, Thresholds, compare};
use engage::files::ParquetFileWriter;
use engage::local_host::LocalHost;

const USERS: usize = 5000;
/// 2026-11-15 and 2026-11-22 as days since 1970-01-01.
const PREVIOUS_WEEK: i32 = 20407;
const CURRENT_WEEK: i32 = 20414;

/// A xorshift stream of uniforms in [0, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * (self.next() + 1e-12).ln()).sqrt() * (std::f64::consts::TAU * self.next()).cos()
    }
}

fn put(host: &LocalHost, db: &str, name: &str, batch: RecordBatch) {
    let dir = host.root.join("work").join(db).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut w = ParquetFileWriter::create(&dir.join("part-0.parquet"), batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    let columns = batch.schema().fields().iter().map(|f| Column { name: f.name().clone(), data_type: athena_type(f.data_type()).unwrap(), comment: None }).collect();
    let catalog = host.catalog();
    catalog.create_database(db).unwrap();
    catalog
        .put_table(&TableDef {
            database: db.into(),
            name: name.into(),
            location: format!("s3://work/{db}/{name}/"),
            format: TableFormat::Parquet,
            columns,
            partition_keys: Vec::new(),
            partitions: Vec::new(),
            properties: BTreeMap::new(),
        })
        .unwrap();
}

fn ids() -> ArrayRef {
    Arc::new(StringArray::from((0..USERS).map(|i| format!("u{i:05}")).collect::<Vec<_>>()))
}

/// One week's scoring features (sessions, tenure, spend; spend 10% missing)
/// and predictions; `shift` moves sessions by that many standard deviations,
/// `spend_missing` is spend's missing share (0.1 usually).
fn week(host: &LocalHost, db: &str, day: i32, seed: u64, shift: f64, spend_missing: f64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let mut cols: [Vec<Option<f64>>; 3] = Default::default();
    let mut probs = Vec::with_capacity(USERS);
    for _ in 0..USERS {
        let sessions = 10.0 + 3.0 * (rng.normal() + shift);
        let tenure = 400.0 * rng.next();
        let spend = (rng.next() >= spend_missing).then(|| 50.0 * rng.next());
        cols[0].push(Some(sessions));
        cols[1].push(Some(tenure));
        cols[2].push(spend);
        probs.push(1.0 / (1.0 + (-(sessions - 10.0) / 3.0).exp()));
    }
    let [s, t, m] = cols;
    let features = RecordBatch::try_from_iter([
        ("user_id", ids()),
        ("sessions", Arc::new(Float64Array::from(s)) as ArrayRef),
        ("tenure", Arc::new(Float64Array::from(t)) as ArrayRef),
        ("spend", Arc::new(Float64Array::from(m)) as ArrayRef),
    ])
    .unwrap();
    put(host, db, "scoring_features", features);
    let segments: StringArray = probs.iter().map(|&p| Some(if p >= 0.6 { "high" } else if p >= 0.3 { "medium" } else { "low" })).collect();
    let predictions = RecordBatch::try_from_iter([
        ("user_id", ids()),
        ("snapshot_date", Arc::new(Date32Array::from(vec![day; USERS])) as ArrayRef),
        ("probability", Arc::new(Float64Array::from(probs.clone())) as ArrayRef),
        ("segment", Arc::new(segments) as ArrayRef),
    ])
    .unwrap();
    put(host, db, "predictions", predictions);
    probs
}

fn tables(run_id: &str, db: &str) -> RunTables {
    RunTables {
        run_id: run_id.into(),
        predictions: format!("{db}.predictions"),
        features: format!("{db}.scoring_features"),
        feature_names: vec!["sessions".into(), "tenure".into(), "spend".into()],
        validation_auc: Some(0.80),
    }
}

/// The source table: last week's rows twice (delivered unlabelled, then again
/// with labels drawn from last week's scores), this week's rows unlabelled.
fn labels_arrive(host: &LocalHost, previous_probs: &[f64]) -> Vec<f32> {
    let mut rng = Rng(99);
    let labels: Vec<f32> = previous_probs.iter().map(|&p| (rng.next() < p) as u8 as f32).collect();
    let n = USERS * 3;
    let user: Vec<String> = (0..n).map(|i| format!("u{:05}", i % USERS)).collect();
    let day: Vec<i32> = (0..n).map(|i| if i < 2 * USERS { PREVIOUS_WEEK } else { CURRENT_WEEK }).collect();
    let label: Vec<Option<i64>> = (0..n).map(|i| (USERS..2 * USERS).contains(&i).then(|| labels[i % USERS] as i64)).collect();
    let batch = RecordBatch::try_from_iter([
        ("user_id", Arc::new(StringArray::from(user)) as ArrayRef),
        ("snapshot_date", Arc::new(Date32Array::from(day)) as ArrayRef),
        ("engaged_next_7d", Arc::new(Int64Array::from(label)) as ArrayRef),
    ])
    .unwrap();
    put(host, "engage", "users", batch);
    labels
}

#[test]
fn a_shifted_feature_is_flagged_and_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::open(dir.path()).unwrap();
    week(&host, "run_a", PREVIOUS_WEEK, 1, 0.0, 0.1);
    week(&host, "run_b", CURRENT_WEEK, 2, 1.0, 0.1);
    labels_arrive(&host, &vec![0.5; USERS]);
    let sql = host.sql().unwrap();
    let labels = Labels { table: "engage.users".into(), label: "engaged_next_7d".into() };
    let r = compare(sql.as_ref(), &tables("A", "run_a"), &tables("B", "run_b"), &labels, &Thresholds::default()).unwrap();
    let flagged: Vec<&str> = r.features.iter().filter(|f| f.warning).map(|f| f.name.as_str()).collect();
    assert_eq!(flagged, ["sessions"], "{:#?}", r.features);
    let psi: BTreeMap<&str, f64> = r.features.iter().map(|f| (f.name.as_str(), f.psi.unwrap())).collect();
    assert!(psi["sessions"] > 0.5 && psi["tenure"] < 0.05 && psi["spend"] < 0.05, "{psi:?}");
    let spend = r.features.iter().find(|f| f.name == "spend").unwrap();
    assert!((spend.missing_rate_previous - 0.1).abs() < 0.02 && (spend.missing_rate_current - 0.1).abs() < 0.02);
    assert!(r.warnings.iter().any(|w| w.starts_with("feature sessions: PSI")), "{:?}", r.warnings);
    assert!(!r.warnings.iter().any(|w| w.contains("tenure") || w.contains("spend")), "{:?}", r.warnings);
    // Scores follow sessions up: the score shift is flagged, users move up.
    let shift = r.score_shift.as_ref().unwrap();
    assert!(shift.mean_current > shift.mean_previous + 0.15 && shift.warning, "{shift:?}");
    assert_eq!(shift.histogram_current.iter().sum::<u64>(), USERS as u64);
    let m = &r.segment_migration;
    let total: u64 = m.values().flat_map(|row| row.values()).sum();
    assert_eq!(total, USERS as u64, "every user scored in both runs is in one cell");
    assert!(m["LOW"]["HIGH"] + m["LOW"]["MEDIUM"] + m["MEDIUM"]["HIGH"] > m["HIGH"]["LOW"] + m["HIGH"]["MEDIUM"] + m["MEDIUM"]["LOW"]);

    // Nothing moved (and no validation AUC to hold the realized one against): no warnings at all.
    let mut same = tables("A", "run_a");
    same.validation_auc = None;
    let r = compare(sql.as_ref(), &same, &same, &labels, &Thresholds::default()).unwrap();
    assert!(r.features.iter().all(|f| f.psi.unwrap() < 1e-9) && r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn realized_auc_comes_from_the_following_weeks_labels() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::open(dir.path()).unwrap();
    let previous = week(&host, "run_a", PREVIOUS_WEEK, 1, 0.0, 0.1);
    week(&host, "run_b", CURRENT_WEEK, 2, 0.0, 0.1);
    let labels = labels_arrive(&host, &previous);
    let probs: Vec<f32> = previous.iter().map(|&p| p as f32).collect();
    let expected = engage_boost::metrics::auc(&labels, &probs).unwrap();
    let sql = host.sql().unwrap();
    let source = Labels { table: "engage.users".into(), label: "engaged_next_7d".into() };
    let r = compare(sql.as_ref(), &tables("A", "run_a"), &tables("B", "run_b"), &source, &Thresholds::default()).unwrap();
    assert_eq!(r.realized_auc_rows, USERS as u64, "one labelled row per user of last week, the unlabelled copy left out");
    assert!((r.realized_auc.unwrap() - expected).abs() < 1e-9, "{:?} vs {expected}", r.realized_auc);
    // A model whose realized AUC falls well below its validation AUC is a warning.
    let mut optimistic = tables("A", "run_a");
    optimistic.validation_auc = Some(expected + 0.1);
    let r = compare(sql.as_ref(), &optimistic, &tables("B", "run_b"), &source, &Thresholds::default()).unwrap();
    assert!(r.warnings.iter().any(|w| w.starts_with("model: realized AUC")), "{:?}", r.warnings);
}

#[test]
fn a_feature_missing_in_every_row_has_no_psi() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::open(dir.path()).unwrap();
    week(&host, "run_a", PREVIOUS_WEEK, 1, 0.0, 0.1);
    week(&host, "run_b", CURRENT_WEEK, 2, 0.0, 1.0);
    labels_arrive(&host, &vec![0.5; USERS]);
    let sql = host.sql().unwrap();
    let labels = Labels { table: "engage.users".into(), label: "engaged_next_7d".into() };
    let r = compare(sql.as_ref(), &tables("A", "run_a"), &tables("B", "run_b"), &labels, &Thresholds::default()).unwrap();
    let spend = r.features.iter().find(|f| f.name == "spend").unwrap();
    assert_eq!(spend.psi, None, "all missing this week: no distribution, not the same one");
    assert_eq!(spend.missing_rate_current, 1.0);
    assert!(spend.warning && r.warnings.iter().any(|w| w.starts_with("feature spend: missing rate")), "{:?}", r.warnings);
    assert!(r.to_json()["features"].as_array().unwrap().iter().any(|f| f["name"] == "spend" && f["psi"].is_null()));
}
