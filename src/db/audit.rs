//! The audit trail: one row per state-changing action (and per refusal that matters), written in
//! the same transaction as the change itself so that neither exists without the other.
//!
//! The rows form a hash chain: each row's `hash` is the SHA-256 of the previous row's hash and
//! its own content ([`chain_hash`]). The chain's end (`audit_head`) is taken first by every
//! writer, which orders them; triggers refuse changing or removing a row. [`verify`] walks the
//! whole chain and names the first row that does not match.

use futures_util::TryStreamExt;
use sqlx::Connection;

use super::Handle;

use crate::domain::{AuditAction, sha256_hex};

/// The "previous hash" of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Records that `actor` did `action` to `subject`.
pub async fn record(
    conn: impl Into<Handle<'_>>,
    actor_id: Option<&str>,
    action: AuditAction,
    subject: Option<&str>,
) -> sqlx::Result<()> {
    record_detail(conn, actor_id, action, subject, None).await
}

/// Records that `actor` did `action` to `subject`, with what else it needs (an override's
/// reason, a refused path). Never a secret.
///
/// Inside the caller's transaction, or a transaction of its own on a bare connection: the row
/// and the chain's end move together.
pub async fn record_detail(
    conn: impl Into<Handle<'_>>,
    actor_id: Option<&str>,
    action: AuditAction,
    subject: Option<&str>,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        if conn.is_in_transaction() {
            return append(conn, actor_id, action, subject, detail).await;
        }
        let mut tx = conn.begin().await?;
        append(&mut *tx, actor_id, action, subject, detail).await?;
        tx.commit().await
    })
}

async fn append(
    conn: impl Into<Handle<'_>>,
    actor_id: Option<&str>,
    action: AuditAction,
    subject: Option<&str>,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        // Taking the chain's end first takes the write lock (SQLite) or the row's lock (PostgreSQL):
        // the writers line up here, each gets the next id and its predecessor's hash.
        let (id, previous): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *conn)
                .await?;
        let row = Row {
            id,
            at: super::now(),
            actor_id: actor_id.map(str::to_string),
            action: action.as_str().to_string(),
            subject: subject.map(str::to_string),
            detail: detail.map(str::to_string),
        };
        let hash = chain_hash(previous_or_genesis(&previous), &row);
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor_id, action, subject, detail, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.id)
        .bind(row.at)
        .bind(&row.actor_id)
        .bind(&row.action)
        .bind(&row.subject)
        .bind(&row.detail)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}

fn previous_or_genesis(previous: &str) -> &str {
    if previous.is_empty() {
        GENESIS
    } else {
        previous
    }
}

/// One audit row's content, as the chain hashes it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Row {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

/// SHA-256 (hex) of the previous row's hash and this row's content: the hash, a newline, then
/// the content as a JSON array `[id, at, actor_id, action, subject, detail]` (an unambiguous
/// encoding: no two contents give the same text).
pub fn chain_hash(previous: &str, row: &Row) -> String {
    let content = serde_json::json!([
        row.id,
        row.at,
        row.actor_id,
        row.action,
        row.subject,
        row.detail
    ]);
    sha256_hex(&format!("{previous}\n{content}"))
}

/// Gives the rows written before the chain existed their hashes, in order, and the chain's end
/// its hash. Run at every start; does nothing once they are sealed.
pub async fn seal_older_rows(pool: impl Into<Handle<'_>>) -> sqlx::Result<u64> {
    crate::on_db!(pool, |pool| {
        let mut tx = pool.begin().await?;
        // A write first: it takes the write lock (SQLite) or the chain end's row (PostgreSQL),
        // so two servers starting at once seal in turn.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let (unsealed,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE hash IS NULL")
                .fetch_one(&mut *tx)
                .await?;
        if unsealed == 0 {
            // Ended here, not left to the drop: a connection handed back inside a transaction is
            // closed by the pool.
            tx.rollback().await?;
            return Ok(0);
        }
        let rows: Vec<(Row, Option<String>)> = sqlx::query_as::<_, RowWithHash>(
            "SELECT id, at, actor_id, action, subject, detail, hash FROM audit_events ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.row, r.hash))
        .collect();
        let mut previous = GENESIS.to_string();
        for (row, stored) in rows {
            let hash = chain_hash(&previous, &row);
            if stored.is_none() {
                sqlx::query("UPDATE audit_events SET hash = $1 WHERE id = $2")
                    .bind(&hash)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
            }
            previous = stored.unwrap_or(hash);
        }
        sqlx::query(
            "UPDATE audit_head SET hash = $1, seq = (SELECT COALESCE(MAX(id), 0) FROM audit_events) WHERE id = 1",
        )
        .bind(&previous)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(unsealed).unwrap_or(0))
    })
}

#[derive(sqlx::FromRow)]
struct RowWithHash {
    #[sqlx(flatten)]
    row: Row,
    hash: Option<String>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// Rows checked.
    pub rows: u64,
    /// The last row's hash as the chain's end holds it (what to write down to prove it later).
    pub head: String,
    /// The first place where the chain does not hold, if any.
    pub broken: Option<Break>,
}

/// Where and how the chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// This row's content or hash was changed, or a row before it was removed or inserted.
    Row(i64),
    /// The chain's end does not match its last row: rows were removed from the end (or the end
    /// itself was changed). The last row found.
    End { last: i64, head_seq: i64 },
}

/// Walks the whole chain in order, streaming (a million rows hold no more memory than one).
pub async fn verify(pool: impl Into<Handle<'_>>) -> sqlx::Result<ChainState> {
    Ok(verify_since(pool, None).await?.0)
}

/// A point of the chain already found to hold: its last row checked, that row's hash, and how
/// many rows led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub id: i64,
    pub hash: String,
    pub rows: u64,
}

/// Like [`verify`], but from `since` on when given: the rows after it are checked, and the
/// checkpoint's own row must still hold the hash it had (rows before it are taken as checked;
/// a row changed or removed there shows at the next whole walk). Also returns where an intact
/// chain now ends, to continue from next time.
pub async fn verify_since(
    pool: impl Into<Handle<'_>>,
    since: Option<&Checkpoint>,
) -> sqlx::Result<(ChainState, Option<Checkpoint>)> {
    crate::on_db!(pool, |pool| {
        // One snapshot for the rows and the chain's end; ended here, not left to the drop (a
        // connection handed back inside a transaction is closed by the pool).
        let mut tx = pool.begin().await?;
        if super::engine_of(&*tx) == super::Engine::Postgres {
            // PostgreSQL's default gives each statement its own snapshot.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let mut state = walk(&mut *tx, since).await;
        if matches!(
            &state,
            Ok((
                ChainState {
                    broken: Some(_),
                    ..
                },
                _
            ))
        ) && since.is_some()
        {
            // Where a part walk finds a break, the whole walk names the first one.
            state = walk(&mut *tx, None).await;
        }
        tx.rollback().await?;
        state
    })
}

async fn walk(
    conn: impl Into<Handle<'_>>,
    since: Option<&Checkpoint>,
) -> sqlx::Result<(ChainState, Option<Checkpoint>)> {
    crate::on_db!(conn, |conn| {
        let (head_seq, head): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?;
        let mut state = ChainState {
            rows: 0,
            head: head.clone(),
            broken: None,
        };
        let mut previous = GENESIS.to_string();
        let mut last = 0;
        if let Some(point) = since {
            let held: Option<(Option<String>,)> =
                sqlx::query_as("SELECT hash FROM audit_events WHERE id = $1")
                    .bind(point.id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if held.and_then(|(hash,)| hash).as_deref() != Some(point.hash.as_str()) {
                state.broken = Some(Break::Row(point.id));
                return Ok((state, None));
            }
            (state.rows, previous, last) = (point.rows, point.hash.clone(), point.id);
        }
        let mut rows = sqlx::query_as::<_, RowWithHash>(
            "SELECT id, at, actor_id, action, subject, detail, hash FROM audit_events
             WHERE id > $1 ORDER BY id",
        )
        .bind(last)
        .fetch(&mut *conn);
        while let Some(found) = rows.try_next().await? {
            state.rows += 1;
            last = found.row.id;
            let hash = chain_hash(&previous, &found.row);
            if found.hash.as_deref() != Some(hash.as_str()) {
                state.broken = Some(Break::Row(found.row.id));
                return Ok((state, None));
            }
            previous = hash;
        }
        let end_holds = if state.rows == 0 {
            head_seq == 0
        } else {
            last == head_seq && previous == head
        };
        if !end_holds {
            state.broken = Some(Break::End { last, head_seq });
            return Ok((state, None));
        }
        let point = Checkpoint {
            id: last,
            hash: previous,
            rows: state.rows,
        };
        Ok((state, Some(point)))
    })
}

/// Which audit rows the audit page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Done by this staff member.
    pub actor_id: Option<String>,
    /// This action's stored name.
    pub action: Option<String>,
    /// At or after (Unix seconds).
    pub from: Option<i64>,
    /// Before (Unix seconds).
    pub until: Option<i64>,
}

/// One row of the audit page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_username: Option<String>,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

/// The newest rows matching `filter` with an id below `before` (keyset paging: as fast on the
/// last page as on the first), at most `limit`.
pub async fn page(
    pool: impl Into<Handle<'_>>,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Listed>> {
    crate::on_db!(pool, |pool| {
        sqlx::query_as(
            "SELECT a.id, a.at, a.actor_id, s.display_name AS actor_name, s.username AS actor_username,
                    a.action, a.subject, a.detail
             FROM audit_events a LEFT JOIN staff s ON s.id = a.actor_id
             WHERE ($1 IS NULL OR a.actor_id = $1) AND ($2 IS NULL OR a.action = $2)
               AND ($3 IS NULL OR a.at >= $3) AND ($4 IS NULL OR a.at < $4)
               AND ($5 IS NULL OR a.id < $5)
             ORDER BY a.id DESC
             LIMIT $6",
        )
        .bind(&filter.actor_id)
        .bind(&filter.action)
        .bind(filter.from)
        .bind(filter.until)
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *pool)
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_or_order_changes_the_hash() {
        let row = Row {
            id: 7,
            at: 1_764_000_000,
            actor_id: Some("s1".into()),
            action: "visit.schedule".into(),
            subject: Some("v1".into()),
            detail: None,
        };
        let hash = chain_hash(GENESIS, &row);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, chain_hash(GENESIS, &row.clone()));
        let changed = Row {
            action: "visit.schedulf".into(),
            ..row.clone()
        };
        assert_ne!(hash, chain_hash(GENESIS, &changed));
        assert_ne!(hash, chain_hash(&hash, &row));
        // Moving text between fields changes it too.
        let moved = Row {
            subject: None,
            detail: Some("v1".into()),
            ..row.clone()
        };
        assert_ne!(hash, chain_hash(GENESIS, &moved));
    }
}
