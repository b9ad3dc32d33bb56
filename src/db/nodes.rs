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
