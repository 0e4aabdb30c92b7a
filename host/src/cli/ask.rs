//! `engage ask "<question>"`: a question about a run answered with citations, or
//! `engage ask --eval questions.jsonl`: the assistant scored on a question set.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::assistant::answer::{Answer, Citation, Status};
use crate::assistant::{Assistant, eval};
use crate::local_host::LocalHost;

#[derive(Args)]
pub struct AskArgs {
    /// The question, in plain language ("how many users are likely to disengage next week?").
    #[arg(required_unless_present = "eval")]
    pub question: Option<String>,
    /// The run to ask about (default: the newest published run).
    #[arg(long)]
    pub run: Option<String>,
    /// Who answers: the built-in answerer (offline; the only backend built so far).
    #[arg(long, value_enum, default_value_t = Backend::Local)]
    pub backend: Backend,
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
}

pub fn run(args: AskArgs, root: &Path) -> Result<()> {
    let host = LocalHost::open(root)?;
    let assistant = Assistant::open_local(&host, args.run.as_deref())?;
    let answer = |q: &str| -> Result<Answer, String> {
        match args.backend {
            Backend::Local => Ok(assistant.ask(q)),
        }
    };
    if let Some(path) = &args.eval {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let questions = eval::load(&text, &path.display().to_string())?;
        let report = eval::evaluate(&assistant, &questions, &answer)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_report(&report);
        }
        return Ok(());
    }
    let Some(question) = args.question.as_deref() else { bail!("ask: give a question or --eval FILE") };
    let answer = answer(question).map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_answer(&answer);
    }
    Ok(())
}

fn print_answer(answer: &Answer) {
    println!("{}", answer.text);
    if answer.status == Status::Answered {
        println!();
        for (i, c) in answer.citations.iter().enumerate() {
            match c {
                Citation::Chunk { id, source, heading } => println!("[{}] {id}: {heading} ({source})", i + 1),
                Citation::Query { table, sql } => println!("[{}] {table}: {sql}", i + 1),
            }
        }
    }
}

fn print_report(r: &eval::Report) {
    println!("run {}: {} questions", r.run_id, r.questions);
    println!("  correct                 {} ({:.1}%)", r.correct, 100.0 * r.accuracy);
    println!("  answerable correct      {} of {}", r.answerable_correct, r.answerable);
    println!(
        "  declined when they must {} of {} ({:.1}%); false declines {}",
        r.declined,
        r.must_decline,
        100.0 * r.abstention_accuracy,
        r.false_declines
    );
    println!("  citation precision      {:.1}%, recall {:.1}%", 100.0 * r.citation_precision, 100.0 * r.citation_recall);
    println!("  retrieval recall@5      {:.1}% ({} questions)", 100.0 * r.retrieval_recall_at_5, r.retrieval_questions);
    println!("  numbers backed          {:.1}% of {} answers", 100.0 * r.numbers_backed, r.answered);
    println!(
        "  latency ms              mean {:.1}, p50 {:.1}, p95 {:.1}, max {:.1}",
        r.latency_ms.mean, r.latency_ms.p50, r.latency_ms.p95, r.latency_ms.max
    );
    for f in &r.failures {
        println!("  wrong {}: {} (expected {}; got: {})", f.id, f.question, f.expected, f.answer);
    }
}
