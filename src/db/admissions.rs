//! Admissions: the relatives let in from the waiting room, per invite (one relative, one visit).

use super::Handle;

use crate::domain::AdmissionHow;

/// Records that the relative holding `invite_id` is let in; false when they already were (the
/// first admission stands).
pub async fn admit(
    conn: impl Into<Handle<'_>>,
    invite_id: &str,
    how: AdmissionHow,
    by: Option<&str>,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "INSERT INTO admissions (invite_id, visit_id, how, admitted_at, admitted_by)
             SELECT id, visit_id, $2, $3, $4 FROM invites WHERE id = $1
             ON CONFLICT (invite_id) DO NOTHING",
        )
        .bind(invite_id)
        .bind(how.as_str())
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// True when the relative holding this invite has been let in.
pub async fn is_admitted(db: impl Into<Handle<'_>>, invite_id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT admitted_at FROM admissions WHERE invite_id = $1")
                .bind(invite_id)
                .fetch_optional(&mut *db)
                .await?;
        Ok(found.is_some())
    })
}

/// How and by whom an invite was admitted: (how, staff name).
pub async fn of_invite(
    db: impl Into<Handle<'_>>,
    invite_id: &str,
) -> sqlx::Result<Option<(String, Option<String>)>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT a.how, s.display_name FROM admissions a
             LEFT JOIN staff s ON s.id = a.admitted_by WHERE a.invite_id = $1",
        )
        .bind(invite_id)
        .fetch_optional(&mut *db)
        .await
    })
}
