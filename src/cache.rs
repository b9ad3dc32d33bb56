//! In-memory copies of what every staff page reads: the signed-in account and the open rooms.
//!
//! On this kind of machine a query costs two thread switches (sqlx runs SQLite on a thread of
//! its own), and those were most of a rooms page's time. The verbs in [`crate::actions`] that
//! write accounts, rooms or patients clear the matching cache right after their commit
//! ([`Caches::staff_changed`], [`Caches::rooms_changed`]); nothing else writes them. On one
//! SQLite file only this process writes them: `visitas admin create` only adds accounts, which no
//! cache holds yet. On PostgreSQL several nodes write: each node's clears also go to the others
//! through LISTEN/NOTIFY ([`crate::nodes`]), and a node that may have missed some (its listening
//! connection was down) clears everything.
//!
//! A load that overlaps such a clear is used once and not kept (see [`Cached`]), so a page can
//! never keep showing what a committed write changed.

use std::{collections::HashMap, future::Future, hash::Hash, sync::Arc, sync::Mutex};

use crate::{
    db::{
        patients::Patient,
        rooms::RoomView,
        staff::StaffName,
        visits::{Attendance, Visit, VisitInvite},
        wards::WardRules,
    },
    domain::StaffMember,
};

/// At most this many values are kept; past it, lookups go to the database.
const MAX_ENTRIES: usize = 4096;

/// The server's caches.
#[derive(Debug, Default)]
pub struct Caches {
    /// Active accounts by id.
    pub staff: Cached<String, StaffMember>,
    /// Every open room, as [`crate::db::rooms::list_open`] returns them, with its times
    /// already written.
    pub open_rooms: Cached<(), Arc<Vec<OpenRoom>>>,
    /// Every account's name (the visit log's staff filter). An account `visitas admin create`
    /// adds while the server runs joins this list at the next change to an account; the filter
    /// itself asks the database for an id it does not find here.
    pub staff_names: Cached<(), Arc<Vec<StaffName>>>,
    /// The desk's version and the second in which no visit was found over and unsettled: until
    /// either moves, the visit log's pages need not ask again ([`Caches::nothing_to_settle`]).
    pub settled: Mutex<Option<(u64, i64)>>,
    /// Every ward with its hours and exceptions.
    pub ward_rules: Cached<(), Arc<Vec<WardRules>>>,
    /// The wards each staff member is assigned to, by staff id.
    pub ward_access: Cached<String, Arc<Vec<String>>>,
    /// Counts changes the visit desk shows (visits booked, moved, cancelled, people joining and
    /// leaving calls), so that an open desk asks for fresh rows only after one.
    pub desk: DeskVersion,
    /// A day's visits of the wards a staff member reaches (by staff id, `None` for every ward),
    /// with their invites and attendance, while [`Caches::desk`] has not moved.
    pub desk_days: UntilDeskChanges<(Option<String>, chrono::NaiveDate), Arc<DeskDay>>,
    /// A ward's week (by ward id and Monday): its visits and admitted patients, while
    /// [`Caches::desk`] has not moved.
    pub ward_weeks: UntilDeskChanges<(String, chrono::NaiveDate), Arc<WardWeek>>,
    /// The start of each room's current or next visit, by the minute it was read in, while
    /// [`Caches::desk`] has not moved.
    pub next_visits: UntilDeskChanges<i64, Arc<NextVisits>>,
    /// The booked visits that their ward's hours no longer allow, of the wards a staff member
    /// reaches (by staff id, `None` for every ward) and the hour they were read in.
    pub misfits: UntilDeskChanges<(Option<String>, i64), Arc<Vec<Visit>>>,
    /// Where the audit page last found the audit chain intact, and when it last walked it
    /// whole: the next load checks only the rows after it (see [`crate::db::audit::verify_since`]).
    pub audit_chain: tokio::sync::Mutex<Option<AuditChecked>>,
}

/// The audit chain as last found intact.
#[derive(Debug, Clone)]
pub struct AuditChecked {
    /// When the whole chain was last walked.
    pub whole_at: std::time::Instant,
    /// Its end then, or at a later part walk.
    pub point: crate::db::audit::Checkpoint,
}

/// Room id → the start of its current or next visit, written in each language's format.
pub type NextVisits = HashMap<String, Written>;

/// A time written once per language's date format (in [`crate::i18n::Lang::ALL`]'s order), so
/// that a list page writes none: on the rooms list, formatting two times per row was a third of
/// the page's cost.
#[derive(Debug, Clone, Default)]
pub struct Written(pub [String; 2]);

impl Written {
    /// `unix_secs` in the hospital's `zone`, in every language's format.
    pub fn of(unix_secs: i64, zone: crate::domain::HospitalZone) -> Self {
        let local = zone.local_at(unix_secs).unwrap_or_default();
        Written(crate::i18n::Lang::ALL.map(|lang| lang.text().date_format.write(&local)))
    }

    /// The form of `lang`.
    pub fn get(&self, lang: crate::i18n::Lang) -> &str {
        let i = crate::i18n::Lang::ALL
            .iter()
            .position(|l| *l == lang)
            .unwrap_or(0);
        &self.0[i]
    }
}

/// An open room for the rooms list, its creation time already written.
#[derive(Debug, Clone)]
pub struct OpenRoom {
    pub room: RoomView,
    pub created: Written,
}

/// What the desk reads from the database for one day.
#[derive(Debug, Default)]
pub struct DeskDay {
    pub visits: Vec<Visit>,
    pub invites: Vec<VisitInvite>,
    pub attendance: Vec<Attendance>,
}

/// What the week view reads from the database for one ward and week.
#[derive(Debug, Default)]
pub struct WardWeek {
    pub visits: Vec<Visit>,
    pub patients: Vec<Patient>,
}

/// Values that stay right as long as the desk's counter has not moved. Every write that changes
/// visits, invites, patients, wards or who is in a call bumps the counter after its commit, so a
/// value read while the counter showed `n` is right until it shows more.
#[derive(Debug)]
pub struct UntilDeskChanges<K, V> {
    state: Mutex<(u64, HashMap<K, V>)>,
    /// One load at a time: when a change makes every open desk ask at once, one reads the
    /// database and the others take what it read.
    loading: tokio::sync::Mutex<()>,
}

impl<K, V> Default for UntilDeskChanges<K, V> {
    fn default() -> Self {
        Self {
            state: Mutex::new((u64::MAX, HashMap::new())),
            loading: tokio::sync::Mutex::new(()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> UntilDeskChanges<K, V> {
    /// The kept value for `key`, or what `load` gives (kept when the counter did not move while
    /// it loaded).
    pub async fn get_or_load<F, Fut, E>(
        &self,
        counter: &DeskVersion,
        key: K,
        load: F,
    ) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.kept(counter.get(), &key) {
            return Ok(value);
        }
        let _loading = self.loading.lock().await;
        let version = counter.get();
        if let Some(value) = self.kept(version, &key) {
            return Ok(value);
        }
        let value = load().await?;
        let mut state = self.lock();
        if counter.get() == version {
            if state.0 != version {
                state.0 = version;
                state.1.clear();
            }
            if state.1.len() < MAX_ENTRIES {
                state.1.insert(key, value.clone());
            }
        }
        Ok(value)
    }

    fn kept(&self, version: u64, key: &K) -> Option<V> {
        let state = self.lock();
        if state.0 == version {
            state.1.get(key).cloned()
        } else {
            None
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<K, V>)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What changed, as one node tells the others ([`crate::nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An account ([`Caches::staff_changed`]).
    Staff,
    /// Rooms or patients ([`Caches::rooms_changed`]).
    Rooms,
    /// Wards, their hours or who works in them ([`Caches::wards_changed`]).
    Wards,
    /// Something the desk shows ([`DeskVersion::bump`]).
    Desk,
    /// Unknown: another node's changes may have been missed (its messages were lost while the
    /// connection that carries them was down). Everything is read afresh.
    Everything,
}

impl Change {
    /// Its name in a message between nodes.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Staff => "staff",
            Change::Rooms => "rooms",
            Change::Wards => "wards",
            Change::Desk => "desk",
            Change::Everything => "everything",
        }
    }

    /// The change a message names.
    pub fn parse(name: &str) -> Option<Change> {
        [
            Change::Staff,
            Change::Rooms,
            Change::Wards,
            Change::Desk,
            Change::Everything,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// A counter of the changes the visit desk shows.
#[derive(Debug, Default)]
pub struct DeskVersion {
    count: std::sync::atomic::AtomicU64,
    /// Wakes the desks waiting for the count to move (`/desk/version?after=`).
    moved: tokio::sync::Notify,
    /// Where this node's changes go to the other nodes (PostgreSQL only; see [`crate::nodes`]).
    others: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Change>>,
}

impl DeskVersion {
    /// Call after anything the desk shows changed.
    pub fn bump(&self) {
        self.bump_here();
        self.tell_others(Change::Desk);
    }

    /// The same, for a change another node made.
    fn bump_here(&self) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.moved.notify_waiters();
    }

    fn tell_others(&self, change: Change) {
        if let Some(others) = self.others.get() {
            // Closed only when the node is stopping.
            let _ = others.send(change);
        }
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The count once it differs from `seen`, or the current one after `patience`.
    pub async fn after(&self, seen: u64, patience: std::time::Duration) -> u64 {
        let wait = async {
            loop {
                let moved = self.moved.notified();
                tokio::pin!(moved);
                // Registered before looking, so a bump between the look and the wait wakes it.
                moved.as_mut().enable();
                if self.get() != seen {
                    return;
                }
                moved.await;
            }
        };
        let _ = tokio::time::timeout(patience, wait).await;
        self.get()
    }
}

impl Caches {
    /// Call after committing a change to an account.
    pub fn staff_changed(&self) {
        self.apply(Change::Staff);
        self.desk.tell_others(Change::Staff);
    }

    /// Call after committing a change to rooms or patients.
    pub fn rooms_changed(&self) {
        self.apply(Change::Rooms);
        self.desk.tell_others(Change::Rooms);
    }

    /// Call after committing a change to wards, their hours or who works in them.
    pub fn wards_changed(&self) {
        self.apply(Change::Wards);
        self.desk.tell_others(Change::Wards);
    }

    /// Forgets what `change` makes stale, here only: for changes another node made.
    pub fn apply(&self, change: Change) {
        match change {
            Change::Staff => {
                self.staff.clear();
                self.staff_names.clear();
            }
            Change::Rooms => {
                self.open_rooms.clear();
                self.desk.bump_here();
            }
            Change::Wards => {
                self.ward_rules.clear();
                self.ward_access.clear();
                self.open_rooms.clear();
                self.desk.bump_here();
            }
            Change::Desk => self.desk.bump_here(),
            Change::Everything => {
                self.staff.clear();
                self.staff_names.clear();
                self.ward_rules.clear();
                self.ward_access.clear();
                self.open_rooms.clear();
                self.desk.bump_here();
            }
        }
    }

    /// True when a look in this second, at this desk version, found nothing to settle: a visit
    /// comes due only as seconds pass or as the desk moves (a visit ended, a relative left).
    pub fn nothing_to_settle(&self, now: i64) -> bool {
        *self
            .settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == Some((self.desk.get(), now))
    }

    /// Notes that nothing was due at `now`, at the desk version read before looking.
    pub fn settled_at(&self, version: u64, now: i64) {
        *self
            .settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((version, now));
    }

    /// From now on, every change this node makes is also sent to `others` (once, at start, on
    /// PostgreSQL).
    pub fn tell_others_through(&self, others: tokio::sync::mpsc::UnboundedSender<Change>) {
        let _ = self.desk.others.set(others);
    }
}

/// A read-through map that a writer clears. Every clear starts a new generation; a value loaded
/// during an earlier generation is returned to its caller but not kept, because the write that
/// cleared the map may have landed after the value was read.
#[derive(Debug)]
pub struct Cached<K, V> {
    state: Mutex<State<K, V>>,
}

#[derive(Debug)]
struct State<K, V> {
    generation: u64,
    entries: HashMap<K, V>,
}

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Cached<K, V> {
    /// The kept value for `key`, or what `load` gives. `load` returns `None` for a value that
    /// must not be kept (an inactive account), and the caller gets `None` too.
    pub async fn get_or_load<F, Fut, E>(&self, key: &K, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let generation = {
            let state = self.lock();
            if let Some(value) = state.entries.get(key) {
                return Ok(Some(value.clone()));
            }
            state.generation
        };
        let value = load().await?;
        if let Some(value) = &value {
            let mut state = self.lock();
            if state.generation == generation && state.entries.len() < MAX_ENTRIES {
                state.entries.insert(key.clone(), value.clone());
            }
        }
        Ok(value)
    }

    /// Forgets every value and starts a new generation.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        // Each critical section is a lookup, an insert or a clear: a panic cannot leave the
        // map half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    #[tokio::test]
    async fn a_value_is_loaded_once_then_kept_until_cleared() {
        let cache: Cached<&str, u32> = Cached::default();
        let mut loads = 0;
        for _ in 0..3 {
            let value = cache
                .get_or_load(&"a", || {
                    loads += 1;
                    async { Ok::<_, Infallible>(Some(7)) }
                })
                .await;
            assert_eq!(value, Ok(Some(7)));
        }
        assert_eq!(loads, 1);
        cache.clear();
        let value = cache
            .get_or_load(&"a", || async { Ok::<_, Infallible>(Some(8)) })
            .await;
        assert_eq!(value, Ok(Some(8)), "a clear makes the next read load again");
    }

    #[tokio::test]
    async fn a_load_overlapping_a_clear_is_used_once_and_not_kept() {
        let cache: Cached<&str, u32> = Cached::default();
        // The write lands (and clears) while the load is still reading the old value.
        let stale = cache
            .get_or_load(&"a", || {
                cache.clear();
                async { Ok::<_, Infallible>(Some(1)) }
            })
            .await;
        assert_eq!(stale, Ok(Some(1)));
        let fresh = cache
            .get_or_load(&"a", || async { Ok::<_, Infallible>(Some(2)) })
            .await;
        assert_eq!(fresh, Ok(Some(2)), "the stale value was not kept");
    }

    #[tokio::test]
    async fn values_that_must_not_be_kept_are_loaded_every_time() {
        let cache: Cached<&str, u32> = Cached::default();
        let mut loads = 0;
        for _ in 0..2 {
            let value = cache
                .get_or_load(&"gone", || {
                    loads += 1;
                    async { Ok::<_, Infallible>(None) }
                })
                .await;
            assert_eq!(value, Ok(None));
        }
        assert_eq!(loads, 2);
    }
}
