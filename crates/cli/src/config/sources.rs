//! Registering the `[[sources]]` of the configuration in the store.

use anyhow::{Context, bail};
use threddex_store::{NewSource, Source, Store};

use super::SourceConfig;

// ----- sources from the config -------------------------------------------------------------

/// What [`register_sources`] did with one config source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registered {
    /// Newly added.
    Added(String),
    /// Already there with the same URL and settings.
    Unchanged(String),
    /// Already there with the same URL; these settings (`every`, `authority`, `select`,
    /// `skip`, `rules`) were changed to the file's.
    Updated(String, Vec<&'static str>),
}

/// Register the `[[sources]]` of the config (never their credentials): missing ones are
/// added, existing ones get the file's settings (`every`, `authority`, `select`, `skip`,
/// `rules`; their ID and everything harvested stay). A source whose name is registered with
/// another URL, or whose URL is registered under another name, is an error.
pub async fn register_sources(
    store: &dyn Store,
    sources: &[SourceConfig],
) -> anyhow::Result<Vec<Registered>> {
    let mut out = Vec::with_capacity(sources.len());
    for s in sources {
        let wanted = s.new_source()?;
        match store.source_by_name(&wanted.name).await? {
            Some(existing) => out.push(reconcile(store, &existing, wanted).await?),
            None => {
                if let Some(other) = store.source_by_url(&wanted.url).await? {
                    bail!(
                        "config source {:?}: its url {} is registered as source {:?}; rename \
                         one of them",
                        wanted.name,
                        wanted.url,
                        other.settings.name
                    );
                }
                store
                    .add_source(&wanted)
                    .await
                    .with_context(|| format!("cannot register config source {:?}", wanted.name))?;
                tracing::info!(source = %wanted.name, url = %wanted.url, "registered source from the config");
                out.push(Registered::Added(wanted.name));
            }
        }
    }
    Ok(out)
}

/// The settings of `wanted` that differ from `existing`'s, by config key.
fn changed_fields(existing: &NewSource, wanted: &NewSource) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if existing.every_secs != wanted.every_secs {
        fields.push("every");
    }
    if existing.authority != wanted.authority {
        fields.push("authority");
    }
    if existing.select != wanted.select {
        fields.push("select");
    }
    if existing.skip != wanted.skip {
        fields.push("skip");
    }
    if existing.rules != wanted.rules {
        fields.push("rules");
    }
    fields
}

async fn reconcile(
    store: &dyn Store,
    existing: &Source,
    wanted: NewSource,
) -> anyhow::Result<Registered> {
    if existing.settings.url != wanted.url {
        bail!(
            "config source {:?} has url {}, but the database has it with url {} \
             (`threddex sources remove {}` drops it and what was harvested from it)",
            wanted.name,
            wanted.url,
            existing.settings.url,
            wanted.name
        );
    }
    let fields = changed_fields(&existing.settings, &wanted);
    if fields.is_empty() {
        return Ok(Registered::Unchanged(wanted.name));
    }
    store
        .update_source(&wanted)
        .await
        .with_context(|| format!("cannot update config source {:?}", wanted.name))?;
    // Only key names: the values are in the file (and settings hold no credentials anyway).
    tracing::info!(
        source = %wanted.name,
        changed = %fields.join(", "),
        "updated source settings from the config"
    );
    Ok(Registered::Updated(wanted.name, fields))
}
