//! The HTML run report, checked for what a reader notices: every chart is
//! there (or says why not), the charts draw the numbers they claim to, a
//! failed run shows its error, record text cannot inject markup, and the page
//! needs nothing from the network. Records are built by hand, in the format of
//! docs/pipeline.md.

use std::sync::Arc;

use engage::capabilities::Grants;
use engage::capabilities::storage::{LocalStorage, ObjectStore};
use engage::pipeline::setup::local_services_with;
use engage::pipeline::step::{Progress, StepContext};
use engage::pipeline::steps::registry;
use engage::report::{render, write_report};
use engage::runtime::{GuestLimits, Runtime, RuntimeConfig};
use regex::Regex;
use serde_json::{Map, Value, json};

const RUN_ID: &str = "20261125-101500-a3f9";
const HISTOGRAM: [u64; 20] = [0, 2, 31, 103, 87, 114, 211, 184, 163, 142, 135, 140, 158, 197, 241, 347, 337, 292, 116, 0];
const CHART_TITLES: [&str; 10] = [
    "Score distribution",
    "ROC curve",
    "Calibration",
    "Feature importance",
    "Lift by decile",
    "Cumulative gain",
    "SHAP summary",
    "Drift since the previous run",
    "Segment sizes",
    "Stage timeline",
];

fn attempt(n: u32, shard: Option<u32>, started: &str, ended: &str, rows: u64, error: Option<(&str, &str)>) -> Value {
    json!({
        "attempt": n, "shard": shard, "started": started, "ended": ended, "rows_in": rows, "rows_out": rows,
        "error": error.map(|(kind, message)| json!({ "kind": kind, "message": message })),
    })
}

fn committed(name: &str, kind: &str, started: &str, ended: &str, rows: u64, summary: Value) -> Value {
    json!({
        "name": name, "kind": kind, "status": "committed", "started": started, "ended": ended,
        "attempts": [attempt(1, None, started, ended, rows, None)],
        "output": { "rows_in": rows, "rows_out": rows, "outputs": [], "summary": summary },
    })
}

fn not_run(name: &str, kind: &str, status: &str) -> Value {
    json!({ "name": name, "kind": kind, "status": status, "started": null, "ended": null, "attempts": [], "output": null })
}

fn t(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    format!("2026-11-25T10:15:{:02}.{:03}Z", ms / 1000, ms % 1000)
}

fn ingest() -> Value {
    committed("ingest", "native:ingest", &t(0.0), &t(1.2), 12000, json!({
        "rows_read": 12000, "rows_accepted": 11950, "rows_quarantined": 50, "files": 4,
        "snapshots": { "2026-11-01": 3000, "2026-11-08": 3000, "2026-11-15": 3000, "2026-11-22": 3000 },
    }))
}

fn prepare() -> Value {
    committed("prepare", "plugin:prepare", &t(1.3), &t(2.0), 12000, json!({
        "training_rows": 9000, "scoring_rows": 3000, "label_rate": 0.6017, "training_weeks": 3, "scoring_week": "2026-11-22",
        "checks": [
            { "name": "training_rows", "value": 9000.0, "limit": ">= 1000", "ok": true },
            { "name": "label_rate", "value": 0.6017, "limit": "between 0.01 and 0.99", "ok": true },
        ],
    }))
}

/// A ROC curve from (0,0) to (1,1), bowed towards the top left.
fn roc_points() -> Vec<[f64; 2]> {
    (0..=20).map(|i| i as f64 / 20.0).map(|x| [x, x.powf(0.4)]).collect()
}

fn train() -> Value {
    committed("train", "native:train", &t(4.0), &t(5.5), 9000, json!({
        "model_uri": format!("s3://models/engagement/run={RUN_ID}/model.json"),
        "rounds": 46, "best_iteration": 25,
        "metrics": { "auc": 0.7647, "logloss": 0.5585, "accuracy": 0.7113, "brier": 0.1884 },
        "baseline": { "auc": 0.7427, "logloss": 0.5759, "accuracy": 0.7041, "brier": 0.1959 },
        "importance": [
            { "feature": "session_trend", "gain": 3131.0 },
            { "feature": "session_recency", "gain": 3308.6 },
            { "feature": "email_open_rate_30d", "gain": 120.5 },
            { "feature": "log_session_minutes", "gain": 1703.1 },
        ],
        "roc": roc_points(),
        "calibration": [
            { "bin": 0, "predicted": 0.0, "observed": 0.0, "count": 0 },
            { "bin": 1, "predicted": 0.16, "observed": 0.21, "count": 78 },
            { "bin": 5, "predicted": 0.55, "observed": 0.52, "count": 202 },
            { "bin": 8, "predicted": 0.85, "observed": 0.87, "count": 345 },
        ],
        "deciles": {
            "model": (1..=10).map(|d| json!({ "decile": d, "lift": 1.9 - 0.18 * d as f64, "cumulative_gain": (d as f64 / 10.0).powf(0.6) })).collect::<Vec<_>>(),
            "baseline": (1..=10).map(|d| json!({ "decile": d, "lift": 1.6 - 0.12 * d as f64, "cumulative_gain": (d as f64 / 10.0).powf(0.75) })).collect::<Vec<_>>(),
        },
        "shap_importance": [{ "feature": "session_recency", "mean_abs": 0.61 }, { "feature": "session_trend", "mean_abs": 0.33 }],
    }))
}

fn predict() -> Value {
    // Two shards; shard 1 failed once with an I/O error and was retried.
    json!({
        "name": "predict", "kind": "native:predict", "status": "committed", "started": t(5.6), "ended": t(7.0),
        "attempts": [
            attempt(1, Some(0), &t(5.6), &t(6.4), 1500, None),
            attempt(1, Some(1), &t(5.6), &t(5.9), 0, Some(("io", "disk full"))),
            attempt(2, Some(1), &t(6.1), &t(7.0), 1500, None),
        ],
        "output": { "rows_in": 3000, "rows_out": 3000, "outputs": [], "summary": {
            "users_scored": 3000, "segments": { "high": 1688, "medium": 975, "low": 337 },
            "thresholds": { "high": 0.6, "medium": 0.3 }, "histogram": HISTOGRAM,
            "shap": { "rows": 3000, "abs_sum_micro": { "session_recency": 1_800_000_000u64, "session_trend": 990_000_000u64 } },
        }},
    })
}

fn successful_run() -> Value {
    json!({
        "run_id": RUN_ID, "run_db": "run_20261125_101500_a3f9", "pipeline": "weekly-engagement",
        "pipeline_file": "pipelines/weekly-engagement.toml", "status": "succeeded",
        "started": t(0.0), "ended": t(9.0), "vars": { "source_table": "users" }, "error": null,
        "stages": [
            ingest(),
            committed("cleanup", "plugin:cleanup", &t(1.2), &t(1.3), 0, json!({ "objects_deleted": 0 })),
            prepare(),
            committed("features", "native:features", &t(2.0), &t(4.0), 12000, json!({ "tables": { "training": 9000, "scoring": 3000 } })),
            train(),
            predict(),
            committed("drift", "native:drift", &t(7.0), &t(7.2), 3000, json!({
                "previous_run": "20261118-101500-0b1c", "thresholds": { "psi": 0.2 },
                "features": [
                    { "name": "session_recency", "psi": 0.31, "missing_rate_previous": 0.0, "missing_rate_current": 0.0, "warning": true },
                    { "name": "session_trend", "psi": 0.02, "missing_rate_previous": 0.0, "missing_rate_current": 0.0, "warning": false },
                    { "name": "nps_score", "psi": null, "missing_rate_previous": 0.3, "missing_rate_current": 1.0, "warning": true },
                ],
                "realized_auc": 0.751, "warnings": ["session_recency: PSI 0.31 above 0.2"],
            })),
            committed("aggregate", "plugin:aggregate", &t(7.0), &t(8.0), 3000, json!({
                "tables": { "engagement_results": 3000, "engagement_summary": 124 },
                "statistics": [
                    { "dimension": "segment", "value": "high", "users": 1688, "mean_probability": 0.78 },
                    { "dimension": "plan", "value": "pro", "users": 900, "mean_probability": 0.66 },
                ],
            })),
        ],
    })
}

/// prepare fails its data check twice (with markup in the message); nothing after it runs.
const NASTY: &str = r#"data-quality: label_rate 0.004 < 0.01 <script>alert("x")</script> & <img src="http://evil.example/x.png">"#;

fn failed_run() -> Value {
    json!({
        "run_id": RUN_ID, "run_db": "run_20261125_101500_a3f9", "pipeline": "weekly-engagement",
        "pipeline_file": "pipelines/weekly-engagement.toml", "status": "failed",
        "started": t(0.0), "ended": t(3.0), "vars": {},
        "error": { "stage": "prepare", "kind": "data-quality", "message": NASTY },
        "stages": [
            ingest(),
            {
                "name": "prepare", "kind": "plugin:prepare", "status": "failed", "started": t(1.3), "ended": t(2.9),
                "attempts": [
                    attempt(1, None, &t(1.3), &t(1.9), 12000, Some(("data-quality", NASTY))),
                    attempt(2, None, &t(2.3), &t(2.9), 12000, Some(("data-quality", NASTY))),
                ],
                "output": null,
            },
            not_run("features", "native:features", "skipped"),
            not_run("train", "native:train", "skipped"),
            not_run("predict", "native:predict", "skipped"),
            not_run("report", "native:report", "pending"),
        ],
    })
}

/// The markup of one chart panel (`<figure id="chart-…">…</figure>`).
fn panel<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("panel {id} is on the page"));
    let end = page[start..].find("</figure>").expect("panel closes") + start;
    &page[start..end]
}

fn attr(tag: &str, name: &str) -> f64 {
    let re = Regex::new(&format!(r#"\s{name}="([^"]*)""#)).unwrap();
    re.captures(tag).unwrap_or_else(|| panic!("{name} in {tag}"))[1].parse().unwrap()
}

/// The plot area of a chart: (left, top, right, bottom) in pixels.
fn plot_area(svg: &str) -> (f64, f64, f64, f64) {
    let tag = Regex::new(r#"<rect class="plot-area"[^>]*>"#).unwrap().find(svg).expect("plot area").as_str();
    let (x, y) = (attr(tag, "x"), attr(tag, "y"));
    (x, y, x + attr(tag, "width"), y + attr(tag, "height"))
}

#[test]
fn successful_run_shows_headline_numbers_and_every_chart() {
    let page = render(&successful_run()).unwrap();
    for title in CHART_TITLES {
        assert!(page.contains(&format!("<h2>{title}</h2>")), "chart '{title}' is on the page");
    }
    assert!(!page.contains("not available"), "every chart has its data");
    assert!(page.contains("weekly-engagement") && page.contains(RUN_ID) && page.contains("succeeded"));
    // Users scored, AUC against the baseline with the difference, rows, label rate.
    for shown in ["3,000", "0.765", "baseline 0.743 · +0.022", "12,000", "11,950", "50", "60.2%", "9.0 s"] {
        assert!(page.contains(shown), "the page shows {shown}");
    }
    // Every chart says how to read it and labels its axes.
    assert!(page.matches("<p class=\"how\">").count() >= 6);
    for axis in ["predicted probability of engaging", "false positive rate", "true positive rate", "observed engagement rate", "share of total gain", "time since the run started"] {
        assert!(page.contains(axis), "axis label '{axis}'");
    }
    // Tables: stages, checks, summary statistics.
    assert!(page.contains("<h2>Stages</h2>") && page.contains("3 (1 failed)"), "predict's retry is counted");
    assert!(page.contains("<h2>Data-quality checks</h2>") && page.contains("2 of 2 passed"));
    assert!(page.contains("<h2>Summary statistics</h2>") && page.contains("mean_probability"));
    // Two of engagement_summary's 124 rows are shown, and the page says so.
    assert!(page.contains("<p class=\"note\">first 2 of 124 rows</p>"), "the statistics say they are a part");
    // A feature missing in every row this week has no PSI: named as such, not drawn as 0.
    let drift = panel(&page, "chart-drift");
    assert!(drift.contains("PSI n/a (all missing): nps_score.") && !drift.contains("nps_score: 0"), "{drift}");
}

#[test]
fn histogram_has_twenty_bars_ordered_like_the_counts() {
    let page = render(&successful_run()).unwrap();
    let chart = panel(&page, "chart-histogram");
    let bars: Vec<f64> = Regex::new(r#"<rect class="bar seg-[a-z]+"[^>]*>"#)
        .unwrap()
        .find_iter(chart)
        .map(|m| attr(m.as_str(), "height"))
        .collect();
    assert_eq!(bars.len(), 20);
    for i in 0..20 {
        for j in 0..20 {
            if HISTOGRAM[i] < HISTOGRAM[j] {
                assert!(bars[i] < bars[j], "bin {i} ({}) is drawn lower than bin {j} ({})", HISTOGRAM[i], HISTOGRAM[j]);
            } else if HISTOGRAM[i] == HISTOGRAM[j] {
                assert_eq!(bars[i], bars[j], "bins {i} and {j} hold the same count");
            }
        }
    }
    // Bars take their segment's colour and the thresholds are drawn.
    assert_eq!(chart.matches("bar seg-low").count(), 6, "bins below 0.3 are low");
    assert_eq!(chart.matches("bar seg-high").count(), 8, "bins from 0.6 are high");
    assert!(chart.contains("high ≥ 0.6") && chart.contains("medium ≥ 0.3"));
}

fn roc_ends(page: &str) -> ((f64, f64), (f64, f64)) {
    let chart = panel(page, "chart-roc");
    let (left, top, right, bottom) = plot_area(chart);
    let points = Regex::new(r#"<polyline class="curve roc-curve" points="([^"]+)""#).unwrap().captures(chart).expect("roc polyline")[1]
        .to_string();
    let points: Vec<(f64, f64)> = points
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            // Back to chart coordinates: fpr right, tpr up, both in [0, 1].
            ((x.parse::<f64>().unwrap() - left) / (right - left), (bottom - y.parse::<f64>().unwrap()) / (bottom - top))
        })
        .collect();
    (points[0], *points.last().unwrap())
}

fn close(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3
}

#[test]
fn roc_polyline_runs_from_0_0_to_1_1_in_chart_coordinates() {
    let page = render(&successful_run()).unwrap();
    let (first, last) = roc_ends(&page);
    assert!(close(first, (0.0, 0.0)), "starts at {first:?}");
    assert!(close(last, (1.0, 1.0)), "ends at {last:?}");
    let chart = panel(&page, "chart-roc");
    assert!(chart.contains("model (AUC 0.765)"), "the legend gives the AUC");
    assert!(chart.contains("class=\"diagonal\""), "the chance diagonal is drawn");

    // A summary that left out the curve's ends still draws from corner to corner.
    let mut run = successful_run();
    let roc = &mut run["stages"][4]["output"]["summary"]["roc"];
    let inner: Vec<Value> = roc.as_array().unwrap()[1..20].to_vec();
    *roc = Value::Array(inner);
    let (first, last) = roc_ends(&render(&run).unwrap());
    assert!(close(first, (0.0, 0.0)) && close(last, (1.0, 1.0)));
}

#[test]
fn calibration_importance_and_segments_draw_their_data() {
    let page = render(&successful_run()).unwrap();
    let calibration = panel(&page, "chart-calibration");
    assert_eq!(calibration.matches("<circle class=\"dot\"").count(), 3, "empty bins are left out");
    assert!(calibration.contains(">345<"), "points are labelled with their user count");

    let importance = panel(&page, "chart-importance");
    let order: Vec<usize> = ["session_recency", "session_trend", "log_session_minutes", "email_open_rate_30d"]
        .iter()
        .map(|f| importance.find(&format!(">{f}<")).unwrap_or_else(|| panic!("{f} is labelled")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "features are sorted by gain, largest first");

    let segments = panel(&page, "chart-segments");
    for shown in ["1,688 · 56.3%", "975 · 32.5%", "337 · 11.2%", "p ≥ 0.6", "0.3 ≤ p &lt; 0.6"] {
        assert!(segments.contains(shown), "segments show {shown}");
    }
}

#[test]
fn timeline_shows_every_attempt_and_failed_ones_apart() {
    let page = render(&successful_run()).unwrap();
    let timeline = panel(&page, "chart-timeline");
    assert_eq!(timeline.matches("class=\"attempt failed\"").count(), 1);
    assert_eq!(timeline.matches("class=\"attempt ok\"").count(), 9, "one bar per successful attempt and shard");
    assert!(timeline.contains("predict shard 1, attempt 1") && timeline.contains("failed (io: disk full)"));
    assert!(timeline.contains(">#2<"), "the retry is marked");
}

#[test]
fn failed_run_shows_its_error_and_not_available_panels() {
    let page = render(&failed_run()).unwrap();
    assert!(page.contains("This run failed at stage <code>prepare</code> (data-quality)"));
    assert!(page.find("role=\"alert\"").unwrap() < page.find("class=\"cards\"").unwrap(), "the error comes before everything else");
    for title in CHART_TITLES {
        assert!(page.contains(&format!("<h2>{title}</h2>")), "'{title}' has a panel even when missing");
    }
    for id in ["chart-histogram", "chart-roc", "chart-calibration", "chart-importance", "chart-segments"] {
        let p = panel(&page, id);
        assert!(p.contains("not available: stage &#39;") && p.contains("did not run (skipped)"), "{id} says why: {p}");
    }
    // What did run is still shown: ingest's numbers, and the timeline with both failed attempts.
    assert!(page.contains("12,000"));
    let timeline = panel(&page, "chart-timeline");
    assert_eq!(timeline.matches("class=\"attempt failed\"").count(), 2);
    assert!(timeline.contains("did not run (skipped)"));
    assert!(page.contains("2 (2 failed)"));
    // Label rate comes from prepare, which failed: the card says so.
    assert!(page.contains("not available: stage &#39;prepare&#39; failed (data-quality)"));
}

#[test]
fn markup_in_a_stage_error_is_escaped() {
    let page = render(&failed_run()).unwrap();
    assert!(!page.contains("<script"), "no script element reaches the page");
    assert!(!page.contains("<img"), "no image element reaches the page");
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img"));

    // Names from the record are escaped too: stage names, vars, pipeline.
    let mut run = successful_run();
    run["pipeline"] = json!("<b>weekly</b>");
    run["vars"] = json!({ "x\"><i>": "<u>v</u>" });
    run["stages"][0]["name"] = json!("<em>ingest</em>");
    let page = render(&run).unwrap();
    for raw in ["<b>", "<i>", "<u>", "<em>"] {
        assert!(!page.contains(raw), "{raw} is escaped");
    }
}

#[test]
fn page_has_no_external_references() {
    let external = Regex::new(r#"(?i)(src|href)\s*=\s*["']?\s*(https?:)?//"#).unwrap();
    for run in [successful_run(), failed_run()] {
        let page = render(&run).unwrap();
        assert!(!external.is_match(&page), "no src/href leaves the file");
        assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("@import") && !page.contains("url("));
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert!(page.contains("<style>"), "the stylesheet is inline");
    }
}

#[test]
fn odd_records_render_instead_of_failing() {
    // A run just started, with no stages; a record of the wrong shape; junk in summaries.
    let page = render(&json!({ "run_id": RUN_ID, "status": "running", "started": t(0.0) })).unwrap();
    assert!(page.contains("not available: the run record lists no stages"));
    assert!(page.contains("still in progress"));
    assert!(render(&json!([1, 2])).is_err());

    let mut run = successful_run();
    run["stages"][5]["output"]["summary"]["histogram"] = json!("twenty");
    run["stages"][4]["output"]["summary"]["roc"] = json!([]);
    run["stages"][4]["output"]["summary"]["importance"] = json!(null);
    let page = render(&run).unwrap();
    assert!(panel(&page, "chart-histogram").contains("not available: the predict histogram is not a list"));
    assert!(panel(&page, "chart-roc").contains("not available: the train roc has no points"));
    assert!(panel(&page, "chart-importance").contains("not available: the train stage reported no &#39;importance&#39;"));
}

fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(RuntimeConfig { cache_dir: None, pooling: false }).expect("runtime starts"))
}

#[test]
fn report_step_writes_the_page_next_to_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let storage = LocalStorage::new(&root).unwrap();
    let mut record = successful_run();
    record["status"] = json!("running");
    record["stages"].as_array_mut().unwrap().push(json!({
        "name": "report", "kind": "native:report", "status": "running", "started": t(8.5), "ended": null,
        "attempts": [{ "attempt": 1, "shard": null, "started": t(8.5), "ended": null, "rows_in": 0, "rows_out": 0, "error": null }],
        "output": null,
    }));
    storage.put("runs", &format!("{RUN_ID}/run.json"), &serde_json::to_vec_pretty(&record).unwrap()).unwrap();

    let services = local_services_with(&root, dir.path(), runtime()).unwrap();
    let (params, grants, limits, progress, upstream) = (json!({}), Grants::default(), GuestLimits::default(), std::sync::Arc::new(Progress::default()), Map::new());
    let ctx = StepContext {
        run_id: RUN_ID,
        run_db: "run_20261125_101500_a3f9",
        stage: "report",
        attempt: 1,
        shard: None,
        params: &params,
        grants: &grants,
        limits: &limits,
        upstream: &upstream,
        services: &services,
        progress: &progress,
    };
    let out = registry()["report"].run(&ctx).expect("the report step succeeds");
    let uri = format!("s3://runs/{RUN_ID}/report.html");
    let path = root.join("runs").join(RUN_ID).join("report.html");
    assert_eq!(out.summary["report_uri"], json!(uri));
    assert_eq!(out.summary["path"], json!(path.display().to_string()));
    assert_eq!(out.outputs, vec![uri]);

    let on_disk = std::fs::read_to_string(&path).expect("the report is a file a browser can open");
    let stored = storage.get("runs", &format!("{RUN_ID}/report.html")).unwrap();
    assert_eq!(on_disk.as_bytes(), &stored[..]);
    for title in CHART_TITLES {
        assert!(on_disk.contains(title));
    }
    assert!(panel(&on_disk, "chart-timeline").contains("attempt running"), "the report stage itself shows as running");
    assert!(on_disk.contains("Every stage before this report committed"), "the page says the run is only finishing");
}

#[test]
fn write_report_explains_bad_ids_and_missing_records() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::new(dir.path()).unwrap();
    let missing = write_report(&storage, Some(dir.path()), RUN_ID).unwrap_err();
    assert!(format!("{missing:#}").contains(&format!("s3://runs/{RUN_ID}/run.json")), "{missing:#}");
    for bad in ["../etc", "a/b", ""] {
        assert!(write_report(&storage, Some(dir.path()), bad).is_err(), "{bad:?} is refused");
    }
    storage.put("runs", &format!("{RUN_ID}/run.json"), &serde_json::to_vec(&failed_run()).unwrap()).unwrap();
    let written = write_report(&storage, None, RUN_ID).unwrap();
    assert_eq!(written.uri, format!("s3://runs/{RUN_ID}/report.html"));
    assert_eq!(written.path, Some(dir.path().join("runs").join(RUN_ID).join("report.html")), "local storage knows its file");
    if let Ok(target) = std::env::var("ENGAGE_REPORT_SAMPLE_DIR") {
        // Keep rendered samples for a person to look at.
        let target = std::path::Path::new(&target);
        std::fs::create_dir_all(target).unwrap();
        std::fs::write(target.join("failed.html"), render(&failed_run()).unwrap()).unwrap();
        std::fs::write(target.join("succeeded.html"), render(&successful_run()).unwrap()).unwrap();
    }
}
