//! Models in XGBoost's JSON model format (as written by xgboost 3.x
//! `Booster.save_model("m.json")`), so a model moves between Engage and
//! Python in both directions and predicts the same.
//!
//! Supported: `gbtree` boosters, objectives `binary:logistic` and
//! `reg:squarederror`, numeric splits. Engage keeps its decision threshold in
//! the learner's `attributes` (`engage_threshold`), which xgboost preserves.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{BoostError, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::tree::{Node, Tree};

#[derive(Serialize)]
struct JsonTreeParam {
    num_deleted: String,
    num_feature: String,
    num_nodes: String,
    size_leaf_vector: String,
}

#[derive(Serialize)]
struct JsonTree {
    base_weights: Vec<f32>,
    categories: Vec<i32>,
    categories_nodes: Vec<i32>,
    categories_segments: Vec<i64>,
    categories_sizes: Vec<i64>,
    default_left: Vec<u8>,
    id: usize,
    left_children: Vec<i32>,
    loss_changes: Vec<f32>,
    parents: Vec<i32>,
    right_children: Vec<i32>,
    split_conditions: Vec<f32>,
    split_indices: Vec<u32>,
    split_type: Vec<u8>,
    sum_hessian: Vec<f32>,
    tree_param: JsonTreeParam,
}

fn tree_json(t: &Tree, id: usize, num_feature: usize) -> JsonTree {
    let n = &t.nodes;
    JsonTree {
        base_weights: n.iter().map(|x| x.base_weight).collect(),
        categories: vec![],
        categories_nodes: vec![],
        categories_segments: vec![],
        categories_sizes: vec![],
        default_left: n.iter().map(|x| x.default_left as u8).collect(),
        id,
        left_children: n.iter().map(|x| x.left).collect(),
        loss_changes: n.iter().map(|x| x.gain).collect(),
        parents: n.iter().map(|x| x.parent).collect(),
        right_children: n.iter().map(|x| x.right).collect(),
        split_conditions: n.iter().map(|x| x.threshold).collect(),
        split_indices: n.iter().map(|x| if x.is_leaf() { 0 } else { x.feature }).collect(),
        split_type: vec![0; n.len()],
        sum_hessian: n.iter().map(|x| x.cover).collect(),
        tree_param: JsonTreeParam {
            num_deleted: "0".into(),
            num_feature: num_feature.to_string(),
            num_nodes: n.len().to_string(),
            size_leaf_vector: "1".into(),
        },
    }
}

impl Model {
    /// The model as XGBoost JSON.
    pub fn to_xgboost_json(&self) -> Value {
        let nf = self.feature_names.len();
        let nt = self.trees.len();
        let trees: Vec<Value> = self
            .trees
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::to_value(tree_json(t, i, nf)).expect("tree serialises"))
            .collect();
        let mut attributes = BTreeMap::new();
        attributes.insert("engage_threshold".to_string(), format!("{}", self.threshold));
        serde_json::json!({
            "learner": {
                "attributes": attributes,
                "feature_names": self.feature_names,
                "feature_types": [],
                "gradient_booster": {
                    "model": {
                        "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                        "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": nt.to_string()},
                        "iteration_indptr": (0..=nt).collect::<Vec<_>>(),
                        "tree_info": vec![0; nt],
                        "trees": trees,
                    },
                    "name": "gbtree",
                },
                "learner_model_param": {
                    "base_score": format!("[{:E}]", self.base_score as f32),
                    "boost_from_average": "1",
                    "num_class": "0",
                    "num_feature": nf.to_string(),
                    "num_target": "1",
                },
                "objective": {
                    "name": self.objective.name(),
                    "reg_loss_param": {"scale_pos_weight": "1"},
                },
            },
            "version": [3, 2, 0],
        })
    }

    pub fn save_xgboost_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| BoostError::Io { path: path.display().to_string(), source };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut w = BufWriter::new(f);
        serde_json::to_writer(&mut w, &self.to_xgboost_json()).map_err(|e| io(e.into()))?;
        w.flush().map_err(io)?;
        Ok(())
    }

    pub fn load_xgboost_json(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|source| BoostError::Io { path: shown.clone(), source })?;
        let v: Value = serde_json::from_reader(BufReader::new(f))
            .map_err(|e| BoostError::ModelFormat { path: shown.clone(), reason: format!("not JSON: {e}") })?;
        Model::from_xgboost_json(&v).map_err(|e| match e {
            BoostError::ModelFormat { reason, .. } => BoostError::ModelFormat { path: shown, reason },
            other => other,
        })
    }

    /// Parse an XGBoost JSON model already read into a `Value`.
    pub fn from_xgboost_json(v: &Value) -> Result<Model> {
        let learner = get(v, "learner")?;
        let lmp = get(learner, "learner_model_param")?;
        let num_feature: usize = str_or_num(get(lmp, "num_feature")?, "learner_model_param.num_feature")? as usize;
        let num_class = lmp.get("num_class").map(|c| str_or_num(c, "num_class")).transpose()?.unwrap_or(0.0);
        if num_class > 1.0 {
            return Err(fmt(format!("num_class = {num_class}: multi-class models are not supported")));
        }
        if let Some(t) = lmp.get("num_target") {
            let t = str_or_num(t, "num_target")?;
            if t > 1.0 {
                return Err(fmt(format!("num_target = {t}: multi-target models are not supported")));
            }
        }
        let base_score = parse_base_score(get(lmp, "base_score")?)?;
        let obj_name = get(get(learner, "objective")?, "name")?.as_str().unwrap_or("");
        let objective = match obj_name {
            "binary:logistic" => Objective::BinaryLogistic,
            "reg:squarederror" | "reg:linear" => Objective::SquaredError,
            other => {
                return Err(fmt(format!(
                    "objective `{other}` is not supported (binary:logistic or reg:squarederror)"
                )));
            }
        };
        let gb = get(learner, "gradient_booster")?;
        let gb_name = gb.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if gb_name != "gbtree" {
            return Err(fmt(format!("booster `{gb_name}` is not supported (gbtree only)")));
        }
        let trees_v = get(get(gb, "model")?, "trees")?
            .as_array()
            .ok_or_else(|| fmt("gradient_booster.model.trees is not a list".into()))?;
        let mut trees = Vec::with_capacity(trees_v.len());
        for (ti, t) in trees_v.iter().enumerate() {
            trees.push(parse_tree(t, ti, num_feature)?);
        }
        let mut feature_names: Vec<String> = learner
            .get("feature_names")
            .and_then(|f| f.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        if feature_names.is_empty() {
            // XGBoost's own default names for unnamed features.
            feature_names = (0..num_feature).map(|i| format!("f{i}")).collect();
        }
        if feature_names.len() != num_feature {
            return Err(fmt(format!("{} feature names for num_feature = {num_feature}", feature_names.len())));
        }
        if let Some(ft) = learner.get("feature_types").and_then(|f| f.as_array())
            && let Some(c) = ft.iter().position(|t| t.as_str() == Some("c")) {
                return Err(fmt(format!("feature `{}` is categorical; only numeric features are supported", feature_names[c])));
            }
        let threshold = learner
            .get("attributes")
            .and_then(|a| a.get("engage_threshold"))
            .and_then(|t| t.as_str())
            .and_then(|t| t.parse::<f32>().ok())
            .filter(|t| *t > 0.0 && *t < 1.0)
            .unwrap_or(0.5);
        Ok(Model::new(objective, feature_names, base_score, trees, threshold))
    }
}

fn fmt(reason: String) -> BoostError {
    BoostError::ModelFormat { path: String::new(), reason }
}

fn get<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key).ok_or_else(|| fmt(format!("missing field `{key}`")))
}

fn str_or_num(v: &Value, what: &str) -> Result<f64> {
    match v {
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| fmt(format!("{what} = {s:?} is not a number"))),
        Value::Number(n) => n.as_f64().ok_or_else(|| fmt(format!("{what} is not a number"))),
        _ => Err(fmt(format!("{what} is not a number"))),
    }
}

/// "5E-1" (xgboost 1.x/2.x) or "[5E-1]" (3.x, a vector of one).
fn parse_base_score(v: &Value) -> Result<f64> {
    let s = match v {
        Value::String(s) => s.trim().trim_start_matches('[').trim_end_matches(']').to_string(),
        other => other.to_string(),
    };
    let parts: Vec<&str> = s.split(',').map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
    if parts.len() != 1 {
        return Err(fmt(format!("base_score {v} must hold exactly one value")));
    }
    parts[0].parse::<f64>().map_err(|_| fmt(format!("base_score {v} is not a number")))
}

fn nums<'a>(t: &'a Value, key: &str, ti: usize) -> Result<&'a Vec<Value>> {
    t.get(key).and_then(|a| a.as_array()).ok_or_else(|| fmt(format!("tree {ti}: missing list `{key}`")))
}

fn as_f32(v: &Value, key: &str, ti: usize) -> Result<f32> {
    v.as_f64().map(|x| x as f32).ok_or_else(|| fmt(format!("tree {ti}: `{key}` holds a non-number")))
}

fn as_i64(v: &Value, key: &str, ti: usize) -> Result<i64> {
    match v {
        Value::Bool(b) => Ok(*b as i64),
        _ => v.as_i64().ok_or_else(|| fmt(format!("tree {ti}: `{key}` holds a non-integer"))),
    }
}

fn parse_tree(t: &Value, ti: usize, num_feature: usize) -> Result<Tree> {
    let left = nums(t, "left_children", ti)?;
    let right = nums(t, "right_children", ti)?;
    let cond = nums(t, "split_conditions", ti)?;
    let idx = nums(t, "split_indices", ti)?;
    let dl = nums(t, "default_left", ti)?;
    let n = left.len();
    if n == 0 {
        return Err(fmt(format!("tree {ti} has no nodes")));
    }
    for (k, a) in [("right_children", right), ("split_conditions", cond), ("split_indices", idx), ("default_left", dl)] {
        if a.len() != n {
            return Err(fmt(format!("tree {ti}: `{k}` has {} entries for {n} nodes", a.len())));
        }
    }
    let opt = |key: &str| t.get(key).and_then(|a| a.as_array()).filter(|a| a.len() == n);
    if let Some(st) = opt("split_type")
        && st.iter().any(|s| s.as_i64().unwrap_or(0) != 0) {
            return Err(fmt(format!("tree {ti} has categorical splits; only numeric splits are supported")));
        }
    let gains = opt("loss_changes");
    let hess = opt("sum_hessian");
    let bw = opt("base_weights");
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let l = as_i64(&left[i], "left_children", ti)?;
        let r = as_i64(&right[i], "right_children", ti)?;
        let threshold = as_f32(&cond[i], "split_conditions", ti)?;
        let is_leaf = l < 0;
        if !is_leaf && (l as usize >= n || r < 0 || r as usize >= n) {
            return Err(fmt(format!("tree {ti}, node {i}: child out of range")));
        }
        let feature = as_i64(&idx[i], "split_indices", ti)?;
        if !is_leaf && (feature < 0 || feature as usize >= num_feature) {
            return Err(fmt(format!("tree {ti}, node {i}: split feature {feature} outside 0..{num_feature}")));
        }
        let f32_at = |a: Option<&Vec<Value>>| a.and_then(|a| a[i].as_f64()).unwrap_or(0.0) as f32;
        nodes.push(Node {
            left: if is_leaf { -1 } else { l as i32 },
            right: if is_leaf { -1 } else { r as i32 },
            parent: -1,
            feature: if is_leaf { 0 } else { feature as u32 },
            threshold,
            split_bin: 0,
            default_left: as_i64(&dl[i], "default_left", ti)? != 0,
            gain: f32_at(gains),
            cover: f32_at(hess),
            base_weight: if bw.is_some() { f32_at(bw) } else { threshold },
        });
    }
    // Every node reachable exactly once from the root: no cycles, no sharing.
    let mut seen = vec![false; n];
    let mut stack = vec![0usize];
    nodes[0].parent = i32::MAX;
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            return Err(fmt(format!("tree {ti}: node {i} is reached twice")));
        }
        if !nodes[i].is_leaf() {
            let (l, r) = (nodes[i].left as usize, nodes[i].right as usize);
            nodes[l].parent = i as i32;
            nodes[r].parent = i as i32;
            stack.push(l);
            stack.push(r);
        }
    }
    Ok(Tree { nodes })
}
