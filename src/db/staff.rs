//! Staff accounts.

use sqlx::FromRow;

use super::Handle;

use crate::domain::{PersonName, RandomId, Role, Username};

/// One staff account as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Staff {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub created_at: i64,
    pub must_change_password: bool,
    pub password_changed_at: i64,
}

impl Staff {
    /// The account's role.
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
}

/// A new account to store; the password is already hashed.
pub struct NewStaff<'a> {
    pub username: &'a Username,
    pub display_name: &'a PersonName,
    pub role: Role,
    pub password_hash: &'a str,
}

/// Stores a new account and returns its id. A taken username is a unique violation.
pub async fn create(conn: impl Into<Handle<'_>>, new: &NewStaff<'_>) -> sqlx::Result<String> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        sqlx::query(
            "INSERT INTO staff (id, username, display_name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(new.username.as_str())
        .bind(new.display_name.as_str())
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(super::now())
        .execute(&mut *conn)
        .await?;
        Ok(id.to_string())
    })
}

/// The account with this (normalised) username.
pub async fn find_by_username(
    db: impl Into<Handle<'_>>,
    username: &str,
) -> sqlx::Result<Option<Staff>> {
    crate::on_db!(db, |db| {
        sqlx::query_as("SELECT * FROM staff WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *db)
            .await
    })
}

/// The account with this id.
pub async fn find_by_id(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Staff>> {
    crate::on_db!(db, |db| {
        sqlx::query_as("SELECT * FROM staff WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// Every account, administrators first, then by name.
pub async fn list(db: impl Into<Handle<'_>>) -> sqlx::Result<Vec<Staff>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT * FROM staff ORDER BY role = 'admin' DESC, active DESC, display_name",
        )
        .fetch_all(&mut *db)
        .await
    })
}

/// An account as a list of names shows it (the visit log's staff filter).
#[derive(Debug, Clone, FromRow)]
pub struct StaffName {
    pub id: String,
    pub username: String,
    pub display_name: String,
}

/// Every account's name, in [`list`]'s order.
pub async fn list_names(db: impl Into<Handle<'_>>) -> sqlx::Result<Vec<StaffName>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT id, username, display_name FROM staff
             ORDER BY role = 'admin' DESC, active DESC, display_name",
        )
        .fetch_all(&mut *db)
        .await
    })
}

/// Deactivates an account; returns false when it does not exist. Sessions check `active` on every
/// request, so this ends them at once.
pub async fn deactivate(conn: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE staff SET active = FALSE, deactivated_at = COALESCE(deactivated_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(super::now())
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// True when at least one active administrator exists.
pub async fn active_admin_exists(db: impl Into<Handle<'_>>) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM staff WHERE role = 'admin' AND active = TRUE")
                .fetch_one(&mut *db)
                .await?;
        Ok(count > 0)
    })
}

/// Active administrators, counted.
pub async fn active_admins(db: impl Into<Handle<'_>>) -> sqlx::Result<i64> {
    crate::on_db!(db, |db| {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM staff WHERE role = 'admin' AND active = TRUE")
                .fetch_one(&mut *db)
                .await?;
        Ok(count)
    })
}

/// Changes an account's name and role; false when it does not exist.
pub async fn update(
    conn: impl Into<Handle<'_>>,
    id: &str,
    display_name: &PersonName,
    role: Role,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query("UPDATE staff SET display_name = $2, role = $3 WHERE id = $1")
            .bind(id)
            .bind(display_name.as_str())
            .bind(role.as_str())
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Makes a deactivated account active again; false when it does not exist or is active.
pub async fn reactivate(conn: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE staff SET active = TRUE, deactivated_at = NULL WHERE id = $1 AND active = FALSE",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Stores a new password hash; `temporary` when an administrator set it (to be changed at the
/// next login). The sessions signed in before now stop counting.
pub async fn set_password(
    conn: impl Into<Handle<'_>>,
    id: &str,
    password_hash: &str,
    temporary: bool,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE staff SET password_hash = $2, must_change_password = $3, password_changed_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(temporary)
        .bind(super::now())
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}
