//! The OpenAPI document stays in step with the router.
#![allow(clippy::unwrap_used)]

use super::common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(threddex_api::openapi_json()).unwrap()
}

#[tokio::test]
async fn served_document_is_valid_json_and_lists_every_route() {
    let st = state(store().await, None);
    let (status, served) = get_json(&st, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, doc());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: BTreeSet<String> = served["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let routed: BTreeSet<String> = threddex_api::route_paths()
        .into_iter()
        .map(|p| p.replace("{*", "{"))
        .collect();
    assert_eq!(documented, routed);
    for (path, item) in served["paths"].as_object().unwrap() {
        if is_admin(item) {
            // Admin operations declare the bearer token and its refusals.
            for (method, op) in item.as_object().unwrap() {
                assert_eq!(
                    op["security"][0]["adminToken"],
                    Value::Array(vec![]),
                    "{path}"
                );
                for code in ["401", "403"] {
                    assert!(op["responses"][code].is_object(), "{method} {path}: {code}");
                }
            }
            continue;
        }
        let get = &item["get"];
        assert!(get.is_object(), "{path}: only GET is served");
        assert!(get["responses"]["200"].is_object(), "{path}");
    }
}

/// The documented shape of `/collections/{id}` is the served one: every documented property
/// of a collection is served, and a view has exactly the documented properties.
#[tokio::test]
async fn collection_schema_matches_the_served_json() {
    let store = store().await;
    add_views(store.as_ref()).await;
    let st = state(store, None);
    let (status, c) = get_json(&st, &format!("/collections/{}", enc(DAILY))).await;
    assert_eq!(status, StatusCode::OK);
    let d = doc();
    let schemas = &d["components"]["schemas"];
    for (name, _) in schemas["Collection"]["properties"].as_object().unwrap() {
        assert!(
            c.get(name).is_some(),
            "documented {name} is not served: {c}"
        );
    }
    assert_eq!(
        schemas["Collection"]["properties"]["views"]["items"]["$ref"],
        "#/components/schemas/CollectionView"
    );
    let view_schema = &schemas["CollectionView"];
    let documented: BTreeSet<String> = view_schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let kinds = view_schema["properties"]["kind"]["enum"]
        .as_array()
        .unwrap();
    let views = c["views"].as_array().unwrap();
    assert!(!views.is_empty());
    for v in views {
        let served: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(served, documented, "{v}");
        assert!(kinds.contains(&v["kind"]), "{v}");
        for r in view_schema["required"].as_array().unwrap() {
            assert!(!v[r.as_str().unwrap()].is_null(), "{r} in {v}");
        }
        let access_props: BTreeSet<String> =
            view_schema["properties"]["access"]["items"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
        for a in v["access"].as_array().unwrap() {
            let served: BTreeSet<String> = a.as_object().unwrap().keys().cloned().collect();
            assert_eq!(served, access_props, "{a}");
        }
    }
}

/// Whether a path item is an admin endpoint (its operations need the admin token).
fn is_admin(item: &Value) -> bool {
    item.as_object()
        .unwrap()
        .values()
        .any(|op| op["security"].is_array())
}

#[tokio::test]
async fn admin_parameters_are_accepted() {
    let token = "openapi-test-token-0123456789";
    let st = threddex_api::AppState::new(
        store().await,
        None,
        threddex_api::ApiConfig {
            admin_token: Some(threddex_api::AdminToken::new(token).unwrap()),
            ..threddex_api::ApiConfig::default()
        },
    );
    let auth = format!("Bearer {token}");
    let d = doc();
    let runs = &d["paths"]["/runs"]["get"];
    let mut checked = 0;
    for p in runs["parameters"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let value = match name {
            // The fixture's source.
            "source" => "local".to_owned(),
            _ => p["example"].to_string(),
        };
        let uri = format!("/runs?{name}={}", enc(&value));
        let (status, _, body) = get_with(&st, &uri, &[("authorization", &auth)]).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
    let (status, _, _) = get_with(&st, "/sources", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_documented_parameter_is_accepted() {
    let st = state(store().await, None);
    let (_, first) = get_json(&st, &format!("/index?collection={}&limit=1", enc(DAILY))).await;
    let granule_cursor = first["next"].as_str().unwrap().to_owned();
    let (_, first) = get_json(&st, "/collections?limit=1").await;
    let collection_cursor = first["next"].as_str().unwrap().to_owned();
    let d = doc();
    let mut checked = 0;
    for (path, item) in d["paths"].as_object().unwrap() {
        if is_admin(item) {
            continue;
        }
        let params = item["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let concrete = path.replace("{id}", DAILY);
        let required: Vec<(String, String)> = params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["example"].as_str().unwrap().to_owned(),
                )
            })
            .map(|(n, v)| {
                if n == "collection" {
                    (n, DAILY.to_owned())
                } else {
                    (n, v)
                }
            })
            .collect();
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let value = match (name, path.as_str()) {
                ("collection", _) => DAILY.to_owned(),
                ("cursor", "/index") => granule_cursor.clone(),
                ("cursor", _) => collection_cursor.clone(),
                _ => match &p["example"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("{path} {name}: no example ({other})"),
                },
            };
            let mut pairs = required.clone();
            pairs.retain(|(n, _)| n != name);
            pairs.push((name.to_owned(), value));
            let q: String = pairs
                .iter()
                .map(|(n, v)| format!("{n}={}", enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            let uri = format!("{concrete}?{q}");
            // A stream never ends: only its status is read.
            let streaming =
                item["get"]["responses"]["200"]["content"]["text/event-stream"].is_object();
            let (status, body) = if streaming {
                (get_status(&st, &uri).await, Vec::new())
            } else {
                let (status, _, body) = get(&st, &uri).await;
                (status, body)
            };
            assert_eq!(
                status,
                StatusCode::OK,
                "{uri}: {}",
                String::from_utf8_lossy(&body)
            );
            checked += 1;
        }
    }
    assert!(checked >= 13, "only {checked} parameters checked");
}
