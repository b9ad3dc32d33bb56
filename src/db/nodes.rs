//! The nodes sharing the database, each with when it was last seen.

use super::Handle;

/// Notes that node `id` (started at `started_at`) is alive now.
pub async fn beat(db: impl Into<Handle<'_>>, id: &str, started_at: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |conn| {
        sqlx::query(
            "INSERT INTO nodes (id, started_at, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(started_at)
        .bind(super::now())
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// How many nodes other than `id` were seen at or after `since`.
pub async fn others_alive(db: impl Into<Handle<'_>>, id: &str, since: i64) -> sqlx::Result<i64> {
    crate::on_db!(db, |conn| {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM nodes WHERE id <> $1 AND seen_at >= $2")
                .bind(id)
                .bind(since)
                .fetch_one(&mut *conn)
                .await?;
        Ok(count)
    })
}

/// Forgets the nodes not seen since `before` (long gone).
pub async fn forget_unseen(db: impl Into<Handle<'_>>, before: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, |conn| {
        let done = sqlx::query("DELETE FROM nodes WHERE seen_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

/// Stores what node `id` holds in calls, waiting and standing by (see `signaling`).
pub async fn publish_calls(db: impl Into<Handle<'_>>, id: &str, calls: &str) -> sqlx::Result<()> {
    crate::on_db!(db, |conn| {
        let now = super::now();
        sqlx::query(
            "INSERT INTO nodes (id, started_at, seen_at, calls) VALUES ($1, $2, $2, $3)
             ON CONFLICT (id) DO UPDATE SET calls = excluded.calls",
        )
        .bind(id)
        .bind(now)
        .bind(calls)
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// What node `id` last published, if it has a row.
pub async fn calls_of(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, |conn| {
        let row: Option<(String,)> = sqlx::query_as("SELECT calls FROM nodes WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|(calls,)| calls))
    })
}

/// The nodes seen at or after `since`, each with what it last published.
pub async fn alive(db: impl Into<Handle<'_>>, since: i64) -> sqlx::Result<Vec<(String, String)>> {
    crate::on_db!(db, |conn| {
        sqlx::query_as("SELECT id, calls FROM nodes WHERE seen_at >= $1 ORDER BY id")
            .bind(since)
            .fetch_all(&mut *conn)
            .await
    })
}
