//! The link between the nodes' Socket.IO servers: socketioxide-postgres's adapter, over a driver
//! of our own so that one adapter type serves both engines. On one SQLite file there is no other
//! node and the link says nothing ([`Link::Alone`]); on PostgreSQL it is LISTEN/NOTIFY on the
//! database the nodes share, with the messages too long for one NOTIFY kept a minute in
//! `signal_attachments`.
//!
//! Unlike the adapter's stock sqlx driver, the listening connection is reopened for as long as the
//! server runs (the stock stream ends at the first failed reconnection, and with it every message
//! from the other nodes).

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::Stream;
use socketioxide_postgres::{
    CustomPostgresAdapter, PostgresAdapterConfig, PostgresAdapterCtr,
    drivers::{Driver, Notification},
};
use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::mpsc, task::AbortHandle};

/// The adapter every socket of this server goes through.
pub type Adapter = CustomPostgresAdapter<socketioxide::adapter::Emitter, Link>;

/// Where the other nodes are, if anywhere.
#[derive(Debug, Clone)]
pub enum Link {
    /// One node alone (SQLite): nothing to tell anyone.
    Alone,
    /// The nodes sharing this PostgreSQL database, and the task listening to them.
    Postgres(PgPool, Listening),
}

/// The tasks listening to the other nodes, stopped with the server.
#[derive(Debug, Clone, Default)]
pub struct Listening(Arc<Mutex<Vec<AbortHandle>>>);

impl Link {
    /// The link of a node on this PostgreSQL database.
    pub fn postgres(pool: PgPool) -> Link {
        Link::Postgres(pool, Listening::default())
    }

    /// Stops listening to the other nodes (the server stops).
    pub fn stop(&self) {
        if let Link::Postgres(_, listening) = self {
            let tasks = std::mem::take(
                &mut *listening
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for task in tasks {
                task.abort();
            }
        }
    }
}

/// The adapter's settings: the nodes' liveness is counted like the `nodes` table's.
pub fn adapter(link: Link, liveness: super::Liveness) -> PostgresAdapterCtr<Link> {
    let config = PostgresAdapterConfig::new()
        .with_hb_interval(liveness.heartbeat)
        .with_hb_timeout(liveness.timeout)
        .with_request_timeout(Duration::from_secs(2))
        .with_table_name("signal_attachments")
        .with_prefix("visitas-signal");
    PostgresAdapterCtr::new_with_driver(link, config)
}

/// A notification heard on one of the adapter's channels.
#[derive(Debug)]
pub struct Heard {
    channel: String,
    payload: String,
}

impl Notification for Heard {
    fn channel(&self) -> &str {
        &self.channel
    }

    fn payload(&self) -> &str {
        &self.payload
    }
}

/// The notifications, for as long as the server runs.
pub type Notifications = Pin<Box<dyn Stream<Item = Heard> + Send>>;

impl Driver for Link {
    type Error = sqlx::Error;
    type Notification = Heard;
    type NotificationStream = Notifications;

    /// The attachments' table comes with the migrations.
    async fn init(&self, _table: &str) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn listen(&self, channels: &[&str]) -> Result<Self::NotificationStream, Self::Error> {
        let Link::Postgres(pool, listening) = self else {
            return Ok(Box::pin(futures_util::stream::pending()));
        };
        let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        let (sender, receiver) = mpsc::unbounded_channel();
        // The first connection is made here, so that a node that cannot listen fails to start.
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all(channels.iter().map(String::as_str))
            .await?;
        let task = tokio::spawn(keep_listening(pool.clone(), listener, channels, sender));
        listening
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task.abort_handle());
        Ok(Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|heard| (heard, receiver)) },
        )))
    }

    async fn notify(&self, channel: &str, message: &str) -> Result<(), Self::Error> {
        let Link::Postgres(pool, _) = self else {
            return Ok(());
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(message)
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn push_attachment(&self, _table: &str, attachment: &[u8]) -> Result<i64, Self::Error> {
        let Link::Postgres(pool, _) = self else {
            return Err(sqlx::Error::RowNotFound);
        };
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO signal_attachments (created_at, payload) VALUES ($1, $2) RETURNING id",
        )
        .bind(crate::db::now())
        .bind(attachment)
        .fetch_one(pool)
        .await?;
        Ok(id)
    }

    async fn get_attachment(&self, _table: &str, id: i64) -> Result<Vec<u8>, Self::Error> {
        let Link::Postgres(pool, _) = self else {
            return Err(sqlx::Error::RowNotFound);
        };
        let (payload,): (Vec<u8>,) =
            sqlx::query_as("SELECT payload FROM signal_attachments WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?;
        Ok(payload)
    }

    async fn cleanup_attachments(
        &self,
        _table: &str,
        interval: Duration,
    ) -> Result<(), Self::Error> {
        let Link::Postgres(pool, _) = self else {
            return Ok(());
        };
        let before = crate::db::now() - interval.as_secs().max(60) as i64;
        sqlx::query("DELETE FROM signal_attachments WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// The listener stays for the server's life: one namespace, opened once.
    async fn close(&self, _channels: &[&str]) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Passes on what the listener hears, reopening it whenever its connection is lost (what was said
/// meanwhile is lost: the nodes' published state, read again on reconnection, covers it).
async fn keep_listening(
    pool: PgPool,
    mut listener: PgListener,
    channels: Vec<String>,
    sender: mpsc::UnboundedSender<Heard>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let heard = Heard {
                    channel: notification.channel().to_string(),
                    payload: notification.payload().to_string(),
                };
                if sender.send(heard).is_err() {
                    return;
                }
            }
            // Lost; `try_recv` reconnects on its next call.
            Ok(None) => tracing::warn!("the signaling link to the other nodes was lost"),
            Err(err) => {
                tracing::warn!(error = %err, "the signaling link to the other nodes failed; reopening");
                tokio::time::sleep(Duration::from_millis(500)).await;
                listener = loop {
                    if sender.is_closed() {
                        return;
                    }
                    let reopened = async {
                        let mut listener = PgListener::connect_with(&pool).await?;
                        listener
                            .listen_all(channels.iter().map(String::as_str))
                            .await?;
                        Ok::<_, sqlx::Error>(listener)
                    };
                    match reopened.await {
                        Ok(listener) => break listener,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot reopen the signaling link; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                };
            }
        }
    }
}
