//! `engage ask "<question>"`: a question about a run answered with citations, or
//! `engage ask --eval questions.jsonl`: the assistant scored on a question set.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::assistant::answer::{Answer, Citation, Status};
use crate::assistant::grounded::{Grounded, GroundedAssistant, bedrock_config};
use crate::assistant::kb::KnowledgeBase;
use crate::assistant::{Assistant, eval};
use crate::capabilities::llm::ModelIds;
use crate::capabilities::llm::bedrock_kb::BedrockKnowledgeBase;
use crate::config::{Backends, HostConfig};

#[derive(Args)]
pub struct AskArgs {
    /// The question, in plain language ("how many users are likely to disengage next week?").
    #[arg(required_unless_present = "eval")]
    pub question: Option<String>,
    /// The run to ask about (default: the newest published run).
    #[arg(long)]
    pub run: Option<String>,
    /// Who answers: the built-in answerer (offline), or Claude on Bedrock over the same evidence, its citations checked.
    #[arg(long, value_enum, default_value_t = Backend::Local)]
    pub backend: Backend,
    /// The runtime config: storage and SQL backends, and the `[llm]` models and region for `--backend bedrock`.
    #[arg(long, value_name = "FILE", env = "ENGAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// bedrock: the AWS region (overrides llm.region).
    #[arg(long)]
    pub region: Option<String>,
    /// bedrock: send requests here instead of AWS, e.g. a stand-in on 127.0.0.1 (overrides llm.endpoint_url; else AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// bedrock: answer retrieval questions with this Bedrock Knowledge Base (RetrieveAndGenerate) instead of
    /// the host's retrieval and Converse (overrides llm.knowledge_base_id).
    #[arg(long, value_name = "ID")]
    pub knowledge_base: Option<String>,
    /// Score a question set with answer keys (JSON lines) instead of asking one question.
    #[arg(long, conflicts_with = "question")]
    pub eval: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The built-in answerer: the run's tables and BM25 over its knowledge base, offline.
    Local,
    /// Structured questions as local; the rest written by Claude 3 Haiku on Bedrock from BM25 + Titan-embedding sources.
    Bedrock,
}

pub fn run(args: AskArgs, root: &Path) -> Result<()> {
    if args.backend == Backend::Local && (args.region.is_some() || args.endpoint_url.is_some() || args.knowledge_base.is_some()) {
        bail!("ask: --region, --endpoint-url and --knowledge-base apply to --backend bedrock");
    }
    let mut config = HostConfig::load_or_default(args.config.as_deref())?;
    if args.backend == Backend::Bedrock {
        config = bedrock_config(config, args.region.clone(), args.endpoint_url.clone());
        if args.knowledge_base.is_some() {
            config.llm.knowledge_base_id = args.knowledge_base.clone();
        }
    }
    let backends = Backends::open(&config, root)?;
    let kb = KnowledgeBase::load(backends.storage.clone(), args.run.as_deref())?;
    let mut grounded = GroundedAssistant::new(Assistant::new(kb, backends.sql.clone()), backends.llm.clone());
    if args.backend == Backend::Bedrock
        && let Some(knowledge_base) = backends.aws.clone().and_then(|aws| BedrockKnowledgeBase::from_config(aws, &config.llm))
    {
        grounded = grounded.with_knowledge_base(knowledge_base);
    }
    let assistant = &grounded.assistant;
    let ask = |q: &str| -> Result<Grounded, String> {
        match args.backend {
            Backend::Local => Ok(Grounded {
                model: ModelIds { backend: "local", chat_model: None, embed_model: None },
                answered_by: "host",
                sources: vec![],
                model_reply: None,
                answer: assistant.ask(q),
            }),
            Backend::Bedrock => grounded.ask(q),
        }
    };
    if let Some(path) = &args.eval {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let questions = eval::load(&text, &path.display().to_string())?;
        let report = eval::evaluate(assistant, &questions, &|q: &str| ask(q).map(|g| g.answer))?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_report(&report);
        }
        return Ok(());
    }
    let Some(question) = args.question.as_deref() else { bail!("ask: give a question or --eval FILE") };
    let grounded = ask(question).map_err(anyhow::Error::msg)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&grounded)?);
    } else {
        print_answer(&grounded.answer);
    }
    Ok(())
}

fn print_answer(answer: &Answer) {
    outln!("{}", answer.text);
    if answer.status == Status::Answered {
        outln!();
        for (i, c) in answer.citations.iter().enumerate() {
            match c {
                Citation::Chunk { id, source, heading } => outln!("[{}] {id}: {heading} ({source})", i + 1),
                Citation::Query { table, sql } => outln!("[{}] {table}: {sql}", i + 1),
            }
        }
    }
}

fn print_report(r: &eval::Report) {
    outln!("run {}: {} questions", r.run_id, r.questions);
    outln!("  correct                 {} ({:.1}%)", r.correct, 100.0 * r.accuracy);
    outln!("  answerable correct      {} of {}", r.answerable_correct, r.answerable);
    outln!(
        "  declined when they must {} of {} ({:.1}%); false declines {}",
        r.declined,
        r.must_decline,
        100.0 * r.abstention_accuracy,
        r.false_declines
    );
    outln!("  citation precision      {:.1}%, recall {:.1}%", 100.0 * r.citation_precision, 100.0 * r.citation_recall);
    outln!("  retrieval recall@5      {:.1}% ({} questions)", 100.0 * r.retrieval_recall_at_5, r.retrieval_questions);
    outln!("  numbers backed          {:.1}% of {} answers", 100.0 * r.numbers_backed, r.answered);
    outln!(
        "  latency ms              mean {:.1}, p50 {:.1}, p95 {:.1}, max {:.1}",
        r.latency_ms.mean, r.latency_ms.p50, r.latency_ms.p95, r.latency_ms.max
    );
    for f in &r.failures {
        outln!("  wrong {}: {} (expected {}; got: {})", f.id, f.question, f.expected, f.answer);
    }
}
