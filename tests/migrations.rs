//! Both engines' migrations reach the same schema: the same tables, each with the same columns
//! and the same indexes. Every change to the schema is a migration in both folders; this test
//! is what notices one that was written for one engine only.

mod helpers;

use std::collections::{BTreeMap, BTreeSet};

use helpers::postgres;

/// Table → its columns; and the index names.
type Schema = (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>);

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = visitas::db::open(&visitas::db::Location::File(dir.path().join("visitas.db")))
        .await
        .expect("SQLite migrates");
    let columns: Vec<(String, String)> = visitas::sql!(&pool, |c| sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the tables");
    let indexes: Vec<(String,)> = visitas::sql!(&pool, |c| sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the indexes");
    pool.close().await;
    collect(columns, indexes)
}

async fn postgres_schema(url: String) -> Schema {
    let pool = visitas::db::open(&visitas::db::Location::Postgres(url))
        .await
        .expect("PostgreSQL migrates");
    let columns: Vec<(String, String)> = visitas::sql!(&pool, |c| sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the tables");
    // Primary keys and UNIQUE columns have indexes of their own on both engines, named
    // differently: compare the ones the migrations name.
    let indexes: Vec<(String,)> = visitas::sql!(&pool, |c| sqlx::query_as(
        "SELECT i.indexname::text FROM pg_indexes i
         WHERE i.schemaname = 'public' AND i.tablename <> '_sqlx_migrations'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the indexes");
    pool.close().await;
    collect(columns, indexes)
}

fn collect(columns: Vec<(String, String)>, indexes: Vec<(String,)>) -> Schema {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (table, column) in columns {
        tables.entry(table).or_default().insert(column);
    }
    (tables, indexes.into_iter().map(|(name,)| name).collect())
}

#[tokio::test]
async fn both_engines_reach_the_same_tables_columns_and_indexes() {
    let server = postgres::Server::get();
    let url = server
        .database(&format!("schema_{}", std::process::id()))
        .await;

    let (sqlite_tables, sqlite_indexes) = sqlite_schema().await;
    let (pg_tables, pg_indexes) = postgres_schema(url).await;

    assert!(sqlite_tables.len() >= 20, "{sqlite_tables:?}");
    assert_eq!(
        sqlite_tables.keys().collect::<Vec<_>>(),
        pg_tables.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, columns) in &sqlite_tables {
        assert_eq!(
            Some(columns),
            pg_tables.get(table),
            "the columns of {table}"
        );
    }
    assert_eq!(sqlite_indexes, pg_indexes, "the same indexes");
}

#[test]
fn both_migration_folders_end_at_the_same_version() {
    let last = |engine: &str| {
        std::fs::read_dir(format!(
            "{}/migrations/{engine}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the folder")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.split('_').next()?.parse::<u32>().ok()
        })
        .max()
        .expect("a migration")
    };
    assert_eq!(last("sqlite"), last("postgres"));
}
