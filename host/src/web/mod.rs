//! `engage serve`: the web app for business users over a storage root — the
//! runs, each run's HTML report, the results table with filters and CSV
//! export, a user lookup and the assistant's ask box with clickable citations.
//! Server-side HTML, no external assets. Bound to 127.0.0.1 by default; bound
//! anywhere else it requires a token (`?token=` once, then a cookie, or an
//! `Authorization: Bearer` header).

pub mod pages;
pub mod results;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::assistant::Assistant;
use crate::assistant::kb::KnowledgeBase;
use crate::capabilities::storage::ObjectStore;
use crate::local_host::LocalHost;
use crate::pipeline::record::{RunStore, is_run_id};
use crate::pipeline::vars::run_db;
use results::{FilterParams, PAGE_ROWS};

const TOKEN_COOKIE: &str = "engage_token";

pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Required when `addr` is not a loopback address.
    pub token: Option<String>,
}

struct AppState {
    root: PathBuf,
    token: Option<String>,
}

type Shared = Arc<AppState>;

/// The token rule, checked before binding.
pub fn check_options(options: &ServeOptions) -> Result<()> {
    if !options.addr.ip().is_loopback() && options.token.as_deref().is_none_or(str::is_empty) {
        bail!("serve: binding {} (not a loopback address) needs --token (or ENGAGE_SERVE_TOKEN)", options.addr);
    }
    if options.token.as_deref().is_some_and(|t| t.len() < 16) {
        bail!("serve: --token must be at least 16 characters");
    }
    Ok(())
}

pub fn router(root: PathBuf, token: Option<String>) -> Router {
    let state: Shared = Arc::new(AppState { root, token });
    Router::new()
        .route("/", get(runs_page))
        .route("/runs/{id}", get(report_page))
        .route("/runs/{id}/results", get(results_page))
        .route("/runs/{id}/results.csv", get(results_csv))
        .route("/runs/{id}/knowledge", get(knowledge_page))
        .route("/users", get(user_page))
        .route("/ask", get(ask_page))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// Serves until the process is stopped; prints the address first.
pub async fn serve(root: PathBuf, options: ServeOptions) -> Result<()> {
    check_options(&options)?;
    let listener = tokio::net::TcpListener::bind(options.addr).await.with_context(|| format!("serve: binding {}", options.addr))?;
    let addr = listener.local_addr()?;
    crate::cli::write_stdout(format_args!("serving {} on http://{addr}/\n", root.display()));
    axum::serve(listener, router(root, options.token)).await.context("serve")
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{TOKEN_COOKIE}=")).map(str::to_string))
}

fn query_token(request: &Request) -> Option<String> {
    request.uri().query()?.split('&').find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
}

async fn require_token(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.clone() else { return next.run(request).await };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = query_token(&request);
    let given = bearer.or_else(|| from_query.clone()).or_else(|| cookie_token(request.headers()));
    if given.as_deref() != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, Html(pages::error("a token is required: open the link with ?token=..."))).into_response();
    }
    let mut response = next.run(request).await;
    if from_query.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!("{TOKEN_COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/"))
    {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Runs blocking work (storage, SQL) off the async workers; an error becomes a page.
async fn blocking<F>(state: &Shared, work: F) -> Response
where
    F: FnOnce(&LocalHost) -> Result<Response, (StatusCode, String)> + Send + 'static,
{
    let root = state.root.clone();
    let result = tokio::task::spawn_blocking(move || {
        let host = LocalHost::open(&root).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        work(&host)
    })
    .await;
    match result {
        Ok(Ok(response)) => response,
        Ok(Err((status, message))) if status == StatusCode::NOT_FOUND => (status, Html(pages::not_found(&message))).into_response(),
        Ok(Err((status, message))) => (status, Html(pages::error(&message))).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Html(pages::error(&format!("the request failed: {e}")))).into_response(),
    }
}

fn checked_run(id: &str) -> Result<String, (StatusCode, String)> {
    if is_run_id(id) { Ok(id.to_string()) } else { Err((StatusCode::NOT_FOUND, format!("'{id}' is not a run id"))) }
}

/// Any path the app does not serve: a small page, not an empty body.
async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    (StatusCode::NOT_FOUND, Html(pages::not_found(&format!("there is no page at {path}")))).into_response()
}

/// A run whose results and knowledge base exist: a run that failed, or is still running, has none (404, saying why).
fn finished_run(host: &LocalHost, id: &str) -> Result<String, (StatusCode, String)> {
    let id = checked_run(id)?;
    RunStore::new(host.object_store()).finished(&id).map_err(|e| (StatusCode::NOT_FOUND, format!("{e:#}")))?;
    Ok(id)
}

/// The results filters from the query string. A parameter given twice, or one that does not parse, is a 400 naming it.
fn filter_params(query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>) -> Result<FilterParams, (StatusCode, String)> {
    let Query(pairs) = query.map_err(|e| (StatusCode::BAD_REQUEST, format!("the query string could not be read: {}", e.body_text())))?;
    let mut params = FilterParams::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        let slot = match key.as_str() {
            "segment" => &mut params.segment,
            "plan" => &mut params.plan,
            "country" => &mut params.country,
            "min" => &mut params.min,
            "max" => &mut params.max,
            _ => continue,
        };
        if seen.contains(&key.as_str()) {
            return Err((StatusCode::BAD_REQUEST, format!("the parameter '{key}' is given more than once: choose one {key}")));
        }
        seen.push(key);
        *slot = value.clone();
    }
    Ok(params)
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn runs_page(State(state): State<Shared>) -> Response {
    blocking(&state, |host| {
        let store = RunStore::new(host.object_store());
        let records = store.list().map_err(|e| internal(format!("{e:#}")))?;
        let latest = store.latest().map_err(|e| internal(format!("{e:#}")))?;
        Ok(Html(pages::runs(&records, latest.as_deref())).into_response())
    })
    .await
}

async fn report_page(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    blocking(&state, move |host| {
        let id = checked_run(&id)?;
        let bytes = host.storage.get(crate::pipeline::step::RUNS_BUCKET, &crate::report::record_key(&id)).map_err(|e| (StatusCode::NOT_FOUND, format!("run {id}: {e}")))?;
        let record: serde_json::Value = serde_json::from_slice(&bytes).map_err(internal)?;
        let page = crate::report::render(&record).map_err(|e| internal(format!("{e:#}")))?;
        let nav = format!("<body><nav style=\"padding:.5em 1em;background:#1d3557\"><a style=\"color:#fff;margin-right:1em\" href=\"/\">Runs</a><a style=\"color:#fff;margin-right:1em\" href=\"/runs/{id}/results\">Results</a><a style=\"color:#fff\" href=\"/ask?run={id}\">Ask</a></nav>");
        Ok(Html(page.replacen("<body>", &nav, 1)).into_response())
    })
    .await
}

async fn results_page(
    State(state): State<Shared>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    blocking(&state, move |host| {
        let params = filter_params(query)?;
        let filters = params.check().map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let id = finished_run(host, &id)?;
        let sql = host.sql().map_err(|e| internal(format!("{e:#}")))?;
        let db = run_db(&id);
        let total = results::rows(&*sql, &results::count(&db, &filters)).map_err(internal)?;
        let total = total.first().and_then(|r| r.first()).and_then(|c| c.parse().ok()).unwrap_or(0);
        let rows = results::rows(&*sql, &results::select(&db, &filters, Some(PAGE_ROWS))).map_err(internal)?;
        Ok(Html(pages::results(&id, &params, total, &rows)).into_response())
    })
    .await
}

async fn results_csv(
    State(state): State<Shared>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    blocking(&state, move |host| {
        let params = filter_params(query)?;
        let filters = params.check().map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let id = finished_run(host, &id)?;
        let sql = host.sql().map_err(|e| internal(format!("{e:#}")))?;
        let rows = results::rows(&*sql, &results::select(&run_db(&id), &filters, None)).map_err(internal)?;
        let body = results::csv(&rows).map_err(internal)?;
        let disposition = format!("attachment; filename=\"engagement_results_{id}.csv\"");
        Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
            .into_response())
    })
    .await
}

async fn knowledge_page(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    blocking(&state, move |host| {
        let id = finished_run(host, &id)?;
        let kb = KnowledgeBase::load(host.object_store(), Some(&id)).map_err(|e| (StatusCode::NOT_FOUND, format!("{e:#}")))?;
        Ok(Html(pages::knowledge(&id, &kb.chunks)).into_response())
    })
    .await
}

#[derive(Deserialize)]
struct UserParams {
    #[serde(default)]
    run: String,
    #[serde(default)]
    id: String,
}

/// The run a page asks about: the one named, else the newest published run.
fn run_or_latest(host: &LocalHost, run: &str) -> Result<String, (StatusCode, String)> {
    if !run.is_empty() {
        return finished_run(host, run);
    }
    RunStore::new(host.object_store())
        .latest()
        .map_err(|e| internal(format!("{e:#}")))?
        .ok_or((StatusCode::NOT_FOUND, "no published run yet".into()))
}

async fn user_page(State(state): State<Shared>, Query(p): Query<UserParams>) -> Response {
    blocking(&state, move |host| {
        let run = run_or_latest(host, &p.run)?;
        let user = p.id.trim().to_string();
        if user.is_empty() {
            return Ok(Html(pages::user(&run, "", None)).into_response());
        }
        if !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || user.len() > 64 {
            return Err((StatusCode::BAD_REQUEST, format!("'{user}' is not a user id (letters, digits, '_' and '-')")));
        }
        let sql = host.sql().map_err(|e| internal(format!("{e:#}")))?;
        let statement = format!("SELECT {} FROM {}.engagement_results WHERE user_id = '{user}'", results::COLUMNS.join(", "), run_db(&run));
        let rows = results::rows(&*sql, &statement).map_err(internal)?;
        Ok(Html(pages::user(&run, &user, rows.first().map(Vec::as_slice))).into_response())
    })
    .await
}

#[derive(Deserialize)]
struct AskParams {
    #[serde(default)]
    run: String,
    #[serde(default)]
    q: String,
}

async fn ask_page(State(state): State<Shared>, Query(p): Query<AskParams>) -> Response {
    blocking(&state, move |host| {
        let run = run_or_latest(host, &p.run)?;
        if p.q.trim().is_empty() {
            return Ok(Html(pages::ask_empty(&run)).into_response());
        }
        let assistant = Assistant::open_local(host, Some(&run)).map_err(|e| (StatusCode::NOT_FOUND, format!("{e:#}")))?;
        Ok(Html(pages::answer(&assistant.ask(p.q.trim()))).into_response())
    })
    .await
}
