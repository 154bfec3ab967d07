//! `threddex subscriptions add|list|remove|resume|deliveries`: webhook subscriptions, in the
//! database (the delivery worker of `threddex serve` picks changes up within a poll).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use threddex_notify::webhook::register;
use threddex_store::{Subscription, SubscriptionFilter};

use crate::cli::SubscriptionsCommand;
use crate::config::Config;
use crate::time::fmt_opt;

pub async fn run(cmd: SubscriptionsCommand, mut cfg: Config) -> anyhow::Result<ExitCode> {
    let db = match &cmd {
        SubscriptionsCommand::Add(a) => &a.db,
        SubscriptionsCommand::List(a) => &a.db,
        SubscriptionsCommand::Remove(a) => &a.db,
        SubscriptionsCommand::Resume(a) => &a.db,
        SubscriptionsCommand::Deliveries(a) => &a.db,
    };
    cfg.apply_db(db);
    let store = cfg.database.open().await?;
    let mut out = std::io::stdout().lock();
    match cmd {
        SubscriptionsCommand::Add(a) => {
            let bbox = a
                .bbox
                .as_deref()
                .map(threddex_api::params::parse_bbox)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--bbox: {e}"))?;
            let filter = SubscriptionFilter {
                collections: a.collection,
                pattern: a.pattern,
                q: a.query,
                bbox,
            };
            let s = register(
                store.as_ref(),
                &a.url,
                filter,
                a.after,
                cfg.notify.webhooks.allow_private_targets,
            )
            .await?;
            writeln!(out, "subscription {} -> {}", s.id, s.target_url)?;
            writeln!(out, "secret {}", s.secret)?;
            writeln!(out, "delivering changes after {}", s.cursor)?;
        }
        SubscriptionsCommand::List(a) => {
            for s in store.list_subscriptions().await? {
                if a.json {
                    writeln!(out, "{}", serde_json::to_string(&json(&s))?)?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}\tcursor {}\tfailures {}\tlast ok {}{}",
                        s.id,
                        s.state.as_str(),
                        s.target_url,
                        s.cursor,
                        s.failures,
                        fmt_opt(s.last_success_at),
                        s.disabled_reason
                            .as_deref()
                            .map(|r| format!("\t({r})"))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        SubscriptionsCommand::Remove(a) => {
            if !store.remove_subscription(a.id).await? {
                bail!("no subscription {}", a.id);
            }
            writeln!(out, "removed subscription {}", a.id)?;
        }
        SubscriptionsCommand::Resume(a) => {
            if let Some(after) = a.after {
                let (head, pruned) = store.change_head().await?;
                if after < pruned || after > head {
                    bail!("--after: a change-log position between {pruned} and {head}");
                }
            }
            let Some(s) = store.enable_subscription(a.id, a.after).await? else {
                bail!("no subscription {}", a.id);
            };
            writeln!(out, "subscription {} active from cursor {}", s.id, s.cursor)?;
        }
        SubscriptionsCommand::Deliveries(a) => {
            if store.subscription(a.id).await?.is_none() {
                bail!("no subscription {}", a.id);
            }
            for d in store.deliveries(a.id, None, a.limit).await? {
                let d = d.attempt;
                writeln!(
                    out,
                    "{}\tevent {}\tattempt {}\t{}\t{}\t{} ms\t{}",
                    d.at.to_rfc3339(),
                    d.event_id,
                    d.attempt,
                    d.outcome.as_str(),
                    d.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    d.duration_ms,
                    d.error.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn json(s: &Subscription) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "url": s.target_url,
        "filter": s.filter,
        "status": s.state.as_str(),
        "disabled_reason": s.disabled_reason,
        "cursor": s.cursor,
        "failures": s.failures,
        "created_at": s.created_at,
        "last_success_at": s.last_success_at,
        "last_failure_at": s.last_failure_at,
    })
}
