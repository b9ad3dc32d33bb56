//! Which wards a staff member may see and schedule for: administrators every ward, nurses the
//! wards they are assigned to. Every page that shows or changes a ward's patients, relatives or
//! visits asks here on the server.

use std::sync::Arc;

use crate::{cache::Caches, db, domain::StaffMember};

/// The wards a staff member reaches.
#[derive(Debug, Clone)]
pub enum WardAccess {
    /// Every ward (administrators).
    All,
    /// These wards' ids.
    Only(Arc<Vec<String>>),
}

impl WardAccess {
    /// What `staff` reaches, from the cache or the database.
    pub async fn of(
        staff: &StaffMember,
        db: &crate::db::Pool,
        caches: &Caches,
    ) -> sqlx::Result<WardAccess> {
        if staff.is_admin() {
            return Ok(WardAccess::All);
        }
        let wards = caches
            .ward_access
            .get_or_load(&staff.id, || async {
                Ok::<_, sqlx::Error>(Some(Arc::new(db::wards::assigned_to(db, &staff.id).await?)))
            })
            .await?
            .unwrap_or_default();
        Ok(WardAccess::Only(wards))
    }

    /// True when the ward is reachable.
    pub fn allows(&self, ward_id: &str) -> bool {
        match self {
            WardAccess::All => true,
            WardAccess::Only(wards) => wards.iter().any(|w| w == ward_id),
        }
    }

    /// The filter the queries take: `None` for every ward, else the staff member whose
    /// assignments count.
    pub fn scope<'a>(&self, staff: &'a StaffMember) -> Option<&'a str> {
        match self {
            WardAccess::All => None,
            WardAccess::Only(_) => Some(&staff.id),
        }
    }
}
