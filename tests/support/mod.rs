//! Shared test helpers: fresh databases on SQLite and PostgreSQL.
//!
//! PostgreSQL tests use `RELANCE_TEST_POSTGRES_URL` (a server URL whose user
//! may create databases, e.g. `postgres://postgres@127.0.0.1:55432/postgres`);
//! each test gets a database of its own. Without it they say so and skip on a
//! developer's machine, and fail under `CI=true`, so that nothing is silently
//! left out.

#![allow(dead_code)]

pub mod http;
pub mod inbound;
pub mod provider;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use relance::store::{Store, Synchronous, sqlite_url};
use sea_orm::{ConnectionTrait, Database};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A scratch folder under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A migrated store on a new SQLite file.
pub async fn sqlite_store(name: &str) -> (Store, PathBuf) {
    let dir = scratch(name);
    let file = dir.join("relance.db");
    let store = Store::open(&sqlite_url(&file), Synchronous::Full)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, file)
}

/// The PostgreSQL server URL for tests, or `None` after saying why (and
/// panicking under `CI=true`).
pub fn postgres_server() -> Option<String> {
    match std::env::var("RELANCE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "RELANCE_TEST_POSTGRES_URL is not set, and CI=true: PostgreSQL tests must run"
                );
            }
            eprintln!("skipped: no PostgreSQL (set RELANCE_TEST_POSTGRES_URL to run this test)");
            None
        }
    }
}

/// A new, empty PostgreSQL database on the test server: its URL.
pub async fn postgres_database(name: &str) -> Option<String> {
    let server = postgres_server()?;
    // PostgreSQL cuts names at 63 bytes: the unique part goes first.
    let mut db_name = format!(
        "t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        name.to_lowercase()
    );
    db_name.truncate(63);
    let admin = Database::connect(server.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
        .await
        .unwrap();
    admin.close().await.ok();
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
    Some(format!("{base}/{db_name}"))
}

/// A migrated store on a new PostgreSQL database, when a server is there.
pub async fn postgres_store(name: &str) -> Option<Store> {
    let url = postgres_database(name).await?;
    let store = Store::open(&url, Synchronous::Full).await.unwrap();
    store.migrate().await.unwrap();
    Some(store)
}
