//! A pipeline as an Amazon States Language state machine, for operators who
//! schedule with Step Functions: each stage is a Task state that runs the Engage
//! image on ECS (`ecs:runTask.sync`) with `engage stage run`, and the run ends
//! with `engage stage finish` (see `pipeline::stage_task`).
//!
//! How the pipeline file maps (docs/hosted.md has the table):
//! - the stage graph becomes layers: stages whose `after` are all in earlier
//!   layers; a layer of several stages is a Parallel state, one branch each;
//! - `timeout` → TimeoutSeconds (plus the task's start-up allowance);
//! - `retry` → Retry, `max_attempts` counting the first try as Engage does;
//! - `catch = { next = ... }` → Catch to the fallback's Task, which runs with
//!   `--replaces`; any other failure goes to "Record failure", which writes the
//!   failed run's record, then to a Fail state;
//! - `map` → a Map state over the shard numbers with MaxConcurrency; each shard
//!   is retried alone.
//!
//! ECS reports every non-zero exit as `States.TaskFailed`, so error kinds can't
//! be told apart there: a retry or catch on any kind matches `States.TaskFailed`,
//! and one on `timeout` also matches `States.Timeout`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::pipeline::spec::{CatchAction, Jitter, Kinds, Pipeline, RetryPolicy, StageSpec};
use crate::pipeline::step::ErrorKind;

/// Where the stage tasks run.
#[derive(Debug, Clone)]
pub struct EcsTarget {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Task definition family (optionally `:revision`) or ARN.
    pub task_definition: String,
    /// The container that runs `engage` in the task definition.
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The pipeline file's path inside the image.
    pub pipeline_path: String,
    /// The runtime config's path inside the image, passed as `--config` (its storage is
    /// how one task's output reaches the next).
    pub config_path: String,
}

/// Time an ECS task gets to start before its stage's own timeout counts.
pub const STARTUP_ALLOWANCE: Duration = Duration::from_secs(300);

const RECORD_FAILURE: &str = "Record failure";
const RUN_FAILED: &str = "Run failed";
const FINISH: &str = "Finish run";
/// Where a Map state finds its shard numbers in the state input.
const SHARDS_PATH: &str = "$.engage_shards";

/// The state machine definition for `pipeline`.
pub fn definition(pipeline: &Pipeline, target: &EcsTarget) -> Value {
    let builder = Builder { pipeline, target };
    let layers = builder.layers();
    let mut states = Map::new();
    let entries: Vec<String> = layers
        .iter()
        .map(|layer| match layer.as_slice() {
            [single] => builder.entry(&pipeline.stages[*single]),
            many => parallel_name(many.iter().map(|&i| pipeline.stages[i].name.as_str())),
        })
        .collect();
    for (n, layer) in layers.iter().enumerate() {
        let next = entries.get(n + 1).cloned().unwrap_or_else(|| FINISH.to_string());
        match layer.as_slice() {
            [single] => builder.add_stage(&mut states, &pipeline.stages[*single], Then::Next(next), true),
            many => {
                let branches: Vec<Value> = many
                    .iter()
                    .map(|&i| {
                        let spec = &pipeline.stages[i];
                        let mut branch_states = Map::new();
                        builder.add_stage(&mut branch_states, spec, Then::End, false);
                        json!({ "StartAt": builder.entry(spec), "States": branch_states })
                    })
                    .collect();
                states.insert(
                    entries[n].clone(),
                    json!({
                        "Type": "Parallel",
                        "Branches": branches,
                        "ResultPath": null,
                        "Catch": [catch_all()],
                        "Next": next,
                    }),
                );
            }
        }
    }
    states.insert(
        FINISH.into(),
        json!({
            "Type": "Task",
            "Comment": "Assemble the run record, publish the run's tables, render the report.",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": builder.parameters(builder.command(&["'stage'", "'finish'"], &[])),
            "ResultPath": null,
            "Catch": [catch_all()],
            "End": true,
        }),
    );
    states.insert(
        RECORD_FAILURE.into(),
        json!({
            "Type": "Task",
            "Comment": "Write the failed run's record so `engage runs show` tells what happened.",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": builder.parameters(builder.command(&["'stage'", "'finish'"], &[])),
            "ResultPath": null,
            "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": RUN_FAILED }],
            "Next": RUN_FAILED,
        }),
    );
    states.insert(
        RUN_FAILED.into(),
        json!({ "Type": "Fail", "Error": "EngageRunFailed", "Cause": format!("a stage of pipeline '{}' failed; see `engage runs show`", pipeline.name) }),
    );
    json!({
        "Comment": format!("Engage pipeline '{}': {}", pipeline.name, pipeline.description),
        "StartAt": entries.first().cloned().unwrap_or_else(|| FINISH.to_string()),
        "States": states,
    })
}

enum Then {
    Next(String),
    End,
}

impl Then {
    fn apply(&self, state: &mut Map<String, Value>) {
        match self {
            Then::Next(next) => state.insert("Next".into(), Value::from(next.as_str())),
            Then::End => state.insert("End".into(), Value::Bool(true)),
        };
    }
}

struct Builder<'a> {
    pipeline: &'a Pipeline,
    target: &'a EcsTarget,
}

impl Builder<'_> {
    /// Non-fallback stages in layers: each stage one layer after its last `after`.
    fn layers(&self) -> Vec<Vec<usize>> {
        let stages = &self.pipeline.stages;
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        // Validation guarantees an acyclic graph; resolve in passes until every stage has a depth.
        while depth.len() < stages.iter().filter(|s| !s.fallback_only).count() {
            let before = depth.len();
            for spec in stages.iter().filter(|s| !s.fallback_only) {
                if depth.contains_key(spec.name.as_str()) {
                    continue;
                }
                let parents: Option<Vec<usize>> = spec.after.iter().map(|a| depth.get(a.as_str()).copied()).collect();
                if let Some(parents) = parents {
                    depth.insert(&spec.name, parents.into_iter().max().map_or(0, |d| d + 1));
                }
            }
            if depth.len() == before {
                break;
            }
        }
        let mut layers: Vec<Vec<usize>> = Vec::new();
        for (i, spec) in stages.iter().enumerate() {
            if let Some(&d) = depth.get(spec.name.as_str()) {
                if layers.len() <= d {
                    layers.resize(d + 1, Vec::new());
                }
                layers[d].push(i);
            }
        }
        layers
    }

    /// The state a stage starts at (a mapped stage first lists its shards).
    fn entry(&self, spec: &StageSpec) -> String {
        match spec.map {
            Some(_) => format!("{} shards", spec.name),
            None => spec.name.clone(),
        }
    }

    /// Adds `spec`'s states, and those of the fallbacks its catch routes to, to `states`.
    fn add_stage(&self, states: &mut Map<String, Value>, spec: &StageSpec, then: Then, top_level: bool) {
        self.add_stage_replacing(states, spec, &then, top_level, None);
    }

    fn add_stage_replacing(&self, states: &mut Map<String, Value>, spec: &StageSpec, then: &Then, top_level: bool, replaces: Option<&str>) {
        let mut catches = Vec::new();
        if let Some(catch) = &spec.catch
            && let CatchAction::Next(fallback) = &catch.action
            && let Some(fallback_spec) = self.pipeline.stage(fallback)
        {
            catches.push(json!({ "ErrorEquals": error_names(&catch.on), "ResultPath": "$.error", "Next": self.entry(fallback_spec) }));
            if !states.contains_key(&self.entry(fallback_spec)) {
                // A fallback stands in for the stage that failed first.
                self.add_stage_replacing(states, fallback_spec, then, top_level, Some(replaces.unwrap_or(&spec.name)));
            }
        }
        if top_level {
            catches.push(catch_all());
        }

        let mut extra: Vec<String> = Vec::new();
        if let Some(replaced) = replaces {
            extra.push("'--replaces'".into());
            extra.push(literal(replaced));
        }
        let timeout = (spec.timeout + STARTUP_ALLOWANCE).as_secs().max(1);
        let mut task = Map::new();
        task.insert("Type".into(), "Task".into());
        task.insert("Resource".into(), "arn:aws:states:::ecs:runTask.sync".into());
        task.insert("TimeoutSeconds".into(), timeout.into());
        task.insert("ResultPath".into(), Value::Null);
        if let Some(retry) = retry(&spec.retry) {
            task.insert("Retry".into(), json!([retry]));
        }

        let Some(map) = spec.map else {
            let stage = ["'stage'".to_string(), "'run'".to_string()];
            let mut args = vec!["'--stage'".to_string(), literal(&spec.name), "'--attempt'".to_string(), ATTEMPT.to_string()];
            args.extend(extra);
            task.insert("Parameters".into(), self.parameters(self.command(&stage, &args)));
            if !catches.is_empty() {
                task.insert("Catch".into(), Value::Array(catches));
            }
            then.apply(&mut task);
            states.insert(spec.name.clone(), Value::Object(task));
            return;
        };

        // A mapped stage: list the shards, then one Task per shard; a shard is retried alone.
        let stage = ["'stage'".to_string(), "'run'".to_string()];
        let mut args = vec![
            "'--stage'".to_string(),
            literal(&spec.name),
            "'--shard'".to_string(),
            "States.Format('{}', $.shard)".to_string(),
            "'--attempt'".to_string(),
            ATTEMPT.to_string(),
        ];
        args.extend(extra);
        task.insert("Parameters".into(), self.parameters(self.command(&stage, &args)));
        task.insert("End".into(), Value::Bool(true));
        let shard_state = format!("{} shard", spec.name);
        let shards: Vec<u32> = (0..map.shards).collect();
        states.insert(self.entry(spec), json!({ "Type": "Pass", "Result": shards, "ResultPath": SHARDS_PATH, "Next": spec.name }));
        let mut state = Map::new();
        state.insert("Type".into(), "Map".into());
        state.insert("ItemsPath".into(), SHARDS_PATH.into());
        state.insert("ItemSelector".into(), json!({ "shard.$": "$$.Map.Item.Value" }));
        state.insert("MaxConcurrency".into(), map.max_concurrency.into());
        state.insert(
            "ItemProcessor".into(),
            json!({
                "ProcessorConfig": { "Mode": "INLINE" },
                "StartAt": shard_state,
                "States": { shard_state.clone(): task },
            }),
        );
        state.insert("ResultPath".into(), Value::Null);
        if !catches.is_empty() {
            state.insert("Catch".into(), Value::Array(catches));
        }
        then.apply(&mut state);
        states.insert(spec.name.clone(), Value::Object(state));
    }

    /// `engage <head...> <pipeline> --execution ... --started ... [--config ...] <args...>`
    /// as an intrinsic that builds the container's command array.
    fn command(&self, head: &[impl AsRef<str>], args: &[String]) -> String {
        let mut parts: Vec<String> = head.iter().map(|h| h.as_ref().to_string()).collect();
        parts.push(literal(&self.target.pipeline_path));
        parts.extend(["'--execution'".into(), "$$.Execution.Id".into(), "'--started'".into(), "$$.Execution.StartTime".into()]);
        parts.push("'--config'".into());
        parts.push(literal(&self.target.config_path));
        parts.extend(args.iter().cloned());
        format!("States.Array({})", parts.join(", "))
    }

    /// RunTask parameters with the container's command overridden.
    fn parameters(&self, command: String) -> Value {
        let t = self.target;
        json!({
            "Cluster": t.cluster,
            "TaskDefinition": t.task_definition,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": t.subnets,
                    "SecurityGroups": t.security_groups,
                    "AssignPublicIp": if t.assign_public_ip { "ENABLED" } else { "DISABLED" },
                }
            },
            "Overrides": { "ContainerOverrides": [{ "Name": t.container, "Command.$": command }] },
        })
    }
}

/// The attempt number: Step Functions counts retries from 0.
const ATTEMPT: &str = "States.Format('{}', States.MathAdd($$.State.RetryCount, 1))";

/// A string literal inside an intrinsic function (quotes, braces and backslashes escaped).
fn literal(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if matches!(c, '\'' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn parallel_name<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(" + ")
}

fn catch_all() -> Value {
    json!({ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE })
}

/// The Step Functions errors that stand for Engage error kinds (see the module docs).
fn error_names(kinds: &Kinds) -> Vec<&'static str> {
    match kinds {
        Kinds::All => vec!["States.ALL"],
        Kinds::Only(kinds) => {
            let mut names = vec!["States.TaskFailed"];
            if kinds.contains(&ErrorKind::Timeout) {
                names.push("States.Timeout");
            }
            names
        }
    }
}

fn retry(policy: &RetryPolicy) -> Option<Value> {
    if policy.max_attempts <= 1 {
        return None;
    }
    let mut rule = json!({
        "ErrorEquals": error_names(&policy.on),
        // Step Functions waits whole seconds, at least one.
        "IntervalSeconds": policy.interval.as_secs_f64().ceil().max(1.0) as u64,
        "BackoffRate": policy.backoff_rate.max(1.0),
        // Engage counts the first try; Step Functions counts retries.
        "MaxAttempts": policy.max_attempts - 1,
        "JitterStrategy": match policy.jitter { Jitter::Full => "FULL", Jitter::None => "NONE" },
    });
    if let Some(max) = policy.max_interval {
        rule["MaxDelaySeconds"] = Value::from(max.as_secs().max(1));
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_intrinsics_treat_specially() {
        assert_eq!(literal("qa-table"), "'qa-table'");
        assert_eq!(literal("it's {x}"), r"'it\'s \{x\}'");
    }
}
