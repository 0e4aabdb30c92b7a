//! The assistant and the `llm` capability on Bedrock, over the wire through the
//! AWS SDK against the stand-in (tests/support/bedrock_standin.py), which checks
//! the SigV4 signature and the Converse/InvokeModel bodies: a retrieval question
//! answered from numbered sources with checked citations, throttling retried,
//! bad citations and unbacked numbers turned into "I don't know", AWS errors
//! named, a Bedrock Knowledge Base (RetrieveAndGenerate) answering with its
//! cited passages checked the same way, and a granted stage plugin reaching
//! Bedrock when the config says so.

#[path = "support/bedrock.rs"]
mod bedrock;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use bedrock::{ACCESS_KEY, Bedrock, REGION, SECRET_KEY};
use engage::assistant::Assistant;
use engage::assistant::answer::Status;
use engage::assistant::grounded::GroundedAssistant;
use engage::assistant::kb::KnowledgeBase;
use engage::capabilities::llm::bedrock::DEFAULT_CHAT_MODEL;
use engage::capabilities::llm::bedrock_kb::BedrockKnowledgeBase;
use engage::capabilities::{Grants, StorageGrant};
use engage::config::{Backends, HostConfig, LlmConfig};
use engage::local_host::LocalHost;
use engage::runtime::stage::StageRequest;
use engage::runtime::{Capabilities, FailureKind, GuestLimits};
use serde_json::{Value, json};

const QUESTION: &str = "What does avg_session_minutes_30d mean?";

fn engage(root: &Path) -> Command {
    let mut command = support::engage_command(root, "assistant");
    support::stand_in_credentials(&mut command, ACCESS_KEY, SECRET_KEY);
    command
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One weekly run over generated snapshots, shared by every test here.
fn sample_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep().join("data");
        let out = engage(&root)
            .args(["data", "generate", "--users", "2000", "--weeks", "4", "--seed", "1", "--format", "csv", "--out"])
            .arg(root.join("landing/users"))
            .output()
            .unwrap();
        assert!(out.status.success(), "generate: {}", text(&out));
        let out = engage(&root)
            .arg("run")
            .arg(repo().join("pipelines/weekly-engagement.toml"))
            .args(["--json", "--no-progress"])
            .output()
            .unwrap();
        assert!(out.status.success(), "the weekly run: {}", text(&out));
        root
    })
}

fn ask_bedrock(standin: &Bedrock, question: &str, json: bool) -> Output {
    let mut command = engage(sample_root());
    command.args(["ask", question, "--backend", "bedrock", "--region", REGION, "--endpoint-url", &standin.endpoint()]);
    if json {
        command.arg("--json");
    }
    command.output().unwrap()
}

fn chunk_count() -> usize {
    KnowledgeBase::load(LocalHost::open(sample_root()).unwrap().object_store(), None).unwrap().chunks.len()
}

/// The assistant over the sample run with Bedrock (the stand-in) writing its retrieval answers.
fn grounded(standin: &Bedrock) -> GroundedAssistant {
    let host = LocalHost::open(sample_root()).unwrap();
    let config = HostConfig::parse("[llm]\nbackend = \"bedrock\"\nchat_model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nembed_model = \"amazon.titan-embed-text-v2:0\"\n").unwrap();
    let backends = Backends::open_with(&config, sample_root(), Some(standin.context(3))).unwrap();
    GroundedAssistant::new(Assistant::open_local(&host, None).unwrap(), backends.llm)
}

#[test]
fn a_retrieval_question_is_answered_on_bedrock_from_numbered_sources_with_checked_citations() {
    let standin = Bedrock::start();
    let out = ask_bedrock(&standin, QUESTION, true);
    assert!(out.status.success(), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "answered", "{answer}");
    assert_eq!(answer["backend"], "bedrock");
    assert_eq!(answer["chat_model"], DEFAULT_CHAT_MODEL);
    assert_eq!(answer["embed_model"], "amazon.titan-embed-text-v2:0");
    assert_eq!(answer["answered_by"], "model");
    let sources = answer["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5, "five numbered sources were sent: {answer}");
    assert_eq!(sources[0]["n"], 1);
    assert_eq!(sources[0]["id"], "data-dictionary#avg_session_minutes_30d", "the column the question names comes first");
    // The stand-in quoted source [1] and cited it; the marker is shown as the chunk id.
    assert!(answer["text"].as_str().unwrap().contains("Average length of a session"), "{answer}");
    assert!(answer["text"].as_str().unwrap().ends_with("[data-dictionary#avg_session_minutes_30d]"), "{answer}");
    assert_eq!(answer["citations"].as_array().unwrap().len(), 1);
    assert_eq!(answer["citations"][0]["id"], "data-dictionary#avg_session_minutes_30d");
    assert!(answer["model_reply"].as_str().unwrap().ends_with("[1]"), "{answer}");

    let converse = standin.calls("Converse");
    assert_eq!(converse.len(), 1, "{converse:?}");
    assert_eq!((converse[0]["status"].as_u64(), converse[0]["model"].as_str()), (Some(200), Some(DEFAULT_CHAT_MODEL)));
    assert_eq!((converse[0]["sources"].as_u64(), converse[0]["system"].as_bool()), (Some(5), Some(true)));
    // Titan embeddings for every chunk and the question (hybrid retrieval), each signed and well formed.
    let invoke = standin.calls("InvokeModel");
    assert_eq!(invoke.len(), chunk_count() + 1);
    assert!(invoke.iter().all(|r| r["model"] == "amazon.titan-embed-text-v2:0" && r["status"] == 200));
    assert!(standin.calls("rejected").is_empty(), "the stand-in rejected a request: {:?}", standin.requests());

    // Text output: the answer, then its numbered citations.
    let shown = text(&ask_bedrock(&standin, QUESTION, false));
    assert!(shown.contains("Average length of a session") && shown.contains("[1] data-dictionary#avg_session_minutes_30d"), "{shown}");
}

#[test]
fn structured_questions_stay_exact_sql_answers_and_never_reach_the_model() {
    let standin = Bedrock::start();
    let question = "How many users are likely to disengage next week?";
    let out = ask_bedrock(&standin, question, true);
    assert!(out.status.success(), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = engage(sample_root()).args(["ask", question, "--json"]).output().unwrap();
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(answer["answered_by"], "host");
    assert_eq!((&answer["status"], &answer["text"], &answer["citations"]), (&local["status"], &local["text"], &local["citations"]));
    assert_eq!(answer["citations"][0]["kind"], "query");
    assert!(standin.requests().is_empty(), "no call to Bedrock for a structured question: {:?}", standin.requests());
}

#[test]
fn throttling_is_retried_by_the_sdk_then_answered() {
    let standin = Bedrock::start();
    standin.plan(&["throttle"], &["throttle"]);
    let out = ask_bedrock(&standin, QUESTION, true);
    assert!(out.status.success(), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "answered", "{answer}");
    let converse: Vec<(u64, String)> =
        standin.calls("Converse").iter().map(|r| (r["status"].as_u64().unwrap(), r["step"].as_str().unwrap().to_string())).collect();
    assert_eq!(converse, vec![(429, "throttle".to_string()), (200, "ok".to_string())], "one 429 ThrottlingException, then the retry");
    let invoke = standin.calls("InvokeModel");
    assert_eq!(invoke.iter().filter(|r| r["status"] == 429).count(), 1);
    assert_eq!(invoke.iter().filter(|r| r["status"] == 200).count(), chunk_count() + 1, "the throttled embedding was retried");
}

#[test]
fn a_reply_citing_a_source_not_sent_or_stating_an_unbacked_number_becomes_i_dont_know() {
    let standin = Bedrock::start();
    let assistant = grounded(&standin);
    standin.plan(&["cite-unsent", "unbacked-number", "dont-know", "ok"], &[]);
    let expectations = [
        ("cite-unsent", "cited [6], which is not one of the 5 sources"),
        ("unbacked-number", "states 1 number(s) that no source it cites holds"),
        ("dont-know", "the sources do not answer this"),
    ];
    for (step, reason) in expectations {
        let g = assistant.ask(QUESTION).unwrap();
        assert_eq!(g.answered_by, "model");
        assert_eq!(g.answer.status, Status::Declined, "{step}: {}", g.answer.text);
        assert!(g.answer.text.starts_with("I don't know") && g.answer.text.contains(reason), "{step}: {}", g.answer.text);
        assert!(
            g.answer.text.contains("Closest sources") && g.answer.text.contains("data-dictionary#avg_session_minutes_30d"),
            "{}",
            g.answer.text
        );
        assert!(g.answer.citations.is_empty() && !g.answer.text.contains("987654"), "{step}: nothing of the reply is kept");
        assert!(g.model_reply.is_some());
    }
    // The same question with a well-behaved reply is answered: the checks decline only bad replies.
    let g = assistant.ask(QUESTION).unwrap();
    assert_eq!(g.answer.status, Status::Answered, "{}", g.answer.text);
    // The chunks were embedded once for all four questions.
    assert_eq!(standin.calls("InvokeModel").len(), chunk_count() + 4);
}

#[test]
fn an_error_from_bedrock_names_the_service_operation_and_model_and_no_credential() {
    let standin = Bedrock::start();
    standin.plan(&["validation"], &[]);
    let out = ask_bedrock(&standin, QUESTION, false);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains(&format!("bedrock Converse model {DEFAULT_CHAT_MODEL} at {}: ", standin.endpoint())), "{shown}");
    assert!(shown.contains("ValidationException: The provided model identifier is invalid."), "{shown}");
    assert_eq!(shown.trim().lines().count(), 1, "one line: {shown}");
    assert!(!shown.contains(SECRET_KEY) && !shown.contains(ACCESS_KEY), "no credential in an error: {shown}");
    assert_eq!(standin.calls("Converse").len(), 1, "a validation error is not retried");

    // An embedding error says InvokeModel and the embedding model.
    standin.plan(&[], &["validation"]);
    let shown = text(&ask_bedrock(&standin, "How is the model card organised?", false));
    assert!(shown.contains(&format!("bedrock InvokeModel model amazon.titan-embed-text-v2:0 at {}: ", standin.endpoint())), "{shown}");
    assert!(shown.contains("HTTP 400 ValidationException: Malformed input request."), "{shown}");
}

const KNOWLEDGE_BASE: &str = "KBENGAGE01";

/// The stand-in's knowledge base `KNOWLEDGE_BASE` holding the sample run's knowledge documents,
/// as a Bedrock Knowledge Base with the knowledge zone as its S3 data source would.
fn load_knowledge_base(standin: &Bedrock) {
    let kb = KnowledgeBase::load(LocalHost::open(sample_root()).unwrap().object_store(), None).unwrap();
    let mut documents: Vec<(String, String)> = Vec::new();
    for chunk in &kb.chunks {
        if documents.iter().all(|(uri, _)| *uri != chunk.source) {
            let path = sample_root().join(chunk.source.strip_prefix("s3://").unwrap());
            documents.push((chunk.source.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(documents.len() >= 5 && standin.load_knowledge_base(KNOWLEDGE_BASE, &documents) > 50, "{documents:?}");
}

fn ask_knowledge_base(standin: &Bedrock, knowledge_base: &str, question: &str) -> Output {
    let mut command = engage(sample_root());
    command.args(["ask", question, "--json", "--backend", "bedrock", "--region", REGION, "--endpoint-url", &standin.endpoint()]);
    command.args(["--knowledge-base", knowledge_base]).output().unwrap()
}

#[test]
fn a_knowledge_base_answers_retrieval_questions_with_its_passages_cited_as_chunks() {
    let standin = Bedrock::start();
    load_knowledge_base(&standin);
    let out = ask_knowledge_base(&standin, KNOWLEDGE_BASE, QUESTION);
    assert!(out.status.success(), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&answer["status"], &answer["answered_by"]), (&json!("answered"), &json!("knowledge-base")), "{answer}");
    assert_eq!(answer["chat_model"], format!("arn:aws:bedrock:{REGION}::foundation-model/{DEFAULT_CHAT_MODEL}"));
    assert!(answer["text"].as_str().unwrap().contains("Average length of a session over the last 30 days"), "{answer}");
    // The passages Bedrock cited are mapped back to the chunks of the host's knowledge base.
    let cited: Vec<&str> = answer["citations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(cited[0], "data-dictionary#avg_session_minutes_30d", "{answer}");
    assert!(answer["citations"][0]["source"].as_str().unwrap().ends_with("/data-dictionary.md"), "{answer}");

    let calls = standin.calls("RetrieveAndGenerate");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((calls[0]["model"].as_str(), calls[0]["status"].as_u64()), (Some(KNOWLEDGE_BASE), Some(200)));
    assert!(standin.calls("Converse").is_empty() && standin.calls("InvokeModel").is_empty(), "the knowledge base retrieves and writes");
    assert!(standin.calls("rejected").is_empty(), "the stand-in rejected a request: {:?}", standin.requests());

    // Structured questions stay the host's exact answers, never sent to the knowledge base.
    let out = ask_knowledge_base(&standin, KNOWLEDGE_BASE, "How many users are likely to disengage next week?");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&answer["answered_by"], &answer["citations"][0]["kind"]), (&json!("host"), &json!("query")), "{answer}");
    assert_eq!(standin.calls("RetrieveAndGenerate").len(), 1);
}

#[test]
fn a_knowledge_base_reply_without_backing_becomes_i_dont_know_and_throttling_is_retried() {
    let standin = Bedrock::start();
    load_knowledge_base(&standin);
    let settings = LlmConfig { knowledge_base_id: Some(KNOWLEDGE_BASE.into()), ..LlmConfig::default() };
    let knowledge_base = BedrockKnowledgeBase::from_config(standin.context(3), &settings).expect("a knowledge base is configured");
    let assistant = grounded(&standin).with_knowledge_base(knowledge_base);
    standin.plan_retrieve(&["throttle", "ok", "dont-know", "unbacked-number", "no-citation"]);

    let g = assistant.ask(QUESTION).unwrap();
    assert_eq!((g.answered_by, g.answer.status), ("knowledge-base", Status::Answered), "{}", g.answer.text);
    let steps: Vec<(u64, String)> =
        standin.calls("RetrieveAndGenerate").iter().map(|r| (r["status"].as_u64().unwrap(), r["step"].as_str().unwrap().to_string())).collect();
    assert_eq!(steps, vec![(429, "throttle".to_string()), (200, "ok".to_string())], "one ThrottlingException, then the SDK's retry");

    let expectations = [
        ("dont-know", "the knowledge base does not answer this"),
        ("unbacked-number", "states 1 number(s) that no passage it cites holds"),
        ("no-citation", "the knowledge base's reply cited no passage"),
    ];
    for (step, reason) in expectations {
        let g = assistant.ask(QUESTION).unwrap();
        assert_eq!(g.answer.status, Status::Declined, "{step}: {}", g.answer.text);
        assert!(g.answer.text.starts_with("I don't know") && g.answer.text.contains(reason), "{step}: {}", g.answer.text);
        assert!(g.answer.text.contains("data-dictionary#avg_session_minutes_30d"), "the host's closest chunks are shown: {}", g.answer.text);
        assert!(g.answer.citations.is_empty() && !g.answer.text.contains("987654"), "{step}: nothing of the reply is kept");
    }
    // A question the knowledge base holds nothing for gets Bedrock's refusal, shown as "I don't know".
    let g = assistant.ask("Zyxw qqqq vvvv?").unwrap();
    assert_eq!(g.answer.status, Status::Declined, "{}", g.answer.text);
    assert_eq!(g.model_reply.as_deref(), Some("Sorry, I am unable to assist you with this request."));
}

#[test]
fn an_unknown_knowledge_base_is_named_in_a_one_line_error() {
    let standin = Bedrock::start();
    let out = ask_knowledge_base(&standin, "KBMISSING9", QUESTION);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("bedrock-agent RetrieveAndGenerate knowledge base KBMISSING9"), "{shown}");
    assert!(shown.contains("ResourceNotFoundException: Knowledge base KBMISSING9 does not exist."), "{shown}");
    assert_eq!(shown.trim().lines().count(), 1, "one line: {shown}");
    assert!(!shown.contains(SECRET_KEY) && !shown.contains(ACCESS_KEY), "no credential in an error: {shown}");
}

fn limits() -> GuestLimits {
    GuestLimits { memory_bytes: 64 << 20, timeout: Duration::from_secs(60), output_bytes: 1 << 20 }
}

#[test]
fn a_stage_plugin_granted_llm_reaches_bedrock_when_the_config_says_so() {
    let standin = Bedrock::start();
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig::parse(&format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\n[llm]\nbackend = \"bedrock\"\nchat_model = \"anthropic.claude-3-5-haiku-20241022-v1:0\"\nembed_model = \"amazon.titan-embed-text-v2:0\"\n",
        standin.endpoint()
    ))
    .unwrap();
    let backends = Backends::open_with(&config, dir.path(), Some(standin.context(3))).unwrap();
    let caps = Capabilities::new(backends.storage.clone(), backends.sql.clone(), backends.llm.clone());
    let plugin = support::load("misbehave");
    let request = |stage: &'static str, llm: bool| StageRequest {
        run_id: "test-run",
        stage,
        params: json!({ "mode": "llm" }),
        grants: Grants { storage: vec![StorageGrant::parse("write:scratch/granted/").unwrap()], sql: false, llm, sql_database: None },
        limits: limits(),
    };
    let outcome = support::runtime().run_stage(&plugin, request("summarise", true), &caps).expect("the granted stage runs");
    let summary: Value = serde_json::from_str(&outcome.summary).unwrap();
    assert_eq!(summary["text"], "Stand-in Claude read 5 characters.", "the guest's prompt 'hello' reached the stand-in: {summary}");
    let converse = standin.calls("Converse");
    assert_eq!(converse.len(), 1);
    assert_eq!(converse[0]["model"], "anthropic.claude-3-5-haiku-20241022-v1:0", "the model id comes from the config");
    assert_eq!(converse[0]["max_tokens"], 10);

    let error = support::runtime().run_stage(&plugin, request("ungranted", false), &caps).expect_err("no llm grant, no Bedrock");
    assert_eq!(error.kind, FailureKind::Denied, "{error}");
    assert!(error.to_string().contains("not granted llm"), "{error}");
    assert_eq!(standin.calls("Converse").len(), 1, "the ungranted stage never reached Bedrock");
}
