//! Bedside devices: tablets paired to a patient's bed, each holding a long-lived credential
//! (stored as its SHA-256) and, while it waits to be paired, a short pairing code (stored as an
//! HMAC under the server's key).

use sqlx::FromRow;

use super::Handle;

/// A bedside device and, when paired, its patient.
#[derive(Debug, Clone, FromRow)]
pub struct Device {
    pub id: String,
    pub patient_id: Option<String>,
    pub paired_at: Option<i64>,
    pub unpaired_at: Option<i64>,
    pub pairing_expires_at: Option<i64>,
    pub last_seen_at: i64,
}

impl Device {
    /// The patient whose bed this device serves, while paired.
    pub fn paired_patient(&self) -> Option<&str> {
        match (self.paired_at, self.unpaired_at) {
            (Some(_), None) => self.patient_id.as_deref(),
            _ => None,
        }
    }
}

/// A patient's paired device as the patient page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct PairedDevice {
    pub id: String,
    pub paired_at: i64,
    pub paired_by_name: String,
    pub last_seen_at: i64,
}

macro_rules! select_device {
    ($clauses:literal) => {
        concat!(
            "SELECT id, patient_id, paired_at, unpaired_at, pairing_expires_at, last_seen_at
             FROM bedside_devices ",
            $clauses
        )
    };
}

/// Stores a new, unpaired device.
pub async fn create(
    db: impl Into<Handle<'_>>,
    id: &str,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query(
            "INSERT INTO bedside_devices (id, token_hash, created_at, last_seen_at)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(id)
        .bind(token_hash)
        .bind(now)
        .execute(&mut *db)
        .await?;
        Ok(())
    })
}

/// The device holding this credential.
pub async fn by_token(db: impl Into<Handle<'_>>, token_hash: &str) -> sqlx::Result<Option<Device>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_device!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&mut *db)
            .await
    })
}

/// The device with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Device>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_device!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// Gives an unpaired device a pairing code until `expires_at`, asked from `client`. Codes of
/// other devices that have expired are cleared first, so that they can be drawn again; false when
/// the code is in use (the caller draws another).
pub async fn set_pairing_code(
    conn: impl Into<Handle<'_>>,
    id: &str,
    code_hash: &str,
    client: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        sqlx::query(
            "UPDATE bedside_devices SET pairing_code_hash = NULL, pairing_expires_at = NULL,
                    pairing_client = NULL
             WHERE pairing_expires_at <= $1",
        )
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let done = sqlx::query(
            "UPDATE bedside_devices
             SET pairing_code_hash = $2, pairing_expires_at = $3, pairing_client = $4
             WHERE id = $1 AND (paired_at IS NULL OR unpaired_at IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM bedside_devices WHERE pairing_code_hash = $2)",
        )
        .bind(id)
        .bind(code_hash)
        .bind(expires_at)
        .bind(client)
        .execute(&mut *conn)
        .await;
        match done {
            Ok(done) => Ok(done.rows_affected() == 1),
            // Drawn by another request at the same moment: draw again.
            Err(err) if super::is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err),
        }
    })
}

/// Pending pairing codes: of every tablet, and of those asked from `client` (but `except`).
pub async fn pending_codes(
    db: impl Into<Handle<'_>>,
    client: &str,
    except: Option<&str>,
    now: i64,
) -> sqlx::Result<(i64, i64)> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN pairing_client = $1 THEN 1 ELSE 0 END), 0)
             FROM bedside_devices
             WHERE pairing_expires_at > $2 AND id <> COALESCE($3, '')",
        )
        .bind(client)
        .bind(now)
        .bind(except)
        .fetch_one(&mut *db)
        .await
    })
}

/// Pairs the device waiting with this code (unexpired) to a patient, using the code up. The
/// device's id, or `None` when no device waits with that code.
pub async fn pair_by_code(
    conn: impl Into<Handle<'_>>,
    code_hash: &str,
    patient_id: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<Option<String>> {
    crate::on_db!(conn, |conn| {
        sqlx::query_scalar(
            "UPDATE bedside_devices
             SET patient_id = $2, paired_at = $4, paired_by = $3, unpaired_at = NULL,
                 unpaired_by = NULL, unpair_reason = NULL, pairing_code_hash = NULL,
                 pairing_expires_at = NULL, pairing_client = NULL, last_seen_at = $4
             WHERE pairing_code_hash = $1 AND pairing_expires_at > $4
             RETURNING id",
        )
        .bind(code_hash)
        .bind(patient_id)
        .bind(by)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// Unpairs every paired device of a patient but `keep`; their ids.
pub async fn unpair_patient(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    keep: Option<&str>,
    by: Option<&str>,
    reason: &str,
    now: i64,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        sqlx::query_scalar(
            "UPDATE bedside_devices SET unpaired_at = $4, unpaired_by = $3, unpair_reason = $5
             WHERE patient_id = $1 AND paired_at IS NOT NULL AND unpaired_at IS NULL
               AND id <> COALESCE($2, '')
             RETURNING id",
        )
        .bind(patient_id)
        .bind(keep)
        .bind(by)
        .bind(now)
        .bind(reason)
        .fetch_all(&mut *conn)
        .await
    })
}

/// Unpairs one device of a patient; false when it was not paired to them.
pub async fn unpair(
    conn: impl Into<Handle<'_>>,
    id: &str,
    patient_id: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE bedside_devices SET unpaired_at = $4, unpaired_by = $3, unpair_reason = 'nurse'
             WHERE id = $1 AND patient_id = $2 AND paired_at IS NOT NULL AND unpaired_at IS NULL",
        )
        .bind(id)
        .bind(patient_id)
        .bind(by)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Paired devices not seen since `before`.
pub async fn unseen_since(db: impl Into<Handle<'_>>, before: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, |db| {
        sqlx::query_scalar(
            "SELECT id FROM bedside_devices
             WHERE paired_at IS NOT NULL AND unpaired_at IS NULL AND last_seen_at < $1",
        )
        .bind(before)
        .fetch_all(&mut *db)
        .await
    })
}

/// Unpairs one device if it is still paired and still unseen since `before`.
pub async fn unpair_if_unseen(
    conn: impl Into<Handle<'_>>,
    id: &str,
    before: i64,
    now: i64,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE bedside_devices SET unpaired_at = $3, unpair_reason = 'unseen'
             WHERE id = $1 AND paired_at IS NOT NULL AND unpaired_at IS NULL AND last_seen_at < $2",
        )
        .bind(id)
        .bind(before)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Notes that a device was seen (at most once a minute is written).
pub async fn touch(db: impl Into<Handle<'_>>, id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query(
            "UPDATE bedside_devices SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2 - 60",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *db)
        .await?;
        Ok(())
    })
}

/// A patient's paired devices.
pub async fn paired_to(
    db: impl Into<Handle<'_>>,
    patient_id: &str,
) -> sqlx::Result<Vec<PairedDevice>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT d.id, d.paired_at, s.display_name AS paired_by_name, d.last_seen_at
             FROM bedside_devices d JOIN staff s ON s.id = d.paired_by
             WHERE d.patient_id = $1 AND d.paired_at IS NOT NULL AND d.unpaired_at IS NULL
             ORDER BY d.paired_at",
        )
        .bind(patient_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Removes devices never paired whose last code expired long ago (abandoned pairing screens).
pub async fn prune_unpaired(db: impl Into<Handle<'_>>, before: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, |db| {
        let done = sqlx::query(
            "DELETE FROM bedside_devices WHERE paired_at IS NULL AND last_seen_at < $1",
        )
        .bind(before)
        .execute(&mut *db)
        .await?;
        Ok(done.rows_affected())
    })
}

/// Notes a wrong pairing code typed by a nurse.
pub async fn note_failure(db: impl Into<Handle<'_>>, staff_id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("INSERT INTO pairing_failures (staff_id, at) VALUES ($1, $2)")
            .bind(staff_id)
            .bind(now)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}

/// Wrong pairing codes a nurse typed since `since`.
pub async fn failures_since(
    db: impl Into<Handle<'_>>,
    staff_id: &str,
    since: i64,
) -> sqlx::Result<i64> {
    crate::on_db!(db, |db| {
        sqlx::query_scalar("SELECT COUNT(*) FROM pairing_failures WHERE staff_id = $1 AND at > $2")
            .bind(staff_id)
            .bind(since)
            .fetch_one(&mut *db)
            .await
    })
}
