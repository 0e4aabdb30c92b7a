//! `engage model train|predict|eval|explain` driven through the binary, on
//! CSV files written here: a round trip, and the clear errors bad input gets.

use std::path::Path;
use std::process::{Command, Output};

fn engage(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engage")).current_dir(dir).arg("--root").arg(dir.join("root")).args(args).output().expect("engage runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Customers whose churn depends on tenure, plan (text) and support calls,
/// with a few missing values; deterministic.
fn churn_csv(rows: usize) -> String {
    let mut out = String::from("customer_id,tenure_months,plan,support_calls,monthly_fee,churned\n");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..rows {
        let tenure = (next() * 72.0).floor();
        let plan = ["basic", "plus", "premium"][(next() * 3.0) as usize];
        let calls = (next() * 6.0).floor();
        let fee = if next() < 0.05 { String::new() } else { format!("{:.2}", 20.0 + next() * 80.0) };
        let risk = 1.5 - tenure / 24.0 + calls * 0.5 + if plan == "basic" { 0.8 } else { 0.0 };
        let churned = (next() < 1.0 / (1.0 + (-risk).exp())) as u8;
        out += &format!("c{i:05},{tenure},{plan},{calls},{fee},{churned}\n");
    }
    out
}

#[test]
fn train_predict_eval_explain_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("churn.csv"), churn_csv(3000)).unwrap();
    let o = engage(dir.path(), &["model", "train", "churn.csv", "--label", "churned", "--id", "customer_id", "--params", "rounds=60,depth=3,eta=0.2", "--out", "m.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1 categorical: plan"), "{out}");
    // The model file is XGBoost JSON carrying the encoding.
    let model: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("m.json")).unwrap()).unwrap();
    assert!(model["learner"]["attributes"]["engage_encoding"].as_str().unwrap().contains("premium"));

    let o = engage(dir.path(), &["model", "predict", "m.json", "churn.csv", "--out", "scores.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let scores = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
    let mut lines = scores.lines();
    assert_eq!(lines.next(), Some("customer_id,probability,confidence,reasons"));
    assert_eq!(scores.lines().count(), 3001);
    let first = lines.next().unwrap();
    assert!(first.starts_with("c00000,") && (first.contains("tenure_months: ") || first.contains("support_calls: ")), "{first}");

    let o = engage(dir.path(), &["model", "eval", "m.json", "churn.csv", "--html", "eval.html"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let auc = |line: &str| -> (f64, f64) {
        let v: Vec<f64> = line.split_whitespace().skip(1).take(2).map(|x| x.parse().unwrap()).collect();
        (v[0], v[1])
    };
    let (model_auc, baseline_auc) = auc(out.lines().find(|l| l.starts_with("AUC")).expect("an AUC line"));
    assert!(model_auc > 0.7 && baseline_auc > 0.6, "{out}");
    assert!(out.contains("lift by decile") && out.contains("average precision"), "{out}");
    let page = std::fs::read_to_string(dir.path().join("eval.html")).unwrap();
    for id in ["chart-lift", "chart-gain", "chart-calibration", "chart-shap"] {
        assert!(page.contains(&format!("id=\"{id}\"")) && !page.contains("not available"), "{id} missing from the page");
    }

    let o = engage(dir.path(), &["model", "explain", "m.json", "churn.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let top = out.lines().nth(1).unwrap_or("");
    assert!(top.starts_with("tenure_months") || top.starts_with("support_calls"), "{out}");

    let o = engage(dir.path(), &["model", "explain", "m.json", "churn.csv", "--user", "c00042"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("customer_id c00042: probability"), "{out}");
    // The contributions add up to the margin the header shows.
    let margin: f64 = out.split("log-odds ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let bias: f64 = out.split("bias ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let sum: f64 = out.lines().skip(3).filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok()).sum();
    assert!((bias + sum - margin).abs() < 1e-3, "{out}");

    let o = engage(dir.path(), &["model", "explain", "m.json", "churn.csv", "--user", "nobody"]);
    assert!(!o.status.success() && stderr(&o).contains("no row with customer_id = 'nobody'"), "{}", stderr(&o));
}

fn train_error(csv: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    let mut args = vec!["model", "train", "data.csv", "--label", "churned", "--out", "m.json"];
    args.extend_from_slice(extra);
    let o = engage(dir.path(), &args);
    assert!(!o.status.success(), "training should fail: {}", stdout(&o));
    assert!(!dir.path().join("m.json").exists(), "no model is written");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_string_label_is_a_clear_error() {
    let err = train_error("x,churned\n1,Yes\n2,No\n3,Yes\n", &[]);
    assert!(err.contains("data.csv: label 'churned' must be 0/1") && err.contains("'No', 'Yes'"), "{err}");
}

#[test]
fn a_constant_label_is_a_clear_error() {
    let err = train_error("x,churned\n1,1\n2,1\n3,1\n", &[]);
    assert!(err.contains("label 'churned' is 1 in all 3 rows"), "{err}");
}

#[test]
fn no_rows_is_a_clear_error() {
    let err = train_error("x,churned\n", &[]);
    assert!(err.contains("data.csv: has no rows"), "{err}");
}

#[test]
fn a_missing_column_is_a_clear_error() {
    let err = train_error("x,churned\n1,0\n2,1\n", &["--features", "x,tenure"]);
    assert!(err.contains("column 'tenure' is missing (columns: x, churned)"), "{err}");
    let err = train_error("x,y\n1,0\n2,1\n", &[]);
    assert!(err.contains("column 'churned' is missing"), "{err}");
}

#[test]
fn a_label_other_than_0_or_1_is_a_clear_error() {
    let err = train_error("x,churned\n1,0\n2,1\n3,2\n", &[]);
    assert!(err.contains("must be 0 or 1, but row 3 holds 2"), "{err}");
}

/// `churn_csv` with the monthly_fee column emptied: CSV inference types it Null.
fn without_fees(csv: &str) -> String {
    csv.lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            if !l.starts_with("customer_id") {
                cells[4] = "";
            }
            cells.join(",") + "\n"
        })
        .collect()
}

#[test]
fn an_all_empty_feature_column_is_all_missing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = churn_csv(1500);
    std::fs::write(dir.path().join("churn.csv"), &csv).unwrap();
    std::fs::write(dir.path().join("nofee.csv"), without_fees(&csv)).unwrap();
    let o = engage(dir.path(), &["model", "train", "churn.csv", "--label", "churned", "--id", "customer_id", "--params", "rounds=30,depth=3", "--out", "m.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [
        vec!["model", "predict", "m.json", "nofee.csv", "--out", "s.csv"],
        vec!["model", "eval", "m.json", "nofee.csv", "--html", "e.html"],
        vec!["model", "explain", "m.json", "nofee.csv", "--user", "c00007"],
    ] {
        let o = engage(dir.path(), &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("warning: nofee.csv: column 'monthly_fee' is empty (type Null); every value is missing"), "{}", stderr(&o));
    }
    let o = engage(dir.path(), &["model", "explain", "m.json", "nofee.csv", "--user", "c00007"]);
    let row = stdout(&o).lines().find(|l| l.starts_with("monthly_fee")).unwrap().to_string();
    assert!(row.contains("missing"), "{row}");
}

#[test]
fn features_without_information_are_named_and_dates_read_as_dates() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("customer_id,sdate,flat,empty,x,churned\n");
    for i in 0..400 {
        csv += &format!("c{i:04},2026-11-{:02},7,,{},{}\n", 1 + i % 28, i % 10, (i % 10 >= 5) as u8);
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    let o = engage(dir.path(), &["model", "train", "d.csv", "--label", "churned", "--features", "flat,empty", "--out", "flat.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: no feature carries information in the training rows (flat (always 7), empty (all missing))"), "{err}");
    let o = engage(dir.path(), &["model", "train", "d.csv", "--label", "churned", "--features", "sdate,x,flat", "--id", "customer_id", "--params", "rounds=20,depth=2", "--out", "m.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: features that carry no information in the training rows: flat (always 7)"), "{}", stderr(&o));
    let o = engage(dir.path(), &["model", "explain", "m.json", "d.csv", "--user", "c0003"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row = stdout(&o).lines().find(|l| l.starts_with("sdate")).unwrap().to_string();
    assert!(row.contains("2026-11-04"), "{row}");
}
