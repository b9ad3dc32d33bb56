//! What the nodes of one PostgreSQL database tell each other: which of their caches a change made
//! stale (and so that every desk sees every node's changes), over PostgreSQL's LISTEN/NOTIFY on
//! the channel `visitas_changes`. No extra service: the database the nodes share anyway.
//!
//! A message is `NODE CHANGE` (this node's random id, then a [`Change`]'s name), or a message
//! for the signaling (`NODE calls`: that node's registry changed; `NODE do {..}`: a removal or
//! admission for every node to apply to its own sockets). A node ignores its own messages (it
//! applied the change before sending). NOTIFY is not durable: a message sent
//! while a node's listening connection is down is lost to that node, so when its listener
//! reconnects the node clears every cache ([`Change::Everything`]). A change reaches the other
//! nodes a few milliseconds after its commit.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    cache::{Caches, Change},
    signaling::Signaling,
};

/// The channel the nodes talk on.
pub const CHANNEL: &str = "visitas_changes";

/// How often a node notes in the `nodes` table that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A node not seen for this long is gone.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts telling the other nodes of this node's changes and applying theirs, and noting that
/// this node is alive: tasks that run as long as the server (stopped with it).
pub fn connect(
    pool: PgPool,
    caches: Arc<Caches>,
    signaling: Signaling,
    node: String,
) -> Vec<JoinHandle<()>> {
    let (sender, receiver) = mpsc::unbounded_channel();
    caches.tell_others_through(sender);
    let changes = tokio::spawn(send(pool.clone(), receiver, node.clone(), |c: &Change| {
        c.as_str()
    }));
    let (sender, receiver) = mpsc::unbounded_channel();
    signaling.join_nodes(sender);
    vec![
        changes,
        tokio::spawn(send(pool.clone(), receiver, node.clone(), String::as_str)),
        tokio::spawn(heartbeat(pool.clone(), signaling.clone(), node.clone())),
        tokio::spawn(listen(pool, caches, signaling, node)),
    ]
}

/// Notes this node alive, and hands the signaling the nodes alive with their registries (the
/// others' participants leave when their node is gone).
async fn heartbeat(pool: PgPool, signaling: Signaling, node: String) {
    let db = crate::db::Pool::Postgres(pool);
    let started = crate::db::now();
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for beat in 0u64.. {
        ticks.tick().await;
        if let Err(err) = crate::db::nodes::beat(&db, &node, started).await {
            tracing::warn!(error = %err, "could not note that this node is alive");
        }
        let since = crate::db::now() - NODE_TIMEOUT.as_secs() as i64;
        match crate::db::nodes::alive(&db, since).await {
            Ok(alive) => signaling.nodes_alive(alive).await,
            Err(err) => tracing::warn!(error = %err, "could not read which nodes are alive"),
        }
        // Once an hour, the rows of nodes gone for a day.
        if beat % 1800 == 0 {
            let _ = crate::db::nodes::forget_unseen(&db, crate::db::now() - 86_400).await;
        }
    }
}

async fn send<T>(
    pool: PgPool,
    mut changes: mpsc::UnboundedReceiver<T>,
    node: String,
    said: fn(&T) -> &str,
) {
    while let Some(change) = changes.recv().await {
        let message = format!("{node} {}", said(&change));
        // A failed send is retried a few times: a desk elsewhere would otherwise wait for the
        // next change to show this one.
        for attempt in 0..5 {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&message)
                .execute(&pool)
                .await;
            match sent {
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "could not tell the other nodes of a change");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

async fn listen(pool: PgPool, caches: Arc<Caches>, signaling: Signaling, node: String) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen to the other nodes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "cannot listen to the other nodes; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Whatever was said while nobody listened is lost.
        caches.apply(Change::Everything);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match from_other_node(notification.payload(), &node) {
                    Some(Heard::Change(change)) => caches.apply(change),
                    Some(Heard::Signaling { from, message }) => {
                        signaling.heard(from, message).await;
                    }
                    None => {}
                },
                // The connection was lost; `try_recv` reconnects on its next call.
                Ok(None) => {
                    tracing::warn!("the connection listening to the other nodes was lost");
                    caches.apply(Change::Everything);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "listening to the other nodes failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// What another node said.
#[derive(Debug, PartialEq, Eq)]
enum Heard<'a> {
    Change(Change),
    Signaling { from: &'a str, message: &'a str },
}

/// What a message says, unless this node sent it.
fn from_other_node<'a>(message: &'a str, node: &str) -> Option<Heard<'a>> {
    let (sender, said) = message.split_once(' ')?;
    if sender == node {
        return None;
    }
    if said == "calls" || said.starts_with("do ") {
        return Some(Heard::Signaling {
            from: sender,
            message: said,
        });
    }
    Change::parse(said).map(Heard::Change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_applies_the_others_changes_and_skips_its_own() {
        assert_eq!(
            from_other_node("b rooms", "a"),
            Some(Heard::Change(Change::Rooms))
        );
        assert_eq!(
            from_other_node("b calls", "a"),
            Some(Heard::Signaling {
                from: "b",
                message: "calls"
            })
        );
        assert_eq!(from_other_node("a do {}", "a"), None);
        assert_eq!(from_other_node("a rooms", "a"), None);
        assert_eq!(from_other_node("b nonsense", "a"), None);
        assert_eq!(from_other_node("garbage", "a"), None);
    }
}
