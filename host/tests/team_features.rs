//! The weekly model's 14 features, split into the plugins teams own (activity,
//! monetary and support in Rust, messaging in Python), give the same columns, in
//! the same order, and values as the single engagement-features transform.

mod support;

use std::path::Path;
use std::process::Output;

fn engage(root: &Path, dir: &Path, args: &[&str]) -> Output {
    support::engage_command(root, "kit").args(args).current_dir(dir).output()
        .expect("engage runs")
}

fn ok(out: Output, what: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// The 14 features, in engagement-features' order.
const FEATURES: [&str; 14] = [
    "sessions_per_day_7d",
    "session_trend",
    "active_day_share_7d",
    "active_day_share_30d",
    "session_recency",
    "log_session_minutes",
    "core_actions_per_session_7d",
    "log_content_actions_30d",
    "feature_breadth_30d",
    "email_open_rate_30d",
    "push_open_rate_30d",
    "purchase_recency",
    "log_revenue_90d",
    "support_friction_90d",
];

#[test]
fn team_plugins_give_the_same_14_features_as_engagement_features() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("data");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // The Python plugin is built from its folder (a copy, so the repository stays clean) and published.
    let folder = work.path().join("messaging");
    std::fs::create_dir_all(folder.join("fixtures")).unwrap();
    for file in ["plugin.toml", "app.py", "fixtures/input.csv", "fixtures/expected.csv"] {
        std::fs::copy(repo.join("plugins/features/messaging").join(file), folder.join(file)).unwrap();
    }
    ok(engage(&root, &folder, &["plugin", "build"]), "plugin build");
    ok(engage(&root, &folder, &["plugin", "test"]), "plugin test");
    ok(engage(&root, &folder, &["plugin", "publish"]), "plugin publish");

    let data = work.path().join("landing");
    ok(
        engage(&root, work.path(), &["data", "generate", "--users", "500", "--weeks", "1", "--out", data.to_str().unwrap()]),
        "data generate",
    );
    let teams = r#"["activity-features", "messaging-features@0.1.x", "monetary-features", "support-features"]"#;
    let pipeline = format!(
        "name = \"teams\"\n[defaults]\ntimeout = \"120s\"\n\n\
         [[stage]]\nname = \"ingest\"\nnative = \"ingest\"\nparams = {{ source = \"{}\", table = \"users\" }}\n\n\
         [[stage]]\nname = \"single\"\nnative = \"features\"\nafter = [\"ingest\"]\nparams = {{ transforms = [\"engagement-features\"], inputs = {{ single = \"engage.users\" }} }}\n\n\
         [[stage]]\nname = \"teams\"\nnative = \"features\"\nafter = [\"ingest\"]\nparams = {{ transforms = {teams}, inputs = {{ teams = \"engage.users\" }} }}\n",
        data.display()
    );
    let file = work.path().join("teams.toml");
    std::fs::write(&file, pipeline).unwrap();
    let out = engage(&root, work.path(), &["run", file.to_str().unwrap(), "--json", "--no-progress"]);
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["status"], "succeeded", "{summary}");
    let db = format!("run_{}", summary["run_id"].as_str().unwrap().replace('-', "_"));

    // Same columns, in the same order after the kept ones.
    let columns = |table: &str| {
        let csv = ok(engage(&root, work.path(), &["sql", "--format", "csv", &format!("SELECT * FROM {db}.{table} LIMIT 1")]), "sql");
        csv.lines().next().unwrap().split(',').map(str::to_string).collect::<Vec<_>>()
    };
    let (single, teams) = (columns("single_features"), columns("teams_features"));
    assert_eq!(single, teams);
    let features: Vec<&String> = teams.iter().filter(|c| FEATURES.contains(&c.as_str())).collect();
    assert_eq!(features, FEATURES, "{teams:?}");

    // Same values, row by row (floats within 1e-12 relative), and no row lost.
    let differs: Vec<String> = FEATURES
        .iter()
        .map(|c| {
            format!(
                "CASE WHEN (s.{c} IS NULL) <> (t.{c} IS NULL) OR abs(s.{c} - t.{c}) > 1e-12 * (1 + abs(s.{c})) THEN 1 ELSE 0 END AS {c}"
            )
        })
        .collect();
    let sums: Vec<String> = FEATURES.iter().map(|c| format!("sum({c}) AS {c}")).collect();
    let sql = format!(
        "SELECT count(*) AS joined, {} FROM (SELECT {} FROM {db}.single_features s JOIN {db}.teams_features t ON s.user_id = t.user_id AND s.snapshot_date = t.snapshot_date)",
        sums.join(", "),
        differs.join(", ")
    );
    let csv = ok(engage(&root, work.path(), &["sql", "--format", "csv", &sql]), "sql compare");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let values: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((header[0], values[0]), ("joined", "500"), "{csv}");
    for (column, count) in header.iter().zip(&values).skip(1) {
        assert_eq!(*count, "0", "column {column}: {count} of 500 rows differ\n{csv}");
    }
}
