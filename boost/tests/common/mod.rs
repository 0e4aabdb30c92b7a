//! Helpers shared by the integration tests: synthetic data as Arrow batches
//! and the Python interpreter that has xgboost.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

/// Small deterministic generator for test data.
pub struct Lcg(u64);
impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
    }
}

/// `n` rows of `nf` uniform features in [0,1) with `missing` share of NaN.
pub fn uniform_columns(n: usize, nf: usize, missing: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut r = Lcg::new(seed);
    (0..nf)
        .map(|_| {
            (0..n)
                .map(|_| {
                    let v = r.next_f32();
                    if r.next_f32() < missing { f32::NAN } else { v }
                })
                .collect()
        })
        .collect()
}

pub fn names(nf: usize) -> Vec<String> {
    (0..nf).map(|i| format!("x{i}")).collect()
}

/// A batch of f32 feature columns (NaN stays NaN) plus an f64 `label`.
pub fn batch(cols: &[Vec<f32>], labels: Option<&[f32]>) -> RecordBatch {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        fields.push(Field::new(format!("x{i}"), DataType::Float32, true));
        arrays.push(Arc::new(Float32Array::from(c.clone())));
    }
    if let Some(y) = labels {
        fields.push(Field::new("label", DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(y.iter().map(|&v| v as f64).collect::<Vec<_>>())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Split one batch into several, to exercise multi-batch input.
pub fn chunks(b: &RecordBatch, size: usize) -> Vec<RecordBatch> {
    (0..b.num_rows()).step_by(size).map(|s| b.slice(s, size.min(b.num_rows() - s))).collect()
}

/// The interpreter the tests use: $ENGAGE_PYTHON, else the repo's .venv, else
/// python3. Panics (never skips) when xgboost can't be imported there.
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = std::env::var_os("ENGAGE_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(root.join(".venv/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&py)
        .args(["-c", "import xgboost, numpy; assert int(xgboost.__version__.split('.')[0]) >= 2"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "Python at {} cannot import xgboost>=2 and numpy: install tests/requirements.txt into a venv \
         and set ENGAGE_PYTHON (or create .venv at the repo root)",
        py.display()
    );
    py
}

pub fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

/// Column-major f32 file: the layout the Python helper reads.
pub fn write_f32(path: &std::path::Path, cols: &[Vec<f32>]) {
    let mut bytes = Vec::new();
    for c in cols {
        for v in c {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

pub fn run_py(args: &[&str]) {
    let out = Command::new(python()).args(args).output().expect("run python");
    assert!(
        out.status.success(),
        "python {:?} failed:\n{}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
