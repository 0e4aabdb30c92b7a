//! Ingest against every bad-input rule of DATA.md, one test each, plus the
//! processed-zone layout, the catalog, replacement, and the CLI path.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use engage::capabilities::storage::ObjectStore;
use engage::catalog::Catalog;
use engage::data::ingest::landed::mark_ingested;
use engage::data::ingest::{IngestOptions, IngestReport, ingest, ingest_files, staging};
use engage::data::schema::{self, FEATURES};
use engage::local_host::LocalHost;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const SUNDAY: &str = "2026-11-22";
const TABLE: &str = "users";

/// A valid row as (column, value) in header order.
fn valid_row(user_id: &str, date: &str) -> Vec<(&'static str, String)> {
    let mut row = vec![("user_id", user_id.to_string()), ("snapshot_date", date.to_string())];
    for spec in FEATURES.iter() {
        let value = match spec.name {
            "age" => "34",
            "gender" => "F",
            "country" => "US",
            "region" => "US-R1",
            "plan" => "pro",
            "acquisition_channel" => "organic",
            "primary_device" => "ios",
            "seats" => "2",
            "monthly_fee" => "29.99",
            "discount_pct" => "0.1",
            "weekend_session_share_30d" => "0.25",
            "nps_score" => "8",
            "csat_last" => "4",
            "active_days_7d" => "3",
            "is_paying" | "notifications_enabled" | "unsubscribed_email" | "sms_opt_in" | "newsletter_subscriber" => "1",
            _ => "5",
        };
        row.push((spec.name, value.to_string()));
    }
    row.push(("engaged_next_7d", "1".to_string()));
    row
}

fn set(row: &mut [(&'static str, String)], column: &str, value: &str) {
    row.iter_mut().find(|(c, _)| *c == column).unwrap_or_else(|| panic!("no column {column}")).1 = value.to_string();
}

fn header() -> String {
    schema::all_column_names().join(",")
}

fn line(row: &[(&'static str, String)]) -> String {
    row.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")
}

/// A CSV with `n` valid rows (users u0..u{n-1}) and the given extra lines appended.
fn csv_text(n: usize, extra_lines: &[String]) -> String {
    let mut text = header() + "\n";
    for i in 0..n {
        text += &line(&valid_row(&format!("u{i}"), SUNDAY));
        text += "\n";
    }
    for extra in extra_lines {
        text += extra;
        text += "\n";
    }
    text
}

struct Env {
    _dir: tempfile::TempDir,
    input: PathBuf,
    host: LocalHost,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let host = LocalHost::open(&dir.path().join("root")).unwrap();
    Env { _dir: dir, input, host }
}

impl Env {
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.input.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn options(&self) -> IngestOptions {
        IngestOptions::new(TABLE)
    }

    fn ingest(&self, path: &Path) -> anyhow::Result<IngestReport> {
        self.ingest_with(path, &self.options())
    }

    fn ingest_with(&self, path: &Path, options: &IngestOptions) -> anyhow::Result<IngestReport> {
        ingest(self.host.storage.as_ref(), self.host.catalog.as_ref(), path, options)
    }

    /// Ingests, expects success, and checks the accounting on every path it is kept.
    fn ingest_ok(&self, path: &Path) -> IngestReport {
        let report = self.ingest(path).unwrap_or_else(|e| panic!("ingest failed: {e:#}"));
        self.check_accounting(&report);
        report
    }

    fn check_accounting(&self, report: &IngestReport) {
        assert!(report.balances(), "accounting does not balance: {report:?}");
        let stored = self
            .host
            .storage
            .get("processed", &format!("_ingest/{TABLE}/{}.json", report.ingest_id))
            .expect("the accounting is stored");
        let stored: IngestReport = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored.rows_read, report.rows_read);
        assert_eq!(stored.rows_accepted, report.rows_accepted);
        assert_eq!(stored.rows_quarantined, report.rows_quarantined);
        // The tables agree with the accounting: the quarantine holds the rows of
        // every load whose snapshots were not loaded again since, this one's included.
        assert_eq!(self.quarantine_rows().len() as u64, self.live_side_rows(&format!("{TABLE}_quarantine")));
        assert!(self.live_side_rows(&format!("{TABLE}_quarantine")) >= report.rows_quarantined);
        let accepted: u64 = self.snapshot_rows().values().sum();
        assert!(accepted >= report.rows_accepted);
    }

    /// The rows of a side table's parts that the catalog still lists.
    fn live_side_rows(&self, table: &str) -> u64 {
        let Some(table) = self.host.catalog.table("engage", table).unwrap() else { return 0 };
        table
            .properties
            .iter()
            .filter(|(k, _)| k.starts_with("part."))
            .map(|(_, v)| v.strip_prefix("rows=").unwrap().split(';').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }

    fn read_parquet(&self, bucket: &str, prefix: &str) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        for object in self.host.storage.list_all(bucket, prefix).unwrap() {
            let path = self.host.storage.local_path(bucket, &object.key).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
            batches.extend(reader.map(|b| b.unwrap()));
        }
        batches
    }

    /// (source_file, line_number, raw_line, reasons) of every quarantined row.
    fn quarantine_rows(&self) -> Vec<(String, i64, String, String)> {
        let mut rows = Vec::new();
        for batch in self.read_parquet("processed", &format!("{TABLE}_quarantine/")) {
            let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
            let (file, raw, reasons) = (text("source_file"), text("raw_line"), text("reasons"));
            let lines = batch.column_by_name("line_number").unwrap().as_primitive::<Int64Type>().clone();
            for i in 0..batch.num_rows() {
                rows.push((file.value(i).to_string(), lines.value(i), raw.value(i).to_string(), reasons.value(i).to_string()));
            }
        }
        rows
    }

    /// Rows per snapshot date, read from the files the catalog points at.
    fn snapshot_rows(&self) -> BTreeMap<String, u64> {
        let Some(table) = self.host.catalog.table("engage", TABLE).unwrap() else { return BTreeMap::new() };
        table
            .partitions
            .iter()
            .map(|p| {
                let (bucket, prefix) = engage::catalog::parse_location(&p.location).unwrap();
                let rows = self.read_parquet(&bucket, &prefix).iter().map(|b| b.num_rows() as u64).sum();
                (p.values[0].clone(), rows)
            })
            .collect()
    }

    /// Every object in the processed and catalog buckets.
    fn everything_written(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for bucket in ["processed", "catalog"] {
            keys.extend(self.host.storage.list_all(bucket, "").unwrap().into_iter().map(|o| format!("{bucket}/{}", o.key)));
        }
        keys
    }

    /// Expects a clean failure whose message contains every `needle`, with nothing written.
    fn expect_failure(&self, path: &Path, options: &IngestOptions, needles: &[&str]) {
        let before = self.everything_written();
        let error = format!("{:#}", self.ingest_with(path, options).expect_err("ingest should fail"));
        assert!(!error.contains('\n'), "an error is one line: {error:?}");
        for needle in needles {
            assert!(error.contains(needle), "error {error:?} should mention {needle:?}");
        }
        assert_eq!(self.everything_written(), before, "a failed ingest must not change storage or catalog");
        let tmp = self.host.root.join(".engage-tmp");
        assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0, "no temporary files left behind");
    }
}

/// Ingests one CSV of 100 valid rows plus `bad` lines; expects every bad line
/// quarantined with a reason containing `reason`.
fn expect_quarantined(bad: &[String], reason: &str) -> (Env, Vec<(String, i64, String, String)>) {
    let env = env();
    let path = env.write("snap.csv", csv_text(100, bad).as_bytes());
    let mut options = env.options();
    options.max_bad_fraction = 0.5;
    let report = env.ingest_with(&path, &options).unwrap();
    env.check_accounting(&report);
    assert_eq!(report.rows_read, 100 + bad.len() as u64);
    assert_eq!(report.rows_quarantined, bad.len() as u64);
    let rows = env.quarantine_rows();
    assert_eq!(rows.len(), bad.len());
    for (i, (file, line_number, raw, reasons)) in rows.iter().enumerate() {
        assert!(file.ends_with("snap.csv"));
        assert_eq!(*line_number, 102 + i as i64, "header is line 1, 100 good rows follow");
        assert_eq!(raw, &bad[i], "the raw line is kept verbatim");
        assert!(reasons.contains(reason), "reasons {reasons:?} should contain {reason:?}");
    }
    (env, rows)
}

// ---- file-level problems: a clear error naming the file, nothing written ----

#[test]
fn unreadable_file_is_a_file_error() {
    let env = env();
    let missing = env.input.join("nope.csv");
    env.expect_failure(&missing, &env.options(), &["nope.csv", "cannot read"]);
}

#[test]
fn empty_file_is_a_file_error() {
    let env = env();
    let path = env.write("empty.csv", b"");
    env.expect_failure(&path, &env.options(), &["empty.csv", "empty"]);
}

#[test]
fn header_without_rows_is_a_file_error() {
    let env = env();
    let path = env.write("header_only.csv", (header() + "\n").as_bytes());
    env.expect_failure(&path, &env.options(), &["header_only.csv", "no data rows"]);
}

#[test]
fn missing_header_is_a_file_error() {
    let env = env();
    let text = format!("{}\n{}\n", line(&valid_row("u1", SUNDAY)), line(&valid_row("u2", SUNDAY)));
    let path = env.write("noheader.csv", text.as_bytes());
    env.expect_failure(&path, &env.options(), &["noheader.csv", "no header row"]);
}

#[test]
fn missing_required_column_is_a_file_error() {
    let env = env();
    let names: Vec<&str> = schema::all_column_names().into_iter().filter(|c| *c != "plan").collect();
    let row: Vec<String> = valid_row("u1", SUNDAY).into_iter().filter(|(c, _)| *c != "plan").map(|(_, v)| v).collect();
    let path = env.write("noplan.csv", format!("{}\n{}\n", names.join(","), row.join(",")).as_bytes());
    env.expect_failure(&path, &env.options(), &["noplan.csv", "required column missing: plan"]);
}

#[test]
fn not_csv_or_parquet_is_a_file_error() {
    let env = env();
    let path = env.write("snapshot.bin", &[0x00, 0x01, 0x02, 0x03, 0xff, 0xfe]);
    env.expect_failure(&path, &env.options(), &["snapshot.bin", "not a Parquet or CSV file"]);
    let fake = env.write("fake.parquet", b"this is not parquet at all");
    env.expect_failure(&fake, &env.options(), &["fake.parquet", "not a readable Parquet file"]);
}

#[test]
fn files_copied_in_from_a_store_are_named_by_their_origin_and_copied_once() {
    let env = env();
    let mut bad = valid_row("u-bad", SUNDAY);
    set(&mut bad, "age", "twelve");
    let store = env.host.storage.as_ref();
    store.put("landing", "users/snap.csv", csv_text(100, &[line(&bad)]).as_bytes()).unwrap();
    store.put("landing", "users/_SUCCESS", b"").unwrap();

    let staged = staging::stage(store, TABLE, "landing", "users/", true).unwrap();
    assert_eq!(staged.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>(), ["snap.csv"]);
    let mut options = env.options();
    options.copied_from = Some((staged.dir.path().to_path_buf(), staged.origin.clone()));
    let report = ingest_files(store, env.host.catalog.as_ref(), &staged.files, &options).unwrap();
    env.check_accounting(&report);
    mark_ingested(store, TABLE, &staged.files, &report).unwrap();
    let rows = env.quarantine_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "s3://landing/users/snap.csv", "the quarantine names the object, not its copy");

    let again = staging::stage(store, TABLE, "landing", "users/", true).unwrap();
    assert!(again.files.is_empty(), "a file the table took in is not copied again");
    assert_eq!(again.skipped, ["snap.csv"]);
    let staged_dir = staged.dir.path().to_path_buf();
    drop(staged);
    assert!(!staged_dir.exists(), "the copies are removed");
}

#[test]
fn a_bad_file_in_a_folder_stops_the_whole_ingest() {
    let env = env();
    env.write("a.csv", csv_text(10, &[]).as_bytes());
    env.write("b.csv", b"");
    env.expect_failure(&env.input, &env.options(), &["b.csv", "empty"]);
}

// ---- row-level problems: quarantined verbatim with line and reason ----

#[test]
fn wrong_field_count_is_quarantined() {
    let short = line(&valid_row("short", SUNDAY)).rsplit_once(',').unwrap().0.to_string();
    let long = line(&valid_row("long", SUNDAY)) + ",extra";
    expect_quarantined(&[short, long], "fields, the header has 75");
}

#[test]
fn a_quote_left_open_is_named_as_the_likely_cause() {
    let env = env();
    let mut open_quote = valid_row("open", SUNDAY);
    set(&mut open_quote, "region", "\"US-R1");
    let text = csv_text(60, &[line(&open_quote), line(&valid_row("next1", SUNDAY)), line(&valid_row("next2", SUNDAY))]);
    let path = env.write("quote.csv", text.as_bytes());
    let mut options = env.options();
    options.max_bad_fraction = 0.5;
    let report = env.ingest_with(&path, &options).unwrap();
    env.check_accounting(&report);
    assert_eq!(report.rows_quarantined, 1, "the open quote swallows the two lines after it into one record");
    let reasons = &env.quarantine_rows()[0].3;
    assert!(reasons.contains("field 6 opens a quote that runs over the next 2 line(s)"), "{reasons}");
    assert_eq!(report.lines_taken_in, 2);
}

/// `engage ingest part2.csv` after both parts of a snapshot were ingested together replaces the snapshot
/// with part2 alone, as asked; the report says which earlier file's rows that left out.
#[test]
fn replacing_a_snapshot_from_one_of_its_files_names_the_files_left_out() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let text = csv_text(10, &[]);
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    std::fs::write(dir.path().join("part1.csv"), format!("{header}\n{}\n", rows[..5].join("\n"))).unwrap();
    std::fs::write(dir.path().join("part2.csv"), format!("{header}\n{}\n", rows[5..].join("\n"))).unwrap();
    env.ingest_with(dir.path(), &env.options()).unwrap();
    let report = env.ingest_with(&dir.path().join("part2.csv"), &env.options()).unwrap();
    let warnings = report.warnings.join("\n");
    assert!(warnings.contains("was loaded before from part1.csv as well; this ingest replaced it without it"), "{warnings}");
}

/// One quote left open near the top takes in the rest of the file as a single bad row. Counted as one
/// row, it stayed under the ceiling and the load committed a fraction of the users; the lines it took in
/// count as quarantined, so the ceiling stops the load.
#[test]
fn lines_a_quote_left_open_takes_in_count_toward_the_ceiling() {
    let env = env();
    let mut open_quote = valid_row("open", SUNDAY);
    set(&mut open_quote, "region", "\"US-R1");
    let rest: Vec<String> = (0..150).map(|i| line(&valid_row(&format!("after{i}"), SUNDAY))).collect();
    let rows: Vec<String> = std::iter::once(line(&open_quote)).chain(rest).collect();
    let text = csv_text(50, &rows);
    let path = env.write("openquote.csv", text.as_bytes());
    let err = env.ingest_with(&path, &env.options()).unwrap_err().to_string();
    assert!(err.contains("1 of 51 rows, and 150 more lines taken in by quotes left open,") && err.contains("nothing was written"), "{err}");
}

#[test]
fn unparsable_integer_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "sessions_7d", "abc");
    expect_quarantined(&[line(&row)], "sessions_7d: 'abc' is not an integer");
}

#[test]
fn unparsable_number_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "monthly_fee", "12;5");
    expect_quarantined(&[line(&row)], "monthly_fee: '12;5' is not a number");
}

#[test]
fn integer_out_of_range_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "age", "140");
    expect_quarantined(&[line(&row)], "age: 140 is out of range 13-110");
}

#[test]
fn negative_count_and_share_above_one_are_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "sessions_30d", "-1");
    set(&mut row, "discount_pct", "1.5");
    let (_, rows) = expect_quarantined(&[line(&row)], "sessions_30d: -1 is out of range >= 0");
    assert!(rows[0].3.contains("discount_pct: 1.5 is out of range 0-1"));
}

#[test]
fn bad_category_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "plan", "gold");
    expect_quarantined(&[line(&row)], "plan: 'gold' is not one of free, basic, pro, enterprise");
}

#[test]
fn bad_country_code_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "country", "XX");
    expect_quarantined(&[line(&row)], "country: 'XX' is not an ISO 3166 alpha-2 country code");
}

#[test]
fn missing_required_value_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "tenure_days", "");
    let mut no_id = valid_row("", SUNDAY);
    set(&mut no_id, "user_id", "");
    let (_, rows) = expect_quarantined(&[line(&row), line(&no_id)], "missing (required)");
    assert!(rows[0].3.contains("tenure_days: missing (required)"));
    assert!(rows[1].3.contains("user_id: missing (required)"));
}

#[test]
fn bad_snapshot_date_is_quarantined() {
    let mut monday = valid_row("monday", SUNDAY);
    set(&mut monday, "snapshot_date", "2026-11-23");
    let mut garbage = valid_row("garbage", SUNDAY);
    set(&mut garbage, "snapshot_date", "22/11/2026");
    let mut garbage_time = valid_row("garbage_time", SUNDAY);
    set(&mut garbage_time, "snapshot_date", "22/11/2026 00:00");
    let mut suffix = valid_row("suffix", SUNDAY);
    set(&mut suffix, "snapshot_date", "2026-11-22x");
    let bad = [line(&monday), line(&garbage), line(&garbage_time), line(&suffix)];
    let (_, rows) = expect_quarantined(&bad, "snapshot_date: ");
    assert!(rows[0].3.contains("2026-11-23 is a Mon, not a Sunday"), "{}", rows[0].3);
    assert!(rows[1].3.contains("'22/11/2026' is not a date (YYYY-MM-DD)"));
    assert!(rows[2].3.contains("'22/11/2026 00:00' is not a date (YYYY-MM-DD)"), "{}", rows[2].3);
    assert!(rows[3].3.contains("'2026-11-22x' is not a date (YYYY-MM-DD)"), "{}", rows[3].3);
}

#[test]
fn dates_written_as_midnight_timestamps_are_dates() {
    let env = env();
    let times = ["2026-11-22 00:00:00", "2026-11-22T00:00:00Z", "2026-11-22T00:00:00.000", "2026-11-22T00:00:00+00:00"];
    let mut lines: Vec<String> = Vec::new();
    for (i, time) in times.iter().enumerate() {
        let mut row = valid_row(&format!("t{i}"), SUNDAY);
        set(&mut row, "snapshot_date", time);
        lines.push(line(&row));
    }
    let mut afternoon = valid_row("afternoon", SUNDAY);
    set(&mut afternoon, "snapshot_date", "2026-11-22T13:45:00");
    lines.push(line(&afternoon));
    let mut options = env.options();
    options.max_bad_fraction = 0.5;
    let report = env.ingest_with(&env.write("times.csv", csv_text(0, &lines).as_bytes()), &options).unwrap();
    assert_eq!((report.rows_accepted, report.rows_quarantined), (4, 1));
    assert_eq!(report.snapshots[SUNDAY], 4);
    let reasons = &report.first_rejected[0].reasons;
    assert_eq!(reasons, &vec!["snapshot_date: '2026-11-22T13:45:00' has a time of day; a snapshot date is a date (YYYY-MM-DD)".to_string()]);

    // A Parquet file whose snapshot_date is a timestamp column (pandas writes dates so).
    let csv = env.write("source.csv", csv_text(5, &[]).as_bytes());
    let (schema, batches) = engage::files::read_batches(&csv, 1000).unwrap();
    std::fs::remove_file(&csv).unwrap();
    let batch = batches.map(Result::unwrap).next().unwrap();
    let at = schema.index_of("snapshot_date").unwrap();
    let midnight = chrono::NaiveDate::parse_from_str(SUNDAY, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros();
    let timestamps: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![midnight; batch.num_rows()]));
    let mut fields: Vec<arrow::datatypes::Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[at] = arrow::datatypes::Field::new("snapshot_date", timestamps.data_type().clone(), false);
    let mut columns = batch.columns().to_vec();
    columns[at] = timestamps;
    let batch = RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let parquet = env.input.join("timestamps.parquet");
    let mut writer = engage::files::ParquetFileWriter::create(&parquet, batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    std::fs::remove_file(env.input.join("times.csv")).unwrap();
    let report = env.ingest_ok(&parquet);
    assert_eq!((report.rows_accepted, report.rows_quarantined), (5, 0));
    assert_eq!(report.snapshots[SUNDAY], 5);
}

#[test]
fn bad_label_is_quarantined() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "engaged_next_7d", "2");
    expect_quarantined(&[line(&row)], "engaged_next_7d: '2' is not 0 or 1");
}

#[test]
fn every_reason_of_a_row_is_listed() {
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "age", "140");
    set(&mut row, "plan", "gold");
    let (_, rows) = expect_quarantined(&[line(&row)], "age: 140 is out of range 13-110; plan: 'gold' is not one of free, basic, pro, enterprise");
    assert_eq!(rows[0].3.matches("; ").count(), 1, "exactly two reasons: {}", rows[0].3);
}

#[test]
fn duplicate_user_id_in_a_snapshot_is_quarantined() {
    // u5 is already among the 100 valid rows.
    let (env, _) = expect_quarantined(&[line(&valid_row("u5", SUNDAY))], "user_id: 'u5' appears more than once in snapshot 2026-11-22");
    assert_eq!(env.snapshot_rows()[SUNDAY], 100);
}

#[test]
fn same_user_in_different_snapshots_is_not_a_duplicate() {
    let env = env();
    let text = csv_text(3, &[line(&valid_row("u1", "2026-11-15"))]);
    let path = env.write("two_weeks.csv", text.as_bytes());
    let report = env.ingest_ok(&path);
    assert_eq!(report.rows_quarantined, 0);
    assert_eq!(env.snapshot_rows(), BTreeMap::from([("2026-11-15".to_string(), 1), (SUNDAY.to_string(), 3)]));
}

#[test]
fn invalid_utf8_is_quarantined_with_the_bytes_shown() {
    let env = env();
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "region", "R\u{1}");
    let bad = line(&row).replace('\u{1}', "\u{FFFF}");
    // Turn the placeholder into the invalid byte 0xFF.
    let mut bytes = csv_text(100, &[]).into_bytes();
    let mut bad_bytes = bad.into_bytes();
    let at = bad_bytes.windows(3).position(|w| w == "\u{FFFF}".as_bytes()).unwrap();
    bad_bytes.splice(at..at + 3, [0xFF]);
    bytes.extend_from_slice(&bad_bytes);
    bytes.push(b'\n');
    let path = env.write("utf8.csv", &bytes);
    let report = env.ingest_ok(&path);
    assert_eq!(report.rows_quarantined, 1);
    let rows = env.quarantine_rows();
    assert_eq!(rows[0].1, 102);
    assert!(rows[0].3.contains("region: invalid UTF-8"), "{}", rows[0].3);
    assert!(rows[0].2.contains("R\\xFF"), "the invalid byte is shown escaped: {}", rows[0].2);
}

#[test]
fn a_character_split_across_two_fields_is_invalid_in_both() {
    let env = env();
    let mut row = valid_row("x", SUNDAY);
    set(&mut row, "region", "R\u{1}");
    set(&mut row, "plan", "\u{2}pro");
    // "é" is C3 A9: its first byte ends one field and its second starts the next,
    // so the record's bytes together are valid UTF-8 but neither field is.
    let mut bad = line(&row).into_bytes();
    let at = bad.iter().position(|b| *b == 1).unwrap();
    bad[at] = 0xC3;
    let at = bad.iter().position(|b| *b == 2).unwrap();
    bad[at] = 0xA9;
    let mut bytes = csv_text(100, &[]).into_bytes();
    bytes.extend_from_slice(&bad);
    bytes.push(b'\n');
    let report = env.ingest_ok(&env.write("split.csv", &bytes));
    assert_eq!(report.rows_quarantined, 1);
    let reasons = &env.quarantine_rows()[0].3;
    assert!(reasons.contains("region: invalid UTF-8") && reasons.contains("plan: invalid UTF-8"), "{reasons}");
}

// ---- CSV forms: BOM, CRLF, quoted newlines, gzip ----

#[test]
fn utf8_bom_is_ignored() {
    let env = env();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(csv_text(5, &[]).as_bytes());
    let path = env.write("bom.csv", &bytes);
    let report = env.ingest_ok(&path);
    assert_eq!((report.rows_accepted, report.rows_quarantined), (5, 0));
}

#[test]
fn crlf_line_endings_are_accepted_and_not_kept_in_raw_lines() {
    let env = env();
    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "age", "7");
    let text = csv_text(20, &[line(&bad)]).replace('\n', "\r\n");
    let path = env.write("crlf.csv", text.as_bytes());
    let report = env.ingest_ok(&path);
    assert_eq!((report.rows_accepted, report.rows_quarantined), (20, 1));
    let rows = env.quarantine_rows();
    assert_eq!(rows[0].1, 22);
    assert_eq!(rows[0].2, line(&bad));
}

#[test]
fn quoted_fields_with_newlines_keep_their_start_line() {
    let env = env();
    let mut quoted = valid_row("q1", SUNDAY);
    set(&mut quoted, "region", "\"North,\nEast \"\"Coast\"\"\"");
    let mut bad = valid_row("q2", SUNDAY);
    set(&mut bad, "region", "\"two\nlines\"");
    set(&mut bad, "plan", "gold");
    let mut after = valid_row("q3", SUNDAY);
    set(&mut after, "age", "9");
    let text = csv_text(2, &[line(&quoted), line(&bad), line(&after)]);
    let path = env.write("quoted.csv", text.as_bytes());
    let mut options = env.options();
    options.max_bad_fraction = 0.5;
    let report = env.ingest_with(&path, &options).unwrap();
    env.check_accounting(&report);
    assert_eq!((report.rows_read, report.rows_accepted, report.rows_quarantined), (5, 3, 2));
    let rows = env.quarantine_rows();
    // Lines: 1 header, 2-3 valid, 4-5 quoted, 6-7 bad, 8 after.
    assert_eq!((rows[0].1, rows[1].1), (6, 8));
    assert_eq!(rows[0].2, line(&bad), "the quoted newline is part of the raw record");
    let batches = env.read_parquet("processed", &format!("{TABLE}/snapshot_date={SUNDAY}/"));
    let regions: Vec<String> = batches
        .iter()
        .flat_map(|b| b.column_by_name("region").unwrap().as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
        .collect();
    assert!(regions.contains(&"North,\nEast \"Coast\"".to_string()), "{regions:?}");
}

#[test]
fn gzipped_csv_is_read() {
    let env = env();
    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "gender", "female");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(csv_text(50, &[line(&bad)]).as_bytes()).unwrap();
    let path = env.write("snap.csv.gz", &encoder.finish().unwrap());
    let report = env.ingest_ok(&path);
    assert_eq!((report.rows_accepted, report.rows_quarantined), (50, 1));
    assert_eq!(report.files[0].format, "csv.gz");
    assert_eq!(env.quarantine_rows()[0].2, line(&bad));
}

#[test]
fn corrupt_gzip_is_a_file_error() {
    let env = env();
    let path = env.write("broken.csv.gz", b"\x1f\x8b\x08\x00garbage that is not deflate");
    env.expect_failure(&path, &env.options(), &["broken.csv.gz"]);
}

#[test]
fn a_snapshot_dated_after_this_weeks_sunday_is_refused_and_nothing_is_written() {
    let env = env();
    let first = env.write("first.csv", csv_text(10, &[]).as_bytes());
    env.ingest_ok(&first);
    // "Today" is fixed, so the test means the same next year: Wednesday 2026-11-25.
    let mut options = env.options();
    options.today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();

    // One row of a week to come among good ones: the whole file is refused, naming it, the date and today.
    let mut future = valid_row("later", SUNDAY);
    set(&mut future, "snapshot_date", "2026-12-06");
    let path = env.write("users_2026-12-06.csv", csv_text(20, &[line(&future)]).as_bytes());
    env.expect_failure(&path, &options, &["users_2026-12-06.csv", "2026-12-06", "line 22", "after today, 2026-11-25", "2026-11-29", "Nothing was written"]);
    assert_eq!(env.snapshot_rows()[SUNDAY], 10);

    // This week's Sunday (three days ahead) is accepted, as is today's Sunday when today is one.
    let mut this_week = valid_row("this_week", SUNDAY);
    set(&mut this_week, "snapshot_date", "2026-11-29");
    let path = env.write("users_2026-11-29.csv", csv_text(0, &[line(&this_week)]).as_bytes());
    let report = env.ingest_with(&path, &options).unwrap();
    assert_eq!(report.snapshots["2026-11-29"], 1);
    options.today = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    assert_eq!(options.latest_snapshot().to_string(), "2026-11-29");
}

// ---- the ceiling ----

#[test]
fn quarantine_ceiling_fails_cleanly_and_keeps_what_was_there() {
    let env = env();
    let first = env.write("first.csv", csv_text(10, &[]).as_bytes());
    env.ingest_ok(&first);
    let catalog_before = env.host.catalog.table("engage", TABLE).unwrap();

    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "seats", "0");
    let lines: Vec<String> = (0..6).map(|_| line(&bad)).collect();
    // 6 bad of 106 = 5.7% > 5%.
    let second = env.write("second.csv", csv_text(100, &lines).as_bytes());
    // The error says where the first rejected rows are and why, since no quarantine table is written.
    let needles = ["6 of 106 rows", "above the ceiling of 5.00%", "nothing was written", "second.csv line 102: seats", "second.csv line 106: seats", "… and 1 more"];
    env.expect_failure(&second, &env.options(), &needles);
    assert_eq!(env.host.catalog.table("engage", TABLE).unwrap(), catalog_before);
    assert_eq!(env.snapshot_rows()[SUNDAY], 10);

    // The same file passes with a higher ceiling, and replaces the snapshot.
    let mut options = env.options();
    options.max_bad_fraction = 0.06;
    let report = env.ingest_with(&second, &options).unwrap();
    env.check_accounting(&report);
    assert_eq!(env.snapshot_rows()[SUNDAY], 100);
}

// ---- what gets written ----

#[test]
fn processed_zone_has_typed_columns_and_catalog_entry() {
    let env = env();
    let mut scoring = valid_row("s1", "2026-11-29");
    set(&mut scoring, "engaged_next_7d", "");
    set(&mut scoring, "nps_score", "");
    let path = env.write("typed.csv", csv_text(4, &[line(&scoring)]).as_bytes());
    env.ingest_ok(&path);

    let batches = env.read_parquet("processed", &format!("{TABLE}/snapshot_date=2026-11-29/"));
    let schema = batches[0].schema();
    assert_eq!(schema.field_with_name("user_id").unwrap().data_type(), &DataType::Utf8);
    assert_eq!(schema.field_with_name("snapshot_date").unwrap().data_type(), &DataType::Date32);
    assert_eq!(schema.field_with_name("age").unwrap().data_type(), &DataType::Int64);
    assert_eq!(schema.field_with_name("monthly_fee").unwrap().data_type(), &DataType::Float64);
    assert_eq!(schema.field_with_name("plan").unwrap().data_type(), &DataType::Utf8);
    let label = schema.field_with_name("engaged_next_7d").unwrap();
    assert_eq!((label.data_type(), label.is_nullable()), (&DataType::Int64, true));
    assert!(batches[0].column_by_name("engaged_next_7d").unwrap().is_null(0));
    assert!(batches[0].column_by_name("nps_score").unwrap().is_null(0));
    let date = batches[0].column_by_name("snapshot_date").unwrap().as_primitive::<Date32Type>().value(0);
    assert_eq!(date, 20786, "2026-11-29 as days since 1970-01-01");

    let table = env.host.catalog.table("engage", TABLE).unwrap().unwrap();
    assert_eq!(table.location, "s3://processed/users/");
    assert_eq!(table.format, engage::catalog::TableFormat::Parquet);
    assert_eq!(table.columns.len(), 74, "user_id, 72 features, label");
    let types: BTreeMap<&str, &str> = table.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!((types["age"], types["monthly_fee"], types["plan"], types["engaged_next_7d"]), ("bigint", "double", "string", "bigint"));
    assert_eq!(table.partition_keys.len(), 1);
    assert_eq!((table.partition_keys[0].name.as_str(), table.partition_keys[0].data_type.as_str()), ("snapshot_date", "date"));
    let values: Vec<&str> = table.partitions.iter().map(|p| p.values[0].as_str()).collect();
    assert_eq!(values, ["2026-11-22", "2026-11-29"]);
    assert_eq!(table.properties["rows.snapshot_date=2026-11-22"], "4");
    assert_eq!(table.properties["rows.snapshot_date=2026-11-29"], "1");
}

#[test]
fn reingesting_a_snapshot_replaces_it_without_duplicates() {
    let env = env();
    let first = env.write("v1.csv", csv_text(30, &[]).as_bytes());
    let r1 = env.ingest_ok(&first);
    let other_week = env.write("other.csv", csv_text(0, &[line(&valid_row("w", "2026-11-15"))]).as_bytes());
    env.ingest_ok(&other_week);
    let second = env.write("v2.csv", csv_text(20, &[]).as_bytes());
    let r2 = env.ingest_ok(&second);
    assert_eq!(r2.replaced_snapshots, vec![SUNDAY.to_string()]);
    assert_eq!(env.snapshot_rows(), BTreeMap::from([("2026-11-15".to_string(), 1), (SUNDAY.to_string(), 20)]));
    // The first load's files are gone; only the current ingest's remain for that date.
    let keys: Vec<String> = env
        .host
        .storage
        .list_all("processed", &format!("{TABLE}/snapshot_date={SUNDAY}/"))
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, vec![format!("{TABLE}/snapshot_date={SUNDAY}/ingest={}/part-00000.parquet", r2.ingest_id)]);
    assert!(!keys[0].contains(&r1.ingest_id));
    let table = env.host.catalog.table("engage", TABLE).unwrap().unwrap();
    assert_eq!(table.partitions.len(), 2);
    assert_eq!(table.properties[&format!("rows.snapshot_date={SUNDAY}")], "20");
}

#[test]
fn reingesting_a_snapshot_replaces_its_quarantined_and_extra_rows_too() {
    let env = env();
    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "active_days_7d", "8");
    let with_extra = |n: usize, date: &str, bad: &[Vec<(&'static str, String)>]| {
        let mut text = format!("{},loyalty_tier\n", header());
        for i in 0..n {
            text += &format!("{},gold\n", line(&valid_row(&format!("u{i}"), date)));
        }
        for row in bad {
            text += &format!("{},gold\n", line(row));
        }
        text
    };
    let mut options = env.options();
    options.max_bad_fraction = 0.5;
    // Two weeks in one folder, one file each; then the newest week alone, three times.
    let mut old_bad = valid_row("old_bad", "2026-11-15");
    set(&mut old_bad, "age", "5");
    std::fs::create_dir_all(env.input.join("weeks")).unwrap();
    std::fs::write(env.input.join("weeks/a.csv"), with_extra(10, SUNDAY, &[bad.clone()])).unwrap();
    std::fs::write(env.input.join("weeks/b.csv"), with_extra(4, "2026-11-15", &[old_bad])).unwrap();
    let first = env.ingest_with(&env.input.join("weeks"), &options).unwrap();
    env.check_accounting(&first);
    let newest = env.write("newest.csv", with_extra(8, SUNDAY, &[bad.clone(), bad]).as_bytes());
    for _ in 0..3 {
        let report = env.ingest_with(&newest, &options).unwrap();
        env.check_accounting(&report);
        assert_eq!(report.replaced_snapshots, vec![SUNDAY.to_string()]);
    }
    // The newest week's two rejected rows and the other week's one, not every load's.
    let rows = env.quarantine_rows();
    let mut files: Vec<&str> = rows.iter().map(|(file, ..)| file.rsplit('/').next().unwrap()).collect();
    files.sort();
    assert_eq!(files, vec!["b.csv", "newest.csv", "newest.csv"], "{rows:?}");
    let extra_rows: usize = env.read_parquet("processed", &format!("{TABLE}_extra_columns/")).iter().map(|b| b.num_rows()).sum();
    assert_eq!(extra_rows, 8 + 4, "one extra-column row per accepted row of the current loads");
    assert_eq!(env.live_side_rows(&format!("{TABLE}_extra_columns")), 12);
    // The first load's partition keeps only the other week's file.
    let quarantine = env.host.catalog.table("engage", &format!("{TABLE}_quarantine")).unwrap().unwrap();
    assert_eq!(quarantine.partitions.len(), 2, "{:?}", quarantine.partitions);
}

#[test]
fn ingest_refuses_a_table_it_did_not_make() {
    let env = env();
    let path = env.write("snap.csv", csv_text(5, &[]).as_bytes());
    // A table made with SQL, under the name an ingest would use.
    let other = engage::catalog::TableDef {
        database: "engage".into(),
        name: TABLE.into(),
        location: "s3://scratch/users/".into(),
        format: engage::catalog::TableFormat::Parquet,
        columns: vec![engage::catalog::Column { name: "a".into(), data_type: "bigint".into(), comment: None }],
        partition_keys: Vec::new(),
        partitions: Vec::new(),
        properties: BTreeMap::new(),
    };
    env.host.catalog.put_table(&other).unwrap();
    env.expect_failure(&path, &env.options(), &["table engage.users exists and was not made by engage ingest", "DROP TABLE engage.users"]);
    assert_eq!(env.host.catalog.table("engage", TABLE).unwrap().unwrap(), other);

    // An ingested table named like another table's quarantine is not taken over as one.
    let env = self::env();
    let mut options = env.options();
    options.table = "t_quarantine".into();
    env.ingest_with(&path, &options).unwrap();
    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "age", "5");
    let path = env.write("bad.csv", csv_text(30, &[line(&bad)]).as_bytes());
    options.table = "t".into();
    env.expect_failure(&path, &options, &["table engage.t_quarantine holds the snapshots of an ingest", "another table name"]);
}

#[test]
fn concurrent_ingests_of_different_snapshots_keep_every_partition() {
    let env = env();
    let weeks = ["2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22"];
    let files: Vec<PathBuf> = weeks
        .iter()
        .map(|week| env.write(&format!("{week}.csv"), csv_text(0, &(0..50).map(|i| line(&valid_row(&format!("u{i}"), week))).collect::<Vec<_>>()).as_bytes()))
        .collect();
    // Separate hosts over one root: as separate processes would open it.
    std::thread::scope(|scope| {
        for file in &files {
            let root = env.host.root.clone();
            scope.spawn(move || {
                let host = LocalHost::open(&root).unwrap();
                ingest(host.storage.as_ref(), host.catalog.as_ref(), file, &IngestOptions::new(TABLE)).unwrap();
            });
        }
    });
    let expected: BTreeMap<String, u64> = weeks.iter().map(|w| (w.to_string(), 50)).collect();
    assert_eq!(env.snapshot_rows(), expected);
}

#[test]
fn user_ids_are_trimmed_and_a_blank_one_is_missing() {
    let mut padded = valid_row(" u5 ", SUNDAY);
    set(&mut padded, "age", "40");
    let blank = valid_row("   ", SUNDAY);
    let (env, rows) = expect_quarantined(&[line(&padded), line(&blank)], "user_id");
    assert!(rows[0].3.contains("user_id: 'u5' appears more than once"), "{:?}", rows[0].3);
    assert!(rows[1].3.contains("user_id: missing (required)"), "{:?}", rows[1].3);
    // Stored without the padding.
    let ids: Vec<String> = env
        .read_parquet("processed", &format!("{TABLE}/"))
        .iter()
        .flat_map(|b| b.column_by_name("user_id").unwrap().as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
        .collect();
    assert!(ids.iter().all(|id| id.trim() == id), "{ids:?}");
}

#[test]
fn unknown_extra_columns_are_kept_aside_with_a_warning() {
    let env = env();
    let text = format!(
        "{},loyalty_tier,favourite_color\n{},gold,\"blue, mostly\"\n",
        header(),
        line(&valid_row("u1", SUNDAY))
    );
    let path = env.write("extra.csv", text.as_bytes());
    let report = env.ingest_ok(&path);
    assert_eq!(report.files[0].extra_columns, vec!["loyalty_tier", "favourite_color"]);
    assert!(report.warnings.iter().any(|w| w.contains("loyalty_tier, favourite_color") && w.contains("users_extra_columns")));
    let batches = env.read_parquet("processed", "users_extra_columns/");
    let extra = batches[0].column_by_name("extra").unwrap().as_string::<i32>().value(0).to_string();
    let extra: serde_json::Value = serde_json::from_str(&extra).unwrap();
    assert_eq!(extra, serde_json::json!({"loyalty_tier": "gold", "favourite_color": "blue, mostly"}));
    assert!(env.host.catalog.table("engage", "users_extra_columns").unwrap().is_some());
    // The main table keeps the contract's columns only.
    let main = env.read_parquet("processed", &format!("{TABLE}/"));
    assert!(main[0].column_by_name("loyalty_tier").is_none());
}

#[test]
fn optional_columns_may_be_absent() {
    let env = env();
    let keep = |c: &&str| !matches!(*c, "nps_score" | "engaged_next_7d");
    let names: Vec<&str> = schema::all_column_names().into_iter().filter(keep).collect();
    let row: Vec<String> = valid_row("u1", SUNDAY).into_iter().filter(|(c, _)| keep(c)).map(|(_, v)| v).collect();
    let path = env.write("partial.csv", format!("{}\n{}\n", names.join(","), row.join(",")).as_bytes());
    let report = env.ingest_ok(&path);
    assert_eq!(report.rows_accepted, 1);
    assert!(report.warnings.iter().any(|w| w.contains("nps_score")));
    let batches = env.read_parquet("processed", &format!("{TABLE}/"));
    assert!(batches[0].column_by_name("nps_score").unwrap().is_null(0));
    assert!(batches[0].column_by_name("engaged_next_7d").unwrap().is_null(0));
}

#[test]
fn parquet_input_is_validated_like_csv() {
    let env = env();
    // Write a Parquet file from CSV text through the generic reader, then break one row.
    let mut bad = valid_row("bad", SUNDAY);
    set(&mut bad, "csat_last", "9");
    let csv = env.write("source.csv", csv_text(40, &[line(&bad)]).as_bytes());
    let (schema, batches) = engage::files::read_batches(&csv, 1000).unwrap();
    let parquet = env.input.join("snap.parquet");
    let mut writer = engage::files::ParquetFileWriter::create(&parquet, schema).unwrap();
    for batch in batches {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.finish().unwrap();
    std::fs::remove_file(&csv).unwrap();

    let report = env.ingest_ok(&parquet);
    assert_eq!(report.files[0].format, "parquet");
    assert_eq!((report.rows_accepted, report.rows_quarantined), (40, 1));
    let rows = env.quarantine_rows();
    assert_eq!(rows[0].1, 41, "Parquet rows are numbered from 1");
    assert_eq!(report.first_rejected[0].place, "row 41", "a Parquet file has rows, not lines");
    assert!(rows[0].3.contains("csat_last: 9 is out of range 1-5"));
    assert!(rows[0].2.starts_with("bad,2026-11-22,"));
}

#[test]
fn a_folder_is_ingested_file_by_file_with_accounting_per_file() {
    let env = env();
    let mut bad = valid_row("bad", "2026-11-15");
    set(&mut bad, "active_days_7d", "8");
    env.write("a.csv", csv_text(10, &[]).as_bytes());
    env.write("b.csv", csv_text(0, &[line(&valid_row("b1", "2026-11-15")), line(&bad)]).as_bytes());
    let mut options = env.options();
    options.max_bad_fraction = 0.2;
    let report = env.ingest_with(&env.input, &options).unwrap();
    env.check_accounting(&report);
    assert_eq!(report.files.len(), 2);
    assert_eq!((report.files[1].rows_read, report.files[1].rows_accepted, report.files[1].rows_quarantined), (2, 1, 1));
    assert_eq!(report.reasons_by_column["active_days_7d"], 1);
    // Where the rejected row is and why, as the error of a failed ingest would say it.
    let first = &report.first_rejected;
    assert_eq!(first.len(), 1);
    assert!(first[0].file.ends_with("b.csv") && first[0].place == "line 3", "{first:?}");
    assert_eq!(first[0].reasons, vec!["active_days_7d: 8 is out of range 0-7".to_string()]);
}

#[test]
fn the_cli_generates_ingests_and_describes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = dir.path().join("gen");
    let engage = env!("CARGO_BIN_EXE_engage");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(engage).arg("--root").arg(&root).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        (output.status.success(), stdout, stderr)
    };
    let out_s = out.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["data", "generate", "--users", "500", "--weeks", "2", "--format", "csv", "--out", out_s]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("generated 1000 rows"), "{stdout}");

    let (ok, stdout, stderr) = run(&["ingest", out_s, "--table", "users"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("read 1000 = accepted 1000 + quarantined 0"), "{stdout}");

    let (ok, stdout, _) = run(&["catalog", "list"]);
    assert!(ok && stdout.contains("engage.users\t2 partitions"), "{stdout}");
    let (ok, stdout, _) = run(&["catalog", "describe", "users"]);
    assert!(ok);
    assert!(stdout.contains("snapshot_date=2026-11-15  rows 500"), "{stdout}");
    assert!(stdout.contains("tenure_days") && stdout.contains("bigint"), "{stdout}");
    // The name as `catalog list` prints it works too.
    let (ok, qualified, stderr) = run(&["catalog", "describe", "engage.users"]);
    assert!(ok, "{stderr}");
    assert_eq!(qualified, stdout);

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let (ok, _, stderr) = run(&["ingest", empty.to_str().unwrap(), "--table", "users"]);
    assert!(!ok);
    assert!(stderr.starts_with("error: ") && stderr.contains("empty.csv: the file is empty"), "{stderr}");
}

#[test]
fn landed_files_are_taken_in_once_until_they_change() {
    use engage::data::ingest::landed::{mark_ingested, split_new};
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::open(&dir.path().join("root")).unwrap();
    let a = dir.path().join("users_2026-11-15.csv");
    let b = dir.path().join("users_2026-11-22.csv");
    std::fs::write(&a, "user_id\n1\n").unwrap();
    std::fs::write(&b, "user_id\n2\n").unwrap();
    let files = vec![a.clone(), b.clone()];

    let (new, seen) = split_new(host.storage.as_ref(), "users", &files).unwrap();
    assert_eq!((new.len(), seen.len()), (2, 0));
    let report = engage::data::ingest::IngestReport { ingest_id: "test".into(), ..Default::default() };
    mark_ingested(host.storage.as_ref(), "users", &[a.clone()], &report).unwrap();
    let (new, seen) = split_new(host.storage.as_ref(), "users", &files).unwrap();
    assert_eq!((new, seen), (vec![b.clone()], vec![a.clone()]));
    // Another table has not taken it in.
    assert_eq!(split_new(host.storage.as_ref(), "other", &files).unwrap().0.len(), 2);
    // A changed file (new size) is new again.
    std::fs::write(&a, "user_id\n1\n3\n").unwrap();
    assert_eq!(split_new(host.storage.as_ref(), "users", &files).unwrap().0, files);
}

#[test]
fn progress_counts_every_row_read_while_reading() {
    let env = env();
    // More rows than one progress report covers, with bad lines among them, and a second file.
    let bad = vec!["not,enough,fields".to_string(); 3];
    env.write("big.csv", csv_text(70_000, &bad).as_bytes());
    let mut small = header() + "\n";
    for i in 0..10 {
        small += &line(&valid_row(&format!("v{i}"), SUNDAY));
        small += "\n";
    }
    env.write("small.csv", small.as_bytes());

    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut options = env.options();
    let seen = reports.clone();
    options.progress = engage::data::RowProgress::new(move |rows| seen.lock().unwrap().push(rows));
    let report = env.ingest_with(&env.input, &options).unwrap();
    env.check_accounting(&report);

    let reports = reports.lock().unwrap().clone();
    assert_eq!(report.rows_read, 70_013);
    assert_eq!(reports.iter().sum::<u64>(), report.rows_read, "{reports:?}");
    assert!(reports.len() >= 3, "reported as reading goes, not once at the end: {reports:?}");
}
